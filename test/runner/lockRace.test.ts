import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST } from '../../src/protocol/processInfo';
import { ptask, readLines, RUNNER, status, waitFor, workspace, type Workspace } from './helpers';

const ROUNDS = 15;
const CLAIMANTS = 12;

/** A pid that was alive a moment ago and is not any more. */
function deadPid(): number {
  const r = spawnSync('true');
  assert.equal(r.status, 0);
  return r.pid!;
}

function resume(ws: Workspace, id: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [RUNNER, 'resume', id, '--root', ws.root], { cwd: ws.root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), out }));
  });
}

describe('runner: many resumes of a lost task race for its stale lock', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it(`${CLAIMANTS} resumes at once, ${ROUNDS} rounds, stale lock and stale takeover mutexes planted: exactly one runner runs the step`, async () => {
    ws = workspace();
    const marks = path.join(ws.root, 'marks.txt');
    const go = path.join(ws.root, 'go');
    const release = path.join(ws.root, 'release');
    // Fails until `go` exists; then marks that it ran and holds the lock until the test releases it,
    // so a resume arriving late meets a live runner (never a finished task), whatever the machine's speed.
    ws.define('t', {
      env: { MARKS: marks, GO: go, RELEASE: release },
      steps: [{ id: 'only', run: '[ -f "$GO" ] || exit 1; echo "$$" >> "$MARKS"; while [ ! -f "$RELEASE" ]; do sleep 0.02; done' }],
    });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    const runDir = ws.runDir('t');
    const pristine = path.join(ws.root, 'pristine');
    fs.cpSync(runDir, pristine, { recursive: true });
    fs.writeFileSync(go, '');
    const lockFile = ws.file('t', 'runner.lock');

    for (let round = 0; round < ROUNDS; round++) {
      fs.rmSync(runDir, { recursive: true, force: true });
      fs.cpSync(pristine, runDir, { recursive: true });
      fs.rmSync(marks, { force: true });
      fs.rmSync(release, { force: true });
      // A runner that died: state.json says running, its lock is stale, and so are the takeover
      // mutexes that claimants before it left (dead too).
      const dead = deadPid();
      const state = ws.readJson('t', 'state.json');
      fs.writeFileSync(ws.file('t', 'state.json'), JSON.stringify({ ...state, status: 'running', pid: dead }, null, 2));
      const stale = JSON.stringify({ v: 1, pid: dead, startTime: 'proc:1', host: HOST, acquiredAt: new Date().toISOString(), purpose: 'run' }, null, 2) + '\n';
      fs.writeFileSync(lockFile, stale);
      const deadClaimant = JSON.stringify({ v: 1, pid: dead, startTime: 'proc:2', host: HOST, acquiredAt: new Date().toISOString(), purpose: 'run' });
      const hash = createHash('sha256').update(stale).digest('hex').slice(0, 16);
      // The mutex as this design names it (one per stale lock and generation), and the single
      // `runner.lock.takeover` of earlier versions, which a claimant deleted to break it.
      for (const name of [`runner.lock.takeover.${hash}.0`, `runner.lock.takeover.${hash}.1`, 'runner.lock.takeover'])
        fs.writeFileSync(ws.file('t', name), deadClaimant);
      assert.equal(status(ws, 't').status, 'lost');

      const claimants = Array.from({ length: CLAIMANTS }, () => resume(ws, 't'));
      let exited = 0;
      for (const c of claimants) void c.then(() => exited++);
      // Every claimant but the runner(s) that run the step has exited: then let the step end.
      await waitFor(`round ${round}: the claimants to settle`, () => readLines(marks).length > 0 && exited + readLines(marks).length >= CLAIMANTS, 60_000);
      fs.writeFileSync(release, '');
      const results = await Promise.all(claimants);

      const ran = readLines(marks);
      assert.equal(ran.length, 1, `round ${round}: ${ran.length} runners ran the step:\n${results.map((r) => `${r.code}: ${r.out.trim()}`).join('\n')}`);
      const codes = results.map((r) => r.code).sort();
      for (const r of results) assert.ok(r.code === 0 || r.code === 3, `round ${round}: exit ${r.code}: ${r.out}`);
      assert.equal(codes.filter((c) => c === 0).length >= 1, true, `round ${round}: codes ${codes}`);
      assert.equal(status(ws, 't').status, 'completed', `round ${round}`);
      assert.deepEqual(fs.readdirSync(runDir).filter((f) => f.startsWith('runner.lock')), [], `round ${round}: the lock and every mutex are gone`);
    }
  });
});
