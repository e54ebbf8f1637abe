import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, readRunnerLock } from '../../src/protocol/lock';
import { HOST, ownProcessStartTime } from '../../src/protocol/processInfo';

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
});
