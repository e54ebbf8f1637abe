import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

const counts = (file: string) => {
  const c: Record<string, number> = {};
  for (const line of readLines(file)) c[line.split(' ')[0]] = (c[line.split(' ')[0]] ?? 0) + 1;
  return c;
};

describe('runner: pause and resume', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks.txt');
    ws.define('chain', {
      env: { MARKS: marks },
      steps: ['a', 'b', 'c', 'd'].map((id) => ({ id, run: `${fixture('mark.js')} ${id} 400` })),
    });
  });
  afterEach(() => ws.cleanup());

  it('pauses at a step boundary, resumes, and runs each step exactly once', async () => {
    const started = ptask(ws, 'run', 'chain', '--detach');
    assert.equal(started.code, 0, started.stderr);
    await waitFor('step a to start', () => readLines(marks).length >= 1);
    const paused = ptask(ws, 'pause', 'chain', '--wait', '--timeout', '20');
    assert.equal(paused.code, 0, paused.stderr + paused.stdout);
    const s = status(ws, 'chain');
    assert.equal(s.status, 'paused');
    assert.equal(s.pausedBy, 'user');
    assert.ok(s.appliedSeq >= s.requestedSeq, 'the request is recorded as applied');
    assert.ok(s.stepsDone >= 1 && s.stepsDone < 4, `stopped between steps (done ${s.stepsDone})`);
    assert.equal(s.pid, undefined, 'no runner is left');
    const checkpoint = ws.readJson('chain', 'checkpoint.json');
    assert.equal(checkpoint.reason, 'paused');
    assert.equal(checkpoint.completed.length, s.stepsDone);
    assert.equal(fs.existsSync(ws.file('chain', 'runner.lock')), false, 'the lock is released');
    const ranBeforeResume = readLines(marks).length;
    assert.equal(ranBeforeResume, s.stepsDone, 'the step in flight finished and nothing else started');

    const resumed = ptask(ws, 'resume', 'chain');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(counts(marks), { a: 1, b: 1, c: 1, d: 1 });
    assert.equal(status(ws, 'chain').status, 'completed');
  });

  it('resuming while pausing cancels the pause', async () => {
    const gate = path.join(ws.root, 'gate');
    ws.define('gated', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'a', run: `${fixture('gate.js')} a` }, { id: 'b', run: `${fixture('mark.js')} b` }] });
    ptask(ws, 'run', 'gated', '--detach');
    await waitFor('step a to start', () => readLines(marks).length >= 1);
    assert.equal(ptask(ws, 'pause', 'gated').code, 0);
    await waitFor('pausing', () => status(ws, 'gated').status === 'pausing');
    assert.ok(fs.existsSync(ws.file('gated', 'pause-requested')), 'TASK_PAUSE_REQUESTED exists while a pause is pending');
    const r = ptask(ws, 'resume', 'gated');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /pause is cancelled/);
    await waitFor('running again', () => status(ws, 'gated').status === 'running');
    assert.equal(fs.existsSync(ws.file('gated', 'pause-requested')), false);
    fs.writeFileSync(gate, '');
    await waitFor('completed', () => status(ws, 'gated').status === 'completed');
    assert.deepEqual(counts(marks), { a: 1, b: 1 });
  });

  it('Ctrl+C in the terminal pauses gracefully; a second one interrupts', async () => {
    const run = ptaskChild(ws, 'run', 'chain');
    await waitFor('step a to start', () => readLines(marks).length >= 1);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 2, run.output());
    assert.match(run.output(), /Pausing after the step in flight/);
    const s = status(ws, 'chain');
    assert.equal(s.status, 'paused');
    assert.equal(s.pausedBy, 'signal');

    const again = ptaskChild(ws, 'resume', 'chain');
    await waitFor('the next step to start', () => readLines(marks).length > s.stepsDone);
    again.child.kill('SIGINT');
    await waitFor('pausing', () => status(ws, 'chain').status === 'pausing');
    again.child.kill('SIGINT');
    assert.equal(await again.exited, 4, again.output());
    assert.equal(status(ws, 'chain').status, 'interrupted');
    assert.equal(ptask(ws, 'resume', 'chain').code, 0);
    const c = counts(marks);
    assert.deepEqual(Object.keys(c).sort(), ['a', 'b', 'c', 'd']);
    assert.equal(Object.values(c).reduce((a, b) => a + b), 5, 'only the interrupted step ran twice');
  });

  it('refuses requests the state does not allow, naming the state, and changes nothing', () => {
    assert.equal(ptask(ws, 'run', 'chain').code, 0);
    const before = fs.readFileSync(ws.file('chain', 'state.json'), 'utf8');
    const pause = ptask(ws, 'pause', 'chain');
    assert.equal(pause.code, 64);
    assert.match(pause.stderr, /cannot pause 'chain': it is completed/);
    const resume = ptask(ws, 'resume', 'chain');
    assert.equal(resume.code, 64);
    assert.match(resume.stderr, /cannot resume 'chain': it is completed/);
    assert.equal(fs.readFileSync(ws.file('chain', 'state.json'), 'utf8'), before);
  });
});
