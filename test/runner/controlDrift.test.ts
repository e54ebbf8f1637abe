/**
 * Run and resume are written once (src/control): the extension and ptask refuse the same requests,
 * for the same first reason, and a refused request writes nothing. One difference is on purpose: a
 * plan that runs done steps again is asked about by the extension, followed by ptask resume. The extension's side is driven
 * as its commands drive it (an asynchronous view, then control's startTask); ptask's as a person
 * types it.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { UsableView } from '../../src/control/checks';
import { startTask, type StartOutcome } from '../../src/control/start';
import { EXIT } from '../../src/protocol/exitCodes';
import { readTaskViewAsync } from '../../src/protocol/taskView';
import { ptask, RUNNER, snapshotTree, status, waitFor, workspace, type Workspace } from './helpers';

const EXIT_OF: Record<string, number> = { notAllowed: EXIT.usage, pausedForAll: EXIT.paused, changed: EXIT.badInput, badFile: EXIT.badInput, held: EXIT.locked, cannotWrite: EXIT.failed };

describe('control: the extension and ptask refuse alike, and a refusal writes nothing', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  /** A task that ran and failed in its second step: resumable, with a checkpoint. */
  const failedTask = () => {
    ws.define('t', { steps: [{ id: 'a', run: 'true' }, { id: 'b', run: 'exit 3' }] });
    assert.equal(ptask(ws, 'run', 't').code, EXIT.failed);
  };

  const cases: { name: string; mode: 'run' | 'resume'; setUp: () => void; refusal: string }[] = [
    { name: 'resume of a completed task', mode: 'resume', setUp: () => (ws.define('t', { steps: [{ id: 'a', run: 'true' }] }), ptask(ws, 'run', 't')), refusal: 'notAllowed' },
    { name: 'run of a failed task without --fresh', mode: 'run', setUp: failedTask, refusal: 'notAllowed' },
    { name: 'resume while pause-all is on', mode: 'resume', setUp: () => (failedTask(), ptask(ws, 'pause-all')), refusal: 'pausedForAll' },
    { name: 'resume with a damaged control.json', mode: 'resume', setUp: () => (failedTask(), fs.writeFileSync(ws.file('t', 'control.json'), '{"v": 1, "seq": ')), refusal: 'badFile' },
    {
      name: 'resume with checkpoints/ a link out of the run folder',
      mode: 'resume',
      setUp: () => {
        failedTask();
        fs.rmSync(ws.file('t', 'checkpoints'), { recursive: true, force: true });
        fs.symlinkSync(ws.root, ws.file('t', 'checkpoints'));
      },
      refusal: 'badFile',
    },
    // Several reasons at once: both front ends give the same first one.
    {
      name: 'a changed definition whose plan runs nothing done again, and pause-all: pause-all is named',
      mode: 'resume',
      setUp: () => (failedTask(), ptask(ws, 'pause-all'), ws.define('t', { steps: [{ id: 'a', run: 'true' }, { id: 'b', run: 'true' }] })),
      refusal: 'pausedForAll',
    },
    {
      name: 'a link and a changed definition: the link is named first (before the extension wrote control.json first)',
      mode: 'resume',
      setUp: () => {
        failedTask();
        ws.define('t', { steps: [{ id: 'b', run: 'true' }] });
        fs.rmSync(ws.file('t', 'checkpoints'), { recursive: true, force: true });
        fs.symlinkSync(ws.root, ws.file('t', 'checkpoints'));
      },
      refusal: 'badFile',
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      c.setUp();
      const before = snapshotTree(ws.tasksDir);
      // As the extension's Run/Resume command does it.
      const view = await readTaskViewAsync(ws.tasksDir, 't');
      const outcome: StartOutcome = await startTask(view as UsableView, { mode: c.mode, requestedBy: 'vscode', detach: { runnerScript: RUNNER, root: ws.root, tasksFolder: '.tasks' } });
      assert.equal(outcome.kind, c.refusal, JSON.stringify(outcome));
      assert.deepEqual(snapshotTree(ws.tasksDir), before, 'the extension wrote nothing');
      // As a person types it.
      const cli = ptask(ws, c.mode, 't', '--detach');
      assert.equal(cli.code, EXIT_OF[c.refusal], cli.stdout + cli.stderr);
      assert.ok('message' in outcome && cli.stderr.includes(outcome.message.split('\n')[0]), `the same words: ${cli.stderr}`);
      assert.deepEqual(snapshotTree(ws.tasksDir), before, 'ptask wrote nothing');
    });
  }

  it('a done step changed: the extension is told which done steps would run again (it asks), writing nothing; ptask resume follows the plan', async () => {
    failedTask();
    ws.define('t', { steps: [{ id: 'a', run: 'echo changed' }, { id: 'b', run: 'true' }] });
    const before = snapshotTree(ws.tasksDir);
    const view = await readTaskViewAsync(ws.tasksDir, 't');
    const outcome = await startTask(view as UsableView, { mode: 'resume', requestedBy: 'vscode', detach: { runnerScript: RUNNER, root: ws.root, tasksFolder: '.tasks' } });
    assert.equal(outcome.kind, 'changed', JSON.stringify(outcome));
    assert.deepEqual('changes' in outcome && outcome.changes, ['step "a" runs again: its run changed since it ran']);
    assert.deepEqual(snapshotTree(ws.tasksDir), before, 'the extension wrote nothing');
    const cli = ptask(ws, 'resume', 't');
    assert.equal(cli.code, EXIT.completed, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /by the plan: 'a' runs again/);
  });

  it('a request that is not refused is written and started by either, the same way', async () => {
    failedTask();
    const view = await readTaskViewAsync(ws.tasksDir, 't');
    const outcome = await startTask(view as UsableView, { mode: 'resume', requestedBy: 'vscode', detach: { runnerScript: RUNNER, root: ws.root, tasksFolder: '.tasks' } });
    // The task is short: the runner may have finished before it was seen holding the task.
    assert.ok(outcome.kind === 'started' || (outcome.kind === 'ended' && outcome.exitCode === EXIT.failed), JSON.stringify(outcome));
    assert.equal(JSON.parse(fs.readFileSync(path.join(ws.runDir('t'), 'control.json'), 'utf8')).requestedBy, 'vscode');
    // The detached runner finishes before the workspace goes.
    await waitFor('the runner to finish', () => !fs.existsSync(ws.file('t', 'runner.lock')) && status(ws, 't').status === 'failed');
  });
});
