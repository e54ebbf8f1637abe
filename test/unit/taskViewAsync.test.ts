import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HOST, processStartTime } from '../../src/protocol/processInfo';
import { readTaskView, readTaskViewAsync, type TaskView } from '../../src/protocol/taskView';

describe('readTaskViewAsync', () => {
  let dir: string;
  const now = Date.now();
  const at = new Date(now).toISOString();
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-view-'));
    fs.writeFileSync(path.join(dir, 't.json'), JSON.stringify({ steps: [{ id: 'a', run: 'true' }] }));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A run folder whose state.json and runner.lock name `pid`, the lock with its start time. */
  const writeRun = (pid: number, startTime: string, state: object = {}) => {
    fs.mkdirSync(path.join(dir, 't'));
    const common = { v: 1, pid, host: HOST };
    fs.writeFileSync(
      path.join(dir, 't', 'state.json'),
      JSON.stringify({ ...common, taskId: 't', runId: 'r1', status: 'running', startedAt: at, updatedAt: at, heartbeatAt: at, stepsTotal: 1, stepsDone: 0, currentStep: null, appliedSeq: 0, appliedGlobalSeq: 0, ...state }),
    );
    fs.writeFileSync(path.join(dir, 't', 'runner.lock'), JSON.stringify({ ...common, startTime, acquiredAt: at, purpose: 'run' }));
  };

  /** Both readers, which must agree. */
  const read = async (): Promise<TaskView> => {
    const view = readTaskView(dir, 't', now);
    assert.deepEqual(await readTaskViewAsync(dir, 't', now), view);
    return view;
  };

  it('agrees on a task with no run folder: idle', async () => {
    assert.equal((await read()).status, 'idle');
  });

  it('agrees on a running task whose runner is dead: lost', async () => {
    writeRun(spawnSync(process.execPath, ['-e', '']).pid!, 'proc:1');
    const view = await read();
    assert.equal(view.status, 'lost');
    assert.match(view.lostReason!, /is no longer running/);
  });

  it('agrees on a runner killed after it took the lock and before it wrote state.json: lost, not "taking over" for ever', async () => {
    writeRun(spawnSync(process.execPath, ['-e', '']).pid!, 'proc:1');
    // state.json still names the runner before it, which is dead too.
    const stateFile = path.join(dir, 't', 'state.json');
    fs.writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(stateFile, 'utf8')), pid: spawnSync(process.execPath, ['-e', '']).pid! }));
    const view = await read();
    assert.equal(view.status, 'lost');
    assert.match(view.lostReason!, /is no longer running/);
  });

  it('agrees on a running task whose runner is this process: running', async () => {
    writeRun(process.pid, processStartTime(process.pid)!);
    assert.equal((await read()).status, 'running');
  });

  it('agrees on a paused task whose live runner waits to resume it', async () => {
    writeRun(process.pid, processStartTime(process.pid)!, { status: 'paused', pausedBy: 'failure', resumeAt: at });
    assert.equal((await read()).waiting, true);
  });
});
