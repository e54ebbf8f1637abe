import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: pause all and resume all', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it('pauses three running tasks at their next boundary (forEach: no new item), starts none, and resume all brings back exactly those three', async () => {
    ws = workspace();
    const marksOf = (id: string) => path.join(ws.root, `${id}.marks`);
    const gate = path.join(ws.root, 'gate');
    const items = (n: number) => Array.from({ length: n }, (_, i) => String(i));
    ws.define('swarm', { env: { MARKS: marksOf('swarm'), ITEM_MS: '150' }, steps: [{ id: 'each', run: fixture('item.js'), forEach: { items: items(40) }, concurrency: 4 }] });
    ws.define('serial', { env: { MARKS: marksOf('serial'), ITEM_MS: '150' }, steps: [{ id: 'each', run: fixture('item.js'), forEach: { items: items(12) } }, { id: 'then', run: 'true' }] });
    ws.define('chain', { env: { MARKS: marksOf('chain'), GATE: gate }, steps: [{ id: 'wait', run: `${fixture('gate.js')} wait` }, { id: 'then', run: 'true' }] });
    ws.define('mine', { env: { MARKS: marksOf('mine'), GATE: gate }, steps: [{ id: 'wait', run: `${fixture('gate.js')} wait` }, { id: 'then', run: 'true' }] });
    ws.define('later', { steps: [{ id: 'x', run: 'true' }] });

    // A task a person paused before pause-all: resume all must leave it paused.
    assert.equal(ptask(ws, 'run', 'mine', '--detach').code, 0);
    await waitFor('mine to start', () => readLines(marksOf('mine')).length === 1);
    assert.equal(ptask(ws, 'pause', 'mine').code, 0);
    for (const id of ['swarm', 'serial', 'chain']) assert.equal(ptask(ws, 'run', id, '--detach').code, 0);
    await waitFor('items in flight', () => readLines(marksOf('swarm')).length >= 6 && readLines(marksOf('serial')).length >= 1 && readLines(marksOf('chain')).length === 1);

    assert.equal(ptask(ws, 'pause-all').code, 0);
    const blocked = ptask(ws, 'run', 'later');
    assert.equal(blocked.code, 2);
    assert.match(blocked.stderr, /pause-all is on/);
    fs.writeFileSync(gate, ''); // the steps in flight end; their tasks then pause
    for (const id of ['swarm', 'serial', 'chain', 'mine']) await waitFor(`${id} paused`, () => status(ws, id).status === 'paused');
    for (const id of ['swarm', 'serial', 'chain']) assert.equal(status(ws, id).pausedBy, 'global', id);
    assert.equal(status(ws, 'mine').pausedBy, 'user');
    for (const id of ['swarm', 'serial']) {
      const starts = readLines(marksOf(id)).filter((l) => l.startsWith('start ')).length;
      const ends = readLines(marksOf(id)).filter((l) => l.startsWith('end ')).length;
      const done = ws.readJson(id, 'checkpoint.json').batch.done;
      assert.equal(starts, ends, `${id}: the items in flight finished`);
      assert.equal(done, `0-${starts - 1}`, `${id}: the items done are the ones started; no item started after the pause`);
      assert.ok(starts < (id === 'swarm' ? 40 : 12), `${id} paused part way`);
    }
    assert.equal(ptask(ws, 'resume', 'later').code, 64, 'a task that never ran is not resumed');
    assert.equal(ptask(ws, 'run', 'later').code, 2);

    const r = ptask(ws, 'resume-all');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /resumed chain, serial, swarm$/m);
    for (const id of ['swarm', 'serial', 'chain']) await waitFor(`${id} completed`, () => status(ws, id).status === 'completed', 30_000);
    assert.equal(status(ws, 'mine').status, 'paused');
    assert.equal(status(ws, 'later').status, 'idle');
    for (const id of ['swarm', 'serial']) {
      const starts = readLines(marksOf(id)).filter((l) => l.startsWith('start ')).map((l) => Number(l.split(' ')[1]));
      assert.deepEqual(starts.sort((a, b) => a - b), items(id === 'swarm' ? 40 : 12).map(Number), `${id}: every item ran once`);
    }
  });
});
