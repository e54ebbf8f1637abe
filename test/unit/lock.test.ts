import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, readRunnerLock } from '../../src/protocol/lock';
import { HOST, ownProcessStartTime } from '../../src/protocol/processInfo';

const LOCK_MODULE = path.resolve(__dirname, '../../src/protocol/lock.ts');
/** These look into /proc (a process's state, what an fd is). */
const onLinux = process.platform === 'linux' ? it : it.skip;

/** The state letter of /proc/<pid>/stat: R, S, T (stopped), Z... */
function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2];
  } catch {
    return undefined;
  }
}

/** Block this process (a sync hook cannot await) until `check` holds, with a deadline. */
function blockUntil(what: string, check: () => boolean, timeoutMs = 30_000): void {
  const deadline = Date.now() + timeoutMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    Atomics.wait(nap, 0, 0, 10);
  }
}

/**
 * Another claimant, in its own process: it runs acquireLock and stops itself (SIGSTOP) at the first
 * change it is about to make to the lock file while it holds a takeover mutex, then goes on when
 * continued (once); it prints whether it acquired the lock, and leaves the lock in place.
 */
const CLAIMANT = `
const fs = require('node:fs');
const path = require('node:path');
const [lockFile, lockModule] = process.argv.slice(2);
let holding = false;
let stopped = false;
const stopAt = (target) => {
  if (holding && !stopped && String(target) === lockFile) (stopped = true), process.kill(process.pid, 'SIGSTOP');
};
const { linkSync, renameSync, rmSync } = fs;
fs.linkSync = (from, to) => {
  stopAt(to);
  linkSync(from, to);
  if (path.basename(String(to)).startsWith('runner.lock.takeover')) holding = true;
};
fs.renameSync = (from, to) => (stopAt(to), renameSync(from, to));
fs.rmSync = (p, o) => (stopAt(p), rmSync(p, o));
const r = require(lockModule).acquireLock(lockFile, 'run');
fs.linkSync = linkSync; fs.renameSync = renameSync; fs.rmSync = rmSync;
process.stdout.write(JSON.stringify({ acquired: r.acquired }));
`;

describe('runner.lock', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-lock-'));
    file = path.join(dir, 'runner.lock');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (lock: object) => fs.writeFileSync(file, JSON.stringify({ v: 1, host: HOST, acquiredAt: 'then', purpose: 'run', ...lock }));

  it('is exclusive while its owner lives, and released by its owner', () => {
    const first = acquireLock(file, 'run');
    assert.ok(first.acquired);
    const second = acquireLock(file, 'run');
    assert.ok(!second.acquired && second.holder.pid === process.pid);
    first.release();
    assert.equal(fs.existsSync(file), false);
  });

  it('takes over a lock whose process is dead', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    write({ pid: dead, startTime: 'proc:1' });
    const r = acquireLock(file, 'run');
    assert.ok(r.acquired);
    assert.equal(readRunnerLock(file)!.pid, process.pid);
  });

  it('takes over a lock whose pid now belongs to another process (pid reuse)', () => {
    write({ pid: process.pid, startTime: 'proc:0' }); // our pid, but not our start time
    assert.ok(acquireLock(file, 'run').acquired);
  });

  it('keeps a lock held by a live process', () => {
    write({ pid: process.pid, startTime: ownProcessStartTime() });
    const r = acquireLock(file, 'run');
    assert.ok(!r.acquired);
  });

  it('refuses to guess about a damaged lock file', () => {
    fs.writeFileSync(file, '{"pid": 12');
    assert.throws(() => acquireLock(file, 'run'), /runner\.lock: not valid JSON.*delete it if no runner/);
  });

  it('refuses a lock of the wrong shape too, and leaves it as it was', () => {
    fs.writeFileSync(file, '{"pid": 12}');
    assert.throws(() => acquireLock(file, 'run'), /runner\.lock: .*delete it if no runner/);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"pid": 12}');
  });

  const dead = () => spawnSync('true').pid!;
  const staleLock = (pid: number) => JSON.stringify({ v: 1, pid, startTime: 'proc:1', host: HOST, acquiredAt: new Date().toISOString(), purpose: 'run' }, null, 2) + '\n';
  /** The takeover mutexes of a stale lock, by this design's names: `<lock>.takeover.<hash of its text>.<generation>`. */
  const mutex = (staleText: string, generation: number) => `${file}.takeover.${createHash('sha256').update(staleText).digest('hex').slice(0, 16)}.${generation}`;
  const takeoverFiles = () => fs.readdirSync(dir).filter((f) => f.startsWith('runner.lock.takeover'));

  for (const [what, content] of [['zero-length', ''], ['whitespace-only', ' \n'], ['NUL-filled', '\0'.repeat(120)]] as const) {
    it(`takes over a ${what} lock: what a power loss leaves when the name reached the disk and the content did not`, () => {
      fs.writeFileSync(file, content);
      const r = acquireLock(file, 'run');
      assert.ok(r.acquired);
      assert.equal(readRunnerLock(file)!.pid, process.pid);
      r.release();
      assert.equal(fs.existsSync(file), false);
    });
  }

  it('is not blocked by takeover mutexes that dead claimants left, and tidies them up', () => {
    const pid = dead();
    const stale = staleLock(pid);
    fs.writeFileSync(file, stale);
    const claimant = JSON.stringify({ v: 1, pid, startTime: 'proc:2', host: HOST, acquiredAt: 'then', purpose: 'run' });
    for (let g = 0; g < 3; g++) fs.writeFileSync(mutex(stale, g), claimant);
    fs.writeFileSync(mutex(stale, 3), ''); // its claimant's power went
    fs.writeFileSync(`${file}.takeover`, claimant); // the single mutex of earlier versions
    const r = acquireLock(file, 'run');
    assert.ok(r.acquired);
    assert.equal(readRunnerLock(file)!.pid, process.pid);
    assert.deepEqual(takeoverFiles(), []);
  });

  it('leaves a stale lock alone while a live claimant holds its mutex, and names that claimant', () => {
    const stale = staleLock(dead());
    fs.writeFileSync(file, stale);
    const live = { v: 1, pid: process.pid, startTime: ownProcessStartTime(), host: HOST, acquiredAt: 'now', purpose: 'reset' };
    fs.writeFileSync(mutex(stale, 0), JSON.stringify(live));
    const r = acquireLock(file, 'run');
    assert.ok(!r.acquired);
    assert.deepEqual(r.holder, live);
    assert.equal(fs.readFileSync(file, 'utf8'), stale);
    assert.ok(fs.existsSync(mutex(stale, 0)));
  });

  onLinux('writes the lock and the mutex to disk (fsync) before they get their names', () => {
    fs.writeFileSync(file, staleLock(dead()));
    const nodeFs: typeof fs = require('node:fs');
    const real = { fsyncSync: nodeFs.fsyncSync, linkSync: nodeFs.linkSync, renameSync: nodeFs.renameSync };
    const synced = new Set<string>();
    const named: { to: string; synced: boolean }[] = [];
    nodeFs.fsyncSync = (fd) => {
      synced.add(fs.readlinkSync(`/proc/self/fd/${fd}`));
      real.fsyncSync(fd);
    };
    nodeFs.linkSync = (from, to) => {
      named.push({ to: path.basename(String(to)), synced: synced.has(String(from)) });
      real.linkSync(from, to);
    };
    nodeFs.renameSync = (from, to) => {
      named.push({ to: path.basename(String(to)), synced: synced.has(String(from)) });
      real.renameSync(from, to);
    };
    try {
      assert.ok(acquireLock(file, 'run').acquired); // a takeover: the first link fails, the mutex, the rename
      fs.rmSync(file);
      assert.ok(acquireLock(file, 'run').acquired); // an exclusive create
    } finally {
      Object.assign(nodeFs, real);
    }
    assert.ok(named.filter((n) => n.to === 'runner.lock').length >= 3, JSON.stringify(named));
    assert.ok(named.some((n) => n.to.startsWith('runner.lock.takeover')), JSON.stringify(named));
    assert.deepEqual(named.filter((n) => !n.synced), [], 'every name is given to a file already on disk');
  });

  // A, here, reads the lock and its takeover mutexes (one left by a dead claimant). After A's n-th
  // read, before it acts on what it read, B (another process) cuts in: it takes the stale lock over
  // up to the moment it changes the lock file and is stopped there (or ends, if it finds A ahead of
  // it). Then A goes on to the end, then B. Exactly one of them may own the lock. The second read is
  // where earlier versions failed: A read the dead claimant's mutex, B broke it and took its own, A
  // then deleted B's, and both took the lock, B deleting A's.
  for (const cutIn of [1, 2, 3, 4]) {
    onLinux(`a claimant never removes a lock that another has just taken over (B cuts in after A's read ${cutIn})`, async () => {
      const pid = dead();
      const stale = staleLock(pid);
      fs.writeFileSync(file, stale);
      const claimant = JSON.stringify({ v: 1, pid, startTime: 'proc:2', host: HOST, acquiredAt: 'then', purpose: 'run' });
      fs.writeFileSync(mutex(stale, 0), claimant);
      fs.writeFileSync(`${file}.takeover`, claimant); // the name of earlier versions, so that they meet the same moments
      const script = path.join(dir, 'claimant.cjs');
      fs.writeFileSync(script, CLAIMANT);

      let b: ReturnType<typeof spawn> | undefined;
      let bOut = '';
      let bExit: Promise<number | null> | undefined;
      const startB = () => {
        b = spawn(process.execPath, [...process.execArgv, script, file, LOCK_MODULE], { stdio: ['ignore', 'pipe', 'inherit'] });
        b.stdout!.on('data', (d) => (bOut += d));
        bExit = new Promise((resolve) => b!.on('exit', (code) => resolve(code)));
      };
      const nodeFs: typeof fs = require('node:fs');
      const readFileSync = nodeFs.readFileSync;
      let reads = 0;
      let hookError: unknown;
      let bStopped = false;
      nodeFs.readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
        const content = readFileSync(...args);
        if (path.basename(String(args[0])).startsWith('runner.lock') && ++reads === cutIn) {
          startB();
          try {
            // Ended is a zombie until this process, blocked here, gets to reap it.
            blockUntil('claimant B to stop just before it changes the lock, or to end', () => ['T', 'Z', undefined].includes(procState(b!.pid!)));
            bStopped = procState(b!.pid!) === 'T';
          } catch (err) {
            hookError = err; // the reader under test would take it for an unreadable file
          }
        }
        return content;
      }) as typeof fs.readFileSync;
      let a: ReturnType<typeof acquireLock>;
      try {
        a = acquireLock(file, 'run');
      } catch (err) {
        b?.kill('SIGKILL');
        throw err;
      } finally {
        nodeFs.readFileSync = readFileSync;
      }
      if (hookError) {
        b?.kill('SIGKILL');
        throw hookError;
      }
      if (cutIn === 2) assert.ok(bStopped, 'B was stopped in the middle of its takeover');
      if (!b) startB(); // A was done in fewer reads: B comes after it
      b!.kill('SIGCONT');
      assert.equal(await bExit, 0);
      const bAcquired = (JSON.parse(bOut) as { acquired: boolean }).acquired;
      assert.ok(!(a.acquired && bAcquired), 'both claimants believe they own the lock');
      assert.ok(a.acquired || bAcquired, 'neither claimant took the stale lock over');
      assert.equal(readRunnerLock(file)!.pid, a.acquired ? process.pid : b!.pid);
    });
  }
});
