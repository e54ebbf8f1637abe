/**
 * A resumed runner that adopts attempts a killed runner left running, then pauses before it
 * reaches them, leaves them running with their records: the next runner adopts them and commits
 * their real end. Stopping them (as it did) lost their work, and their SIGTERM, recorded by their
 * slot, read as a failure to the runner that adopted them next (the chaos soak's violation).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countOf, fixture, pidAlive, powerLoss, ptask, ptaskChild, readLines, recordsText, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: adopted attempts a paused resume never reached', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  // A failed test leaves the gated items (and maybe a detached runner) alive: they go with the workspace.
  afterEach(() => {
    powerLoss(ws);
    ws.cleanup();
  });

  it('are left running with their records, and the next runner commits their real end: every item once, none failed', async () => {
    const dir = ws.root;
    const starts = path.join(dir, 'starts');
    const marks = path.join(dir, 'marks');
    const gate = path.join(dir, 'gate');
    const items = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5'];
    // gate.js appends "<item> <pid>" to $MARKS and waits for $GATE; the mark is the item's last act.
    ws.define('t', {
      env: { MARKS: starts, GATE: gate },
      steps: [{ id: 'e', run: `${fixture('gate.js')} "$ITEM" && echo "$ITEM" >> ${JSON.stringify(marks)}`, forEach: { items }, concurrency: 2 }],
    });

    const first = ptaskChild(ws, 'run', 't');
    await waitFor('two items running, their process groups recorded', () => readLines(starts).length === 2 && /^group\te#0\t/m.test(recordsText(ws, 't')) && /^group\te#1\t/m.test(recordsText(ws, 't')));
    first.child.kill('SIGKILL');
    await first.exited;
    const pids = readLines(starts).map((line) => Number(line.split(' ')[1]));
    assert.ok(pids.every(pidAlive), 'the items outlive their runner (their slots hold them)');

    // Pause all before the resumed runner first looks at the control files: it adopts both items,
    // then pauses at the first boundary, before the step (and so its adopted items) is reached.
    // `ptask resume` refuses while pause-all is on: the runner is started as a controller starts it,
    // after its own write of control.json.
    assert.equal(ptask(ws, 'pause-all').code, 0);
    const paused = ptask(ws, '__runner', 'resume', 't');
    assert.equal(paused.code, 2, paused.stdout + paused.stderr);
    assert.match(paused.stdout + paused.stderr, /Adopting what the lost runner left: 2 attempt\(s\) still running/);
    const s = status(ws, 't');
    assert.equal(s.status, 'paused');
    assert.equal(s.pausedBy, 'global');
    // Not stopped: the items still run, and their records (with no end) are there for the next runner.
    assert.deepEqual(pids.map(pidAlive), [true, true], 'the adopted items were not stopped');
    const records = recordsText(ws, 't');
    assert.match(records, /^start\te#0\t/m);
    assert.match(records, /^start\te#1\t/m);
    assert.doesNotMatch(records, /^end\t/m, 'no attempt ended');
    const report = JSON.parse(ptask(ws, 'items', 't', 'e', '--json').stdout);
    assert.deepEqual([report.done, report.failed], [0, 0]);

    // The next runner (resume-all starts it, detached) adopts the two, still running.
    assert.equal(ptask(ws, 'resume-all').code, 0);
    const resumed = await waitFor('the next runner to adopt both', () => {
      const now = status(ws, 't');
      return now.status === 'running' && now.adopted && now;
    });
    assert.deepEqual(resumed.adopted, { running: 2, ended: 0 });
    assert.equal(readLines(starts).length, 2, 'nothing started again while the gate is shut');
    fs.writeFileSync(gate, '');
    await waitFor('the task to complete', () => status(ws, 't').status === 'completed');
    await waitFor('the runner to let go', () => !fs.existsSync(ws.file('t', 'runner.lock')));

    const started = countOf(readLines(starts).map((line) => line.split(' ')[0]));
    assert.deepEqual([...started].filter(([, n]) => n > 1), [], 'no item started twice');
    assert.deepEqual([...countOf(readLines(marks))].sort(), items.map((item) => [item, 1]), 'every item done, once');
    const done = ws.readJson('t', 'checkpoint.json').completed.find((c: { id: string }) => c.id === 'e');
    assert.equal(done?.items, items.length);
    const log = fs.readFileSync(ws.file('t', 'runner.log'), 'utf8');
    assert.match(log, /Completed 't'/);
    assert.doesNotMatch(log, /✗|failed/, 'no item failed');
    assert.ok(!fs.existsSync(ws.file('t', 'attempts')), 'the records go once the run has committed them');
  });
});
