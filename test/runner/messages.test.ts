/** What ptask says when it cannot do what was asked: which task, why, and an exit code that says so. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, ptaskChild, status, waitFor, workspace, type Workspace } from './helpers';

describe('ptask: exit codes and messages', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  it('an unknown task id is bad usage (64), and the known ids are listed', () => {
    ws.define('alpha', { steps: [{ id: 'a', run: 'true' }] });
    ws.define('beta', { steps: [{ id: 'a', run: 'true' }] });
    for (const command of ['status', 'run', 'resume', 'pause', 'reset']) {
      const r = ptask(ws, command, 'gamma');
      assert.equal(r.code, 64, `${command}: ${r.stderr}`);
      assert.match(r.stderr, /no task 'gamma' in \S+\.tasks: the tasks there are alpha, beta/);
    }
  });

  it('resume-all exits non-zero naming each task it could not resume', async () => {
    const gate = path.join(ws.root, 'gate');
    const def = { env: { GATE: gate }, steps: [{ id: 'a', run: fixture('gate.js') }, { id: 'b', run: 'true' }] };
    ws.define('ok', def);
    ws.define('bad', def);
    const runners = ['ok', 'bad'].map((id) => ptaskChild(ws, 'run', id));
    await waitFor('both to run', () => ['ok', 'bad'].every((id) => status(ws, id).currentStep?.pid));
    assert.equal(ptask(ws, 'pause-all').code, 0);
    fs.writeFileSync(gate, '');
    for (const r of runners) assert.equal(await r.exited, 2);
    assert.equal(status(ws, 'bad').pausedBy, 'global');
    // A definition broken while paused: resuming it is refused.
    ws.define('bad', { steps: [{ id: 'a', run: 'true' }, { id: 'a', run: 'again' }] });
    const r = ptask(ws, 'resume-all');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /resumed ok/);
    assert.match(r.stderr, /could not resume 'bad': .*duplicate step id/);
    // The runner resume-all started is detached: the workspace goes only once it is done with it.
    await waitFor("'ok' to complete", () => status(ws, 'ok').status === 'completed');
  });
});
