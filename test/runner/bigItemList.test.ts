/** A forEach whose item list is too large to copy into every snapshot: frozen once in items/<step>.json; pause, resume and completion as usual. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: a forEach over a large item list', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  it('keeps the list out of the checkpoint, pauses, resumes, and runs each item once', async function () {
    this.timeout(120_000);
    const marks = path.join(ws.root, 'marks');
    const items = Array.from({ length: 3000 }, (_, i) => `data/chunk-${String(i).padStart(7, '0')}.txt`);
    fs.writeFileSync(path.join(ws.root, 'list.txt'), items.join('\n') + '\n');
    ws.define('t', { steps: [{ id: 'each', run: `echo "$ITEM_INDEX" >> ${JSON.stringify(marks)}`, forEach: { file: 'list.txt' }, concurrency: 4 }, { id: 'after', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('some items done', () => readLines(marks).length >= 300);
    assert.equal(ptask(ws, 'pause', 't', '--wait', '--timeout', '30').code, 0);
    assert.equal(status(ws, 't').status, 'paused');
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.equal(checkpoint.batch.items, undefined);
    assert.equal(checkpoint.batch.itemsFile, 'each.json');
    assert.ok(fs.statSync(ws.file('t', 'checkpoint.json')).size < 16 * 1024);
    assert.deepEqual(JSON.parse(fs.readFileSync(ws.file('t', path.join('items', 'each.json')), 'utf8')), items);
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const done = readLines(marks).map(Number).sort((a, b) => a - b);
    assert.deepEqual(done, [...items.keys()], 'each item once');
  });
});
