import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

/** How often each "<label> <unit>" of test/fixtures/units.js was done. */
function unitCounts(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readLines(file)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

describe('runner: pausing in the middle of a step, with its saved state', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks.txt');
  });
  afterEach(() => ws.cleanup());

  it('a step that sees TASK_PAUSE_REQUESTED saves its state and exits 75: paused in the step; resume hands the state back and no unit is done twice', async () => {
    ws.define('t', { env: { MARKS: marks }, steps: [{ id: 'long', run: `${fixture('units.js')} u 60 30` }, { id: 'after', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('some units done', () => readLines(marks).length >= 5);
    const paused = ptask(ws, 'pause', 't', '--wait', '--timeout', '20');
    assert.equal(paused.code, 0, paused.stderr);
    const done = readLines(marks).length;
    assert.ok(done < 60, 'paused before the step ended');
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.equal(checkpoint.unfinished.id, 'long');
    assert.equal(checkpoint.unfinished.outcome, 'paused');
    assert.equal(checkpoint.unfinished.exitCode, 75);
    assert.deepEqual(checkpoint.unfinished.state, { next: done });
    assert.equal(status(ws, 't').reason, "paused in step 'long'");

    fs.rmSync(ws.file('t', 'steps'), { recursive: true }); // another machine: the checkpoint hands the state back
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    const counts = unitCounts(marks);
    assert.equal(counts.size, 60);
    for (const [unit, n] of counts) assert.equal(n, 1, `${unit} done once`);
  });

  it('items that pause themselves are neither done nor failed: each keeps its own state, and resume carries on in each', async () => {
    ws.define('t', {
      env: { MARKS: marks },
      steps: [{ id: 'each', run: `${fixture('units.js')} "$ITEM" 30 30`, forEach: { items: ['a', 'b', 'c', 'd', 'e'] }, concurrency: 2 }],
    });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('both items in flight part way', () => readLines(marks).some((l) => l.startsWith('a ')) && readLines(marks).some((l) => l.startsWith('b ')));
    assert.equal(ptask(ws, 'pause', 't', '--wait', '--timeout', '20').code, 0);
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    const batch = checkpoint.batch;
    assert.deepEqual(batch.failed, [], 'a paused item is not failed');
    const inFlight = Object.keys(batch.states ?? {}).map(Number);
    assert.ok(inFlight.length >= 1, 'the items paused part way have their state in the checkpoint');
    for (const index of inFlight) {
      const item = batch.items[index];
      const doneUnits = readLines(marks).filter((l) => l.startsWith(`${item} `)).length;
      assert.ok(doneUnits < 30, `item ${item} stopped part way`);
      assert.deepEqual(batch.states[index].state, { next: doneUnits });
    }

    fs.rmSync(ws.file('t', 'steps'), { recursive: true });
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    const counts = unitCounts(marks);
    assert.equal(counts.size, 5 * 30);
    for (const [unit, n] of counts) assert.equal(n, 1, `${unit} done once`);
  });

  it('exit 75 with no pause pending is an ordinary failure', () => {
    ws.define('t', { steps: [{ id: 'a', run: 'exit 75' }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exit code 75/);
  });
});
