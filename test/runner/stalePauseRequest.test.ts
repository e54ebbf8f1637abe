import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pidAlive, ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

/**
 * Found by the chaos soak (test/soak): a runner killed with -9 while pausing leaves the
 * TASK_PAUSE_REQUESTED file behind. The next runner ran with it there: a step that looks at it
 * saved its state and exited 75, which, with no pause pending, is a failure, so the task failed.
 */
describe('runner: a pause request left by a runner killed while pausing', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it('is gone when the next runner starts: a step that looks at it does not see a pause', async () => {
    ws = workspace();
    const marks = path.join(ws.root, 'marks.txt');
    const gate = path.join(ws.root, 'gate');
    ws.define('t', {
      env: { MARKS: marks, GATE: gate },
      steps: [
        { id: 'first', run: 'echo started >> "$MARKS"; while [ ! -e "$GATE" ]; do sleep 0.02; done' },
        { id: 'second', run: 'if [ -e "$TASK_PAUSE_REQUESTED" ]; then exit 75; fi; echo second >> "$MARKS"' },
      ],
    });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('the first step to start', () => readLines(marks).includes('started'));
    const runner = status(ws, 't').pid;
    assert.equal(ptask(ws, 'pause', 't').code, 0);
    await waitFor('the pause requested of the steps', () => fs.existsSync(ws.file('t', 'pause-requested')));
    process.kill(runner, 'SIGKILL');
    await waitFor('the runner gone', () => !pidAlive(runner));
    assert.equal(status(ws, 't').status, 'lost');

    fs.writeFileSync(gate, '');
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.equal(status(ws, 't').status, 'completed');
    assert.ok(readLines(marks).includes('second'));
  });
});
