/**
 * Resuming under a changed definition. `resume --force` is durable: after a crash, a plain resume
 * goes on under the new definition. Changing only how a step runs (concurrency, timeout, retries,
 * retryDelay) needs no --force, and takes effect on resume.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
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
    assert.equal(ptask(ws, 'resume', 't').code, 65, 'refused without --force');
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

  it('a changed run line still needs --force', () => {
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: 'exit 3' }] });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    ws.define('t', { steps: [{ id: 'a', run: mark('a') }, { id: 'b', run: 'true', retries: 2 }] });
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 65);
    assert.match(r.stderr, /step "b" changed its run, retries/);
  });
});
