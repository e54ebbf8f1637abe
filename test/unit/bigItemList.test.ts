import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCheckpoint } from '../../src/protocol/checkpoint';
import { ItemProgress } from '../../src/protocol/itemProgress';
import { taskPaths } from '../../src/protocol/paths';
import type { Checkpoint } from '../../src/protocol/schemas';
import { CommitLog } from '../../src/runner/commitLog';

describe('checkpoint: a forEach of 1,000,000 items', () => {
  let dir: string;
  let paths: ReturnType<typeof taskPaths>;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-items-'));
    paths = taskPaths(path.join(dir, '.tasks'), 't');
    fs.mkdirSync(paths.runDir, { recursive: true });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('freezes the list once in its own file; checkpoint.json stays under 1 MB and the cost per item flat', async function () {
    this.timeout(120_000);
    const n = 1_000_000;
    const items = Array.from({ length: n }, (_, i) => `data/chunk-${String(i).padStart(7, '0')}.txt`);
    const base: Checkpoint = { v: 1, taskId: 't', runId: 'r', reason: 'started', writtenAt: new Date().toISOString(), definitionHash: 'h', definition: {}, journalSeq: 0, completed: [], unfinished: null };
    const log = new CommitLog(paths, base, 0);
    log.snapshot('started', { unfinished: null });
    assert.ok(log.startBatch(ItemProgress.create('s', { file: 'list' }, items, 's.json'), { unfinished: null }));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(paths.itemsDir, 's.json'), 'utf8')).length, n);
    let largest = 0;
    let compactions = 0;
    let previous = 0;
    const quarter: number[] = [];
    let t = performance.now();
    for (let i = 0; i < n; i++) {
      log.commitItemDone(i);
      const size = fs.statSync(paths.journal).size;
      if (size < previous) {
        compactions++;
        largest = Math.max(largest, fs.statSync(paths.checkpoint).size);
      }
      previous = size;
      if ((i + 1) % (n / 4) === 0) {
        quarter.push(performance.now() - t);
        t = performance.now();
      }
    }
    await log.flush();
    log.snapshot('paused', { unfinished: null });
    log.close();
    largest = Math.max(largest, fs.statSync(paths.checkpoint).size);
    assert.ok(largest < 1024 * 1024, `checkpoint.json grew to ${largest} bytes`);
    // The journal is folded once it holds a quarter as many bytes as there are items: about 60 bytes a line, so at most ~250 folds.
    assert.ok(compactions >= 1 && compactions <= 300, `${compactions} compactions`);
    // Flat: the last quarter of the items costs no more than twice the first (snapshots do not grow with what is done).
    assert.ok(quarter[3] < quarter[0] * 2 + 200, `quarters ${quarter.map((q) => q.toFixed(0)).join(', ')} ms`);
    const loaded = loadCheckpoint(paths);
    assert.ok(loaded.ok, !loaded.ok ? loaded.error.message : '');
    assert.equal(loaded.value.checkpoint.batch!.done, `0-${n - 1}`);
    assert.equal(loaded.value.checkpoint.batch!.items, undefined, 'the list is not in the checkpoint');
    assert.equal(loaded.value.batch!.total, n);
    assert.equal(loaded.value.batch!.loaded, false, 'readers count without reading the list');
  });
});
