/** Following a task from a terminal: ptask logs [--follow] and ptask status --watch, against a real runner. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, ptaskChild, waitFor, workspace, type Workspace } from './helpers';

describe('ptask logs and status --watch', () => {
  let ws: Workspace;
  let gate: string;
  beforeEach(() => {
    ws = workspace();
    gate = path.join(ws.root, 'gate');
    // "one" prints, waits for the gate, prints again; then "two".
    ws.define('t', { steps: [{ id: 'one', run: `echo one-before; while [ ! -e ${gate} ]; do sleep 0.02; done; echo one-after` }, { id: 'two', run: 'echo two-only' }] });
  });
  afterEach(() => ws.cleanup());

  it('logs --follow prints the step in flight as it grows, moves on to the next step, and ends with the task', async () => {
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    const follow = ptaskChild(ws, 'logs', 't', '--follow');
    await waitFor('the first line, followed', () => follow.output().includes('one-before'));
    assert.doesNotMatch(follow.output(), /one-after/);
    fs.writeFileSync(gate, '');
    assert.equal(await follow.exited, 0, follow.output());
    const out = follow.output();
    assert.match(out, /^==> one \(.*one\.log\) <==\n=== one attempt 1 [^\n]*\none-before\none-after\n==> two \(.*two\.log\) <==\n=== two attempt 1 [^\n]*\ntwo-only\n$/);
  });

  it('logs prints a step asked for, or the last that ran; an unknown step or a task that has not run says so', () => {
    assert.match(ptask(ws, 'logs', 't').stderr, /'t' has no log yet: it has not run/);
    fs.writeFileSync(gate, '');
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.match(ptask(ws, 'logs', 't').stdout, /two-only\n$/);
    assert.match(ptask(ws, 'logs', 't', 'one').stdout, /one-before\none-after\n$/);
    const unknown = ptask(ws, 'logs', 't', 'three');
    assert.equal(unknown.code, 64);
    assert.match(unknown.stderr, /'t' has no step 'three' \(its steps: one, two\)/);
  });

  it('status --watch prints the status again as it changes, and ends with the task', async () => {
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    const watch = ptaskChild(ws, 'status', 't', '--watch');
    await waitFor('step one, watched', () => /now {7}one since/.test(watch.output()));
    fs.writeFileSync(gate, '');
    assert.equal(await watch.exited, 0, watch.output());
    const statuses = watch.output().split('\n').filter((l) => l.startsWith('t: '));
    assert.equal(statuses[0], 't: running');
    assert.equal(statuses[statuses.length - 1], 't: completed');
    assert.equal(ptask(ws, 'status', 't', '--watch', '--json').code, 64, '--json or --watch');
  });
});
