import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCheckpoint } from '../../src/protocol/checkpoint';
import { ItemProgress } from '../../src/protocol/itemProgress';
import { parseJsonText } from '../../src/protocol/jsonFile';
import { taskPaths } from '../../src/protocol/paths';
import { formatRanges, parseRanges } from '../../src/protocol/ranges';
import { checkpointSchema, type Checkpoint } from '../../src/protocol/schemas';
import { CommitLog } from '../../src/runner/commitLog';
import { ItemsError, resolveItems } from '../../src/runner/items';

describe('forEach items', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-items-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('resolution', () => {
    it('takes a list as written, numbers as their text', () => {
      assert.deepEqual(resolveItems({ items: ['a b', 7, 1.5, ''] }, dir), ['a b', '7', '1.5', '']);
    });

    it('reads one item a line from a file in the step folder, skipping blank lines and dropping "\\r"', () => {
      fs.writeFileSync(path.join(dir, 'list.txt'), 'one\r\n\n   \n two \nthree');
      assert.deepEqual(resolveItems({ file: 'list.txt' }, dir), ['one', ' two ', 'three']);
    });

    it('lists the files a glob matches, relative to the step folder', () => {
      fs.mkdirSync(path.join(dir, 'in'));
      for (const f of ['2.txt', '1.txt', 'x.md']) fs.writeFileSync(path.join(dir, 'in', f), '');
      assert.deepEqual(resolveItems({ glob: 'in/*.txt' }, dir), ['in/1.txt', 'in/2.txt']);
    });

    it('says which source cannot be read, and refuses an item with a NUL', () => {
      assert.throws(() => resolveItems({ file: 'none.txt' }, dir), (err: Error) => err instanceof ItemsError && /forEach\.file: .*none\.txt does not exist/.test(err.message));
      assert.throws(() => resolveItems({ glob: '*.txt' }, path.join(dir, 'nope')), /forEach\.glob: .*does not exist/);
      assert.throws(() => resolveItems({ items: ['ok', 'a\0b'] }, dir), /item 1 contains a NUL character/);
    });
  });

  describe('index ranges', () => {
    it('formats and parses', () => {
      const done = new Set([0, 1, 2, 5, 7, 8, 9]);
      const text = formatRanges(10, (i) => done.has(i));
      assert.equal(text, '0-2,5,7-9');
      assert.deepEqual(parseRanges(text, 10), [[0, 2], [5, 5], [7, 9]]);
      assert.equal(formatRanges(3, () => false), '');
      assert.deepEqual(parseRanges('', 0), []);
    });

    it('refuses ranges out of order, overlapping, reversed, beyond the items, or malformed', () => {
      assert.throws(() => parseRanges('5,3', 10), /comes before/);
      assert.throws(() => parseRanges('0-4,4-6', 10), /overlaps/);
      assert.throws(() => parseRanges('4-2', 10), /reversed/);
      assert.throws(() => parseRanges('0-10', 10), /beyond the last item \(9\)/);
      assert.throws(() => parseRanges('1,,2', 10), /is not an index/);
    });
  });

  describe('progress', () => {
    it('marks items done and failed; a done item is no longer failed; what is left to run includes the failed', () => {
      const p = ItemProgress.create('s', { items: [] }, ['a', 'b', 'c', 'd', 'e']);
      p.markDone(0);
      p.markFailed({ index: 2, item: 'c', attempts: 2, error: 'exit code 1' });
      p.markDone(4);
      p.markDone(4);
      assert.equal(p.doneCount, 2);
      assert.deepEqual(p.toRun(), [1, 2, 3]);
      const saved = p.toCheckpoint();
      assert.equal(saved.done, '0,4');
      assert.deepEqual(saved.failed.map((f) => f.index), [2]);
      const back = ItemProgress.fromCheckpoint(saved);
      back.markDone(2);
      assert.equal(back.failedCount, 0);
      assert.equal(back.toCheckpoint().done, '0,2,4');
    });

    it('a checkpoint whose item progress does not add up is refused, naming the field', () => {
      const batch = { stepId: 's', source: {}, resolvedAt: 't', total: 3, done: '0-3', failed: [{ index: 9, item: 'x', attempts: 1, error: 'e' }], items: ['a', 'b', 'c'] };
      const r = parseJsonText('checkpoint.json', JSON.stringify({ ...base(), batch }), checkpointSchema);
      assert.ok(!r.ok);
      assert.match(r.error.message, /batch\.done: "0-3" is beyond the last item \(2\)/);
      assert.match(r.error.message, /batch\.failed\[0\]\.index: is beyond the last item/);
    });
  });

  describe('in the checkpoint and journal', () => {
    let paths: ReturnType<typeof taskPaths>;
    beforeEach(() => {
      paths = taskPaths(path.join(dir, '.tasks'), 't');
      fs.mkdirSync(paths.runDir, { recursive: true });
    });

    const items = (n: number) => Array.from({ length: n }, (_, i) => `item-${i}`);

    it('freezes the list in a snapshot, commits each item to the journal, and readers fold them in', async () => {
      const w = new CommitLog(paths, base(), 0);
      w.snapshot('started', { unfinished: null });
      w.startBatch(ItemProgress.create('s', { glob: '*' }, items(10)), { unfinished: null });
      assert.equal(JSON.parse(fs.readFileSync(paths.checkpoint, 'utf8')).reason, 'items-resolved');
      for (const i of [0, 1, 2, 5]) w.commitItemDone(i);
      w.commitItemFailed({ index: 3, item: 'item-3', attempts: 1, error: 'exit code 2', endedAt: 'now' });
      await w.flush();
      const journal = fs.readFileSync(paths.journal, 'utf8').trim().split('\n');
      assert.equal(journal.length, 5, 'one line an item');
      const loaded = loadCheckpoint(paths);
      assert.ok(loaded.ok);
      assert.equal(loaded.value.checkpoint.batch!.done, '0-2,5');
      assert.deepEqual(loaded.value.checkpoint.batch!.failed, [{ index: 3, item: 'item-3', attempts: 1, error: 'exit code 2', endedAt: 'now' }]);
      assert.deepEqual(loaded.value.batch!.toRun(), [3, 4, 6, 7, 8, 9]);
      // The step completes: the batch is gone from what readers see.
      await w.commitStep({ id: 's', index: 0, exitCode: 0, attempts: 1, startedAt: 'a', endedAt: 'b', durationMs: 1, items: 10 });
      await w.flush();
      w.close();
      const after = loadCheckpoint(paths);
      assert.ok(after.ok);
      assert.equal(after.value.checkpoint.batch, null);
      assert.equal(after.value.batch, null);
    });

    it('folds the journal into a snapshot once it is as large as the snapshot: the per-item cost does not grow', async () => {
      const w = new CommitLog(paths, base(), 0);
      w.snapshot('started', { unfinished: null });
      const n = 20_000;
      w.startBatch(ItemProgress.create('s', { file: 'x' }, items(n)), { unfinished: null });
      const snapshotSize = fs.statSync(paths.checkpoint).size;
      let compactions = 0;
      let previousJournal = 0;
      for (let i = 0; i < n; i++) {
        w.commitItemDone(i);
        const size = fs.statSync(paths.journal).size;
        if (size < previousJournal) compactions++;
        previousJournal = size;
        assert.ok(size <= Math.max(16 * 1024, fs.statSync(paths.checkpoint).size) + 100, `journal ${size} bytes`);
      }
      await w.flush();
      w.close();
      assert.ok(compactions >= 1 && compactions <= Math.ceil((n * 60) / snapshotSize), `${compactions} compactions`);
      const loaded = loadCheckpoint(paths);
      assert.ok(loaded.ok);
      assert.equal(loaded.value.checkpoint.batch!.done, `0-${n - 1}`);
    });

    it('refuses a journal whose item entries do not belong to the checkpoint', async () => {
      const w = new CommitLog(paths, base(), 0);
      w.snapshot('started', { unfinished: null });
      w.close();
      fs.writeFileSync(paths.journal, '{"seq":1,"type":"item-done","stepId":"s","index":0}\n');
      const r = loadCheckpoint(paths);
      assert.ok(!r.ok && /journal\.jsonl: entry 1: item 0 of step "s" is not in the checkpoint's item list/.test(r.error.message));
    });

    it('cuts off a journal line that a crash cut short before appending after it', async () => {
      const w = new CommitLog(paths, base(), 0);
      w.snapshot('started', { unfinished: null });
      w.startBatch(ItemProgress.create('s', { items: [] }, items(3)), { unfinished: null });
      w.commitItemDone(0);
      await w.flush();
      w.close();
      fs.appendFileSync(paths.journal, '{"seq":2,"type":"item-do');
      const torn = loadCheckpoint(paths);
      assert.ok(torn.ok && torn.value.tornTail);
      const again = new CommitLog(paths, torn.value.checkpoint, torn.value.lastSeq, torn.value.batch);
      again.commitItemDone(1);
      await again.flush();
      again.close();
      const loaded = loadCheckpoint(paths);
      assert.ok(loaded.ok, !loaded.ok ? loaded.error.message : '');
      assert.equal(loaded.value.checkpoint.batch!.done, '0-1');
    });
  });
});

function base(): Checkpoint {
  return { v: 1, taskId: 't', runId: 'r', reason: 'started', writtenAt: new Date().toISOString(), definitionHash: 'h', definition: {}, journalSeq: 0, completed: [], unfinished: null };
}
