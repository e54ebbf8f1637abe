import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

/**
 * Found by the chaos soak (test/soak): a pause cancelled by a resume while a forEach step's items
 * are in flight. The item that had stopped for the pause (exit 75, or a failure matching pauseOn)
 * was neither done nor failed, and was not started again: the step ended with "0 of N items
 * failed" and the task failed.
 */
describe('runner: a pause cancelled while items of a forEach step are in flight', () => {
  let ws: Workspace;
  let marks: string;
  let gate: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks.txt');
    gate = path.join(ws.root, 'gate');
  });
  afterEach(() => {
    fs.writeFileSync(gate, ''); // never leave item b waiting
    ws.cleanup();
  });

  /** Item b works until the gate opens; item a runs `a` (a shell snippet). */
  function define(a: string, extra: object = {}) {
    const script = path.join(ws.root, 'item.sh');
    fs.writeFileSync(
      script,
      `if [ "$ITEM" = a ]; then\n${a}\nfi\necho "b started" >> "$MARKS"\nwhile [ ! -e "$GATE" ]; do sleep 0.02; done\necho "b done" >> "$MARKS"\n`,
    );
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'each', run: `sh ${JSON.stringify(script)}`, forEach: { items: ['a', 'b'] }, concurrency: 2 }], ...extra });
  }

  /** Resume while pausing: the pause is cancelled, and the runner has applied it. */
  async function cancelPause() {
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /the pause is cancelled/);
    await waitFor('the resume applied', () => {
      const s = status(ws, 't');
      return s.status === 'running' && s.appliedSeq >= s.requestedSeq;
    });
  }

  it('an item that paused itself (exit 75) runs again from its state', async () => {
    define(
      [
        'if [ -e "$TASK_STEP_STATE" ]; then echo "a done from $(cat "$TASK_STEP_STATE")" >> "$MARKS"; exit 0; fi',
        'echo "a started" >> "$MARKS"',
        'while [ ! -e "$TASK_PAUSE_REQUESTED" ]; do sleep 0.02; done',
        'echo half > "$TASK_STEP_STATE"; echo "a paused" >> "$MARKS"; exit 75',
      ].join('\n'),
    );
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('both items started', () => readLines(marks).includes('a started') && readLines(marks).includes('b started'));
    assert.equal(ptask(ws, 'pause', 't').code, 0);
    await waitFor('item a paused itself', () => readLines(marks).includes('a paused'));
    assert.equal(status(ws, 't').status, 'pausing', 'item b is still in flight');
    await cancelPause();
    fs.writeFileSync(gate, '');
    const end = await waitFor('the task to end', () => ['completed', 'failed', 'paused'].includes(status(ws, 't').status) && status(ws, 't'));
    assert.equal(end.status, 'completed', end.reason);
    assert.deepEqual(readLines(marks).sort(), ['a done from half', 'a paused', 'a started', 'b done', 'b started']);
  });

  it('an item whose failure matched pauseOn is tried again', async () => {
    define(
      [
        'if [ -e "$GATE.a" ]; then echo "a done" >> "$MARKS"; exit 0; fi',
        ': > "$GATE.a"; echo "a failed" >> "$MARKS"; echo "HTTP 429 Too Many Requests" >&2; exit 1',
      ].join('\n'),
      { pauseOn: { outputMatches: ['429'] } },
    );
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('a failed, b in flight', () => readLines(marks).includes('a failed') && readLines(marks).includes('b started'));
    await waitFor('pausing on the failure', () => status(ws, 't').status === 'pausing');
    await cancelPause();
    fs.writeFileSync(gate, '');
    const end = await waitFor('the task to end', () => ['completed', 'failed', 'paused'].includes(status(ws, 't').status) && status(ws, 't'));
    assert.equal(end.status, 'completed', end.reason);
    assert.deepEqual(readLines(marks).sort(), ['a done', 'a failed', 'b done', 'b started']);
  });
});
