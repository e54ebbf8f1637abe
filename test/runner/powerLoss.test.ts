/**
 * What a power loss leaves on disk, built by hand, state by state: the durable files (checkpoint,
 * journal) decide, never an old or missing state.json, and nothing committed is thrown away.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listSnapshots } from '../../src/protocol/checkpoint';
import { powerLoss, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: the states a power loss leaves', () => {
  let ws: Workspace;
  let marks: string;
  let slow: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    slow = path.join(ws.root, 'slow');
    const m = JSON.stringify(marks);
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo a >> ${m}` },
        { id: 'b', run: `echo b >> ${m}` },
        // Waits while the file "slow" exists: a runner can be killed with c in flight.
        { id: 'c', run: `while [ -f ${JSON.stringify(slow)} ]; do sleep 0.05; done; echo c >> ${m}` },
      ],
    });
  });
  afterEach(() => {
    fs.rmSync(slow, { force: true });
    ws.cleanup();
  });

  /** The power goes while step c runs: the runner and the step die; a and b are committed in the journal only. */
  const killedInStepC = async () => {
    fs.writeFileSync(slow, '');
    const runner = ptaskChild(ws, 'run', 't');
    const step = await waitFor('step c to run', () => {
      const current = ws.readJson('t', 'state.json').currentStep;
      return current?.id === 'c' && current.pid && current;
    });
    assert.equal(step.id, 'c');
    powerLoss(ws); // the runner, its slot and the step
    await runner.exited;
    fs.rmSync(slow);
    assert.ok(readLines(ws.file('t', 'journal.jsonl')).length >= 2, 'a and b are in the journal');
  };

  for (const [what, damage] of [
    ['missing', (file: string) => fs.rmSync(file)],
    ['empty', (file: string) => fs.writeFileSync(file, '')],
  ] as const) {
    it(`state.json ${what} beside a checkpoint: the task is lost, and resume goes on without running a done step again`, async () => {
      await killedInStepC();
      damage(ws.file('t', 'state.json'));
      const s = status(ws, 't');
      assert.equal(s.status, 'lost', JSON.stringify(s));
      assert.match(s.reason, /resume goes on from the checkpoint/);
      const r = ptask(ws, 'resume', 't');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(readLines(marks), ['a', 'b', 'c']);
    });
  }

  it('an old state.json saying completed beside a newer journal: lost; run refuses to throw the commits away, resume goes on', async () => {
    assert.equal(ptask(ws, 'run', 't').code, 0);
    const completed = fs.readFileSync(ws.file('t', 'state.json'));
    fs.rmSync(marks);
    await killedInStepC(); // a second run, killed
    fs.writeFileSync(ws.file('t', 'state.json'), completed); // what survived the power loss
    assert.equal(status(ws, 't').status, 'lost');
    const run = ptask(ws, 'run', 't');
    assert.equal(run.code, 64, run.stdout + run.stderr);
    assert.match(run.stderr, /cannot run 't': it is lost: resume it, or run it with --fresh/);
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c'], 'a and b of the second run did not run again');
  });

  const keptCompleted = () => {
    const [newest] = listSnapshots(ws.file('t', 'checkpoints'));
    return JSON.parse(fs.readFileSync(newest, 'utf8')).completed.map((s: { id: string }) => s.id);
  };

  it('reset of a lost task keeps every committed step (the journal folded in) in the snapshot it keeps', async () => {
    await killedInStepC();
    const r = ptask(ws, 'reset', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(keptCompleted(), ['a', 'b']);
  });

  it('run --fresh of a lost task keeps them too', async () => {
    await killedInStepC();
    const r = ptask(ws, 'run', 't', '--fresh');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The newest kept snapshot is the fresh run's own; the one before it is the forgotten run's.
    const snapshots = listSnapshots(ws.file('t', 'checkpoints')).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
    const forgotten = snapshots.find((c) => c.runId !== ws.readJson('t', 'checkpoint.json').runId);
    assert.deepEqual(forgotten.completed.map((s: { id: string }) => s.id), ['a', 'b']);
  });
});
