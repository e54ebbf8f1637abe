import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { pidAlive, ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

/**
 * Found while building the chaos soak (test/soak), by its kill -9 then reset: reset of a lost task
 * forgets its state.json, which named the step left running by the killed runner; the next run
 * then started beside that step, the same step running twice at once.
 */
describe('runner: reset of a task whose runner was killed with -9', () => {
  let ws: Workspace;
  let pids: string;
  afterEach(() => {
    // A failed assertion must not leave the steps running.
    for (const pid of readLines(pids)) if (pidAlive(Number(pid))) process.kill(-Number(pid), 'SIGKILL');
    ws.cleanup();
  });

  /** A task whose runner is killed with -9 while its step runs `run`; the step's pid. */
  async function lostWithStepRunning(run: string): Promise<number> {
    ws = workspace();
    pids = path.join(ws.root, 'pids.txt');
    ws.define('t', { env: { PIDS: pids }, steps: [{ id: 'long', run }] });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    const [orphan] = await waitFor('the step to start', () => readLines(pids).length === 1 && readLines(pids).map(Number));
    process.kill(status(ws, 't').pid, 'SIGKILL');
    await waitFor('lost', () => status(ws, 't').status === 'lost');
    return orphan;
  }

  it('reset stops the step the killed runner left running', async function () {
    if (process.platform !== 'linux') this.skip(); // leftovers are found by their environment in /proc
    const orphan = await lostWithStepRunning('echo $$ >> "$PIDS"; exec sleep 60');
    assert.ok(pidAlive(orphan), 'the step outlives its runner');
    assert.equal(ptask(ws, 'reset', 't').code, 0);
    await waitFor('the step of the forgotten run to stop', () => !pidAlive(orphan));
  });

  it('the next run stops the step the killed runner left running before it runs anything', async function () {
    if (process.platform !== 'linux') this.skip();
    // A step that ignores the SIGTERM of reset: the next run's SIGKILL after the grace period stops it.
    const orphan = await lostWithStepRunning('trap "" TERM; echo $$ >> "$PIDS"; exec sleep 60');
    assert.equal(ptask(ws, 'reset', 't').code, 0);
    assert.equal(status(ws, 't').status, 'idle');
    assert.ok(pidAlive(orphan), 'it ignored the SIGTERM of reset');

    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('the step to start again', () => readLines(pids).length === 2);
    assert.equal(pidAlive(orphan), false, 'the step of the lost run was stopped first');
    assert.equal(ptask(ws, 'interrupt', 't', '--wait', '--timeout', '20').code, 0);
  });
});
