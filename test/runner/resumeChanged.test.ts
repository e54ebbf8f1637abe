/**
 * Resuming under a changed definition: by the plan (`ptask plan`), done steps that changed run
 * again with every step after it, and a failed step whose command was fixed just runs; `--force`
 * keeps every done step, durably: after a crash, a plain resume goes on under the new definition.
 * Changing only how a step runs (concurrency, timeout, retries, retryDelay) takes effect on resume.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processesWithEnv } from '../../src/protocol/processGroups';
import { powerLoss, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: resume under a changed definition', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
  });
  afterEach(() => ws.cleanup());

  const mark = (id: string) => `echo ${id} >> ${JSON.stringify(marks)}`;

  it('resume --force, a crash, then a plain resume: no second refusal, and nothing done runs again', async () => {
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: 'exit 3' }] });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    const gate = path.join(ws.root, 'gate');
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: `while [ ! -f ${JSON.stringify(gate)} ]; do sleep 0.05; done; ${mark('b')}` }, { id: 'c', run: mark('c') }] });
    const forced = ptaskChild(ws, 'resume', 't', '--force');
    const step = await waitFor('b to run', () => ws.readJson('t', 'state.json').currentStep?.pid && ws.readJson('t', 'state.json').currentStep);
    assert.equal(step.id, 'b');
    powerLoss(ws); // the runner, its slot and the step
    await forced.exited;
    assert.equal(status(ws, 't').status, 'lost');
    fs.writeFileSync(gate, '');
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c']);
  });

  it('changing only retries, timeout, retryDelay or concurrency needs no --force and takes effect', () => {
    const flag = path.join(ws.root, 'flag');
    // Fails on its first attempt only: one retry makes it pass.
    const flaky = `if [ -f ${JSON.stringify(flag)} ]; then ${mark('b')}; else touch ${JSON.stringify(flag)}; exit 3; fi`;
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: flaky }, { id: 'c', run: 'echo "$ITEM" >> /dev/null', forEach: { items: [1, 2] } }] });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    fs.rmSync(flag);
    ws.define('t', { steps: [{ id: 'a', run: mark('a'), timeout: '1m' }, { id: 'b', run: flaky, retries: 1, retryDelay: '10ms' }, { id: 'c', run: 'echo "$ITEM" >> /dev/null', forEach: { items: [1, 2] }, concurrency: 2 }] });
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /changes that need no --force: .*step "b" changed its retries, retryDelay/);
    assert.deepEqual(readLines(marks), ['a', 'b'], 'b passed on its retry; a did not run again');
    // The checkpoint now holds the definition it ran under.
    assert.equal(ws.readJson('t', 'checkpoint.json').definition.steps[1].retries, 1);
  });

  it('a failed step whose command was fixed: the plan keeps the done steps and runs it; resume does exactly that, without --force', () => {
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: 'exit 3' }, { id: 'c', run: mark('c') }] });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: mark('b'), retries: 2 }, { id: 'c', run: mark('c') }] });
    const plan = JSON.parse(ptask(ws, 'plan', 't', '--json').stdout);
    assert.deepEqual(plan.steps.map((s: any) => [s.id, s.action]), [['a', 'done'], ['b', 'run'], ['c', 'run']]);
    assert.match(plan.steps[1].reason, /it stopped here \(failed: exit code 3\); it runs as it is defined now/);
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c']);
  });

  it('a done step changed: the plan runs it again with every step after it (in a chain, every step needs the one before); resume does that; --force keeps them done; resume all, with nobody to ask, leaves it', async () => {
    const gate = path.join(ws.root, 'gate');
    const steps = (b: string) => [{ id: 'a', run: mark('a') }, { id: 'b', run: mark(b) }, { id: 'c', run: `while [ ! -f ${gate} ]; do sleep 0.02; done; ${mark('c')}` }, { id: 'd', run: mark('d') }];
    ws.define('t', { steps: steps('b') });
    const run = ptaskChild(ws, 'run', 't');
    await waitFor('c to start', () => status(ws, 't').currentStep?.id === 'c');
    assert.equal(ptask(ws, 'pause-all').code, 0);
    fs.writeFileSync(gate, '');
    assert.equal(await run.exited, 2, run.output());
    ws.define('t', { steps: steps('b2') });
    const plan = ptask(ws, 'plan', 't');
    assert.match(plan.stdout, /\n  done   a  done [^\n]+\n  rerun  b  its run changed since it ran\n  rerun  c  it needs 'b', which runs again\n  run    d  not run yet; after 'c'\n$/);
    assert.match(ptask(ws, 'plan', 't', '--force').stdout, /\n  done   b  done [^\n]+; kept by --force\n/);
    // Nobody to confirm re-running done steps: resume all leaves it paused, saying why.
    const all = ptask(ws, 'resume-all');
    assert.match(all.stdout + all.stderr, /done steps would run again:\n  - b: its run changed since it ran\n  - c: it needs 'b', which runs again/);
    assert.equal(status(ws, 't').status, 'paused');
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /by the plan: 'b' runs again \(its run changed since it ran\); 'c' runs again/);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c', 'b2', 'c', 'd'], 'a kept; b and c again, then d');
  });

  it("a step changed while its lost runner's attempt still runs: that attempt is stopped, not taken over; the step runs as defined now", async () => {
    const gate = path.join(ws.root, 'gate');
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: `${mark('old-start')}; while [ ! -f ${JSON.stringify(gate)} ]; do sleep 0.02; done; ${mark('old-b')}` }] });
    const first = ptaskChild(ws, 'run', 't');
    await waitFor('b to start', () => readLines(marks).includes('old-start'));
    first.child.kill('SIGKILL'); // its slot, and b's old command, live on
    await first.exited;
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: mark('new-b') }] });
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Stopping what the lost runner left of 'b': changed since, it runs as it is defined now/);
    assert.deepEqual(processesWithEnv([`TASK_PAUSE_REQUESTED=${ws.file('t', 'pause-requested')}`]), [], "nothing of the old b is left");
    fs.writeFileSync(gate, '');
    assert.deepEqual(readLines(marks), ['a', 'old-start', 'new-b']);
  });
});
