import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { fixture, pidAlive, ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: interrupt', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it('kills the whole process tree (SIGKILL after the grace period) and resume re-runs only that step', async () => {
    ws = workspace();
    const marks = path.join(ws.root, 'marks.txt');
    const pids = path.join(ws.root, 'pids.txt');
    ws.define('job', {
      env: { MARKS: marks, PIDS: pids },
      steps: [
        { id: 'first', run: `${fixture('mark.js')} first` },
        { id: 'stubborn', run: fixture('stubborn.js') },
        { id: 'last', run: `${fixture('mark.js')} last` },
      ],
    });
    assert.equal(ptask(ws, 'run', 'job', '--detach', '--grace-ms', '300').code, 0);
    const [parent, child] = await waitFor('the stubborn tree to start', () => readLines(pids)[0]?.split(' ').map(Number));
    assert.ok(pidAlive(parent) && pidAlive(child));

    const r = ptask(ws, 'interrupt', 'job', '--wait', '--timeout', '20');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(pidAlive(parent), false, 'the step ignored SIGTERM and was killed');
    assert.equal(pidAlive(child), false, 'its child, which also ignored SIGTERM, was killed');
    const s = status(ws, 'job');
    assert.equal(s.status, 'interrupted');
    assert.equal(s.stepsDone, 1);
    const checkpoint = ws.readJson('job', 'checkpoint.json');
    assert.equal(checkpoint.reason, 'interrupted');
    assert.deepEqual(checkpoint.completed.map((c: { id: string }) => c.id), ['first']);
    assert.equal(checkpoint.unfinished.id, 'stubborn');
    assert.equal(checkpoint.unfinished.outcome, 'interrupted');

    assert.equal(ptask(ws, 'resume', 'job').code, 0);
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['first', 'stubborn', 'stubborn', 'last']);
  });

  it('interrupts a task that is pausing', async () => {
    ws = workspace();
    const marks = path.join(ws.root, 'marks.txt');
    ws.define('slow', { env: { MARKS: marks }, steps: [{ id: 'long', run: `${fixture('mark.js')} long 60000` }, { id: 'never', run: 'true' }] });
    ptask(ws, 'run', 'slow', '--detach');
    await waitFor('the step to start', () => readLines(marks).length === 1);
    ptask(ws, 'pause', 'slow');
    await waitFor('pausing', () => status(ws, 'slow').status === 'pausing');
    const pid = status(ws, 'slow').currentStep.pid;
    assert.equal(ptask(ws, 'interrupt', 'slow', '--wait').code, 0);
    assert.equal(status(ws, 'slow').status, 'interrupted');
    assert.equal(pidAlive(pid), false);
  });
});
