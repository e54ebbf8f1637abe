import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KEEP_SNAPSHOTS, listSnapshots, loadCheckpoint } from '../../src/protocol/checkpoint';
import { taskPaths } from '../../src/protocol/paths';
import type { Checkpoint, CompletedStep } from '../../src/protocol/schemas';
import { CommitLog } from '../../src/runner/commitLog';

const base = (): Checkpoint => ({
  v: 1, taskId: 't', runId: 'r', reason: 'started', writtenAt: new Date().toISOString(), definitionHash: 'h',
  definition: {}, journalSeq: 0, completed: [], unfinished: null,
});
const done = (i: number): CompletedStep => ({
  id: `s${i}`, index: i, exitCode: 0, attempts: 1, startedAt: 'a', endedAt: 'b', durationMs: 1,
});

describe('checkpoint: journal and snapshots', () => {
  let dir: string;
  let paths: ReturnType<typeof taskPaths>;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-cp-'));
    paths = taskPaths(path.join(dir, '.tasks'), 't');
    fs.mkdirSync(paths.runDir, { recursive: true });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('folds the journal into what readers see, and compacts it as it grows', async () => {
    const w = new CommitLog(paths, base(), 0);
    w.snapshot('started', { unfinished: null });
    for (let i = 0; i < 10; i++) await w.commitStep(done(i));
    await w.flush();
    const mid = loadCheckpoint(paths);
    assert.ok(mid.ok);
    assert.equal(mid.value.checkpoint.completed.length, 10);
    assert.equal(mid.value.journalEntries, 10);
    for (let i = 10; i < 300; i++) await w.commitStep(done(i));
    w.snapshot('paused', { unfinished: null });
    w.close();
    const end = loadCheckpoint(paths);
    assert.ok(end.ok);
    assert.deepEqual(end.value.checkpoint.completed.map((s) => s.index), [...Array(300).keys()]);
    assert.equal(end.value.journalEntries, 0);
    assert.equal(fs.statSync(paths.journal).size, 0);
    assert.ok(listSnapshots(paths.checkpointsDir).length <= KEEP_SNAPSHOTS);
    assert.ok(listSnapshots(paths.checkpointsDir).length >= 3, 'earlier snapshots are kept');
  });

  it('a reader that meets a snapshot landing between its two reads reads the pair again', async () => {
    const w = new CommitLog(paths, base(), 0);
    w.snapshot('started', { unfinished: null });
    for (let i = 0; i < 5; i++) await w.commitStep(done(i));
    await w.flush();
    const older = fs.readFileSync(paths.checkpoint);
    // A compaction, then one more commit: journal.jsonl restarts after entry 5.
    w.snapshot('paused', { unfinished: null });
    await w.commitStep(done(5));
    await w.flush();
    w.close();
    const newer = fs.readFileSync(paths.checkpoint);
    fs.writeFileSync(paths.checkpoint, older);
    // The runner's rename of the newer snapshot lands just as the reader reads the journal.
    // The module object itself: the readers' `fs` bindings read through to it.
    const nodeFs: typeof fs = require('node:fs');
    const readFileSync = nodeFs.readFileSync;
    let landed = false;
    nodeFs.readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
      if (!landed && args[0] === paths.journal) {
        landed = true;
        fs.writeFileSync(`${paths.checkpoint}.new`, newer);
        fs.renameSync(`${paths.checkpoint}.new`, paths.checkpoint);
      }
      return readFileSync(...args);
    }) as typeof fs.readFileSync;
    try {
      const r = loadCheckpoint(paths);
      assert.ok(landed);
      assert.ok(r.ok, !r.ok ? r.error.message : '');
      assert.deepEqual(r.value.checkpoint.completed.map((s) => s.index), [0, 1, 2, 3, 4, 5]);
    } finally {
      nodeFs.readFileSync = readFileSync;
    }
  });

  it('ignores a last journal line cut short by a crash', async () => {
    const w = new CommitLog(paths, base(), 0);
    w.snapshot('started', { unfinished: null });
    await w.commitStep(done(0));
    await w.flush();
    w.close();
    fs.appendFileSync(paths.journal, '{"seq":2,"type":"step-comp');
    const r = loadCheckpoint(paths);
    assert.ok(r.ok);
    assert.equal(r.value.tornTail, true);
    assert.equal(r.value.checkpoint.completed.length, 1);
  });

  it('skips journal entries already in the snapshot (crash between snapshot and truncation)', async () => {
    const w = new CommitLog(paths, base(), 0);
    w.snapshot('started', { unfinished: null });
    await w.commitStep(done(0));
    await w.flush();
    const journal = fs.readFileSync(paths.journal, 'utf8');
    w.snapshot('paused', { unfinished: null });
    w.close();
    fs.writeFileSync(paths.journal, journal); // the truncation "did not happen"
    const r = loadCheckpoint(paths);
    assert.ok(r.ok);
    assert.equal(r.value.checkpoint.completed.length, 1);
  });

  it('refuses a truncated or hand-edited checkpoint, naming the file', () => {
    const w = new CommitLog(paths, base(), 0);
    w.snapshot('started', { unfinished: null });
    w.close();
    const text = fs.readFileSync(paths.checkpoint, 'utf8');
    fs.writeFileSync(paths.checkpoint, text.slice(0, text.length / 2));
    const cut = loadCheckpoint(paths);
    assert.ok(!cut.ok && cut.error.message.startsWith(paths.checkpoint) && /not valid JSON/.test(cut.error.message));
    fs.writeFileSync(paths.checkpoint, text.replace('"completed": []', '"completed": "all"'));
    const edited = loadCheckpoint(paths);
    assert.ok(!edited.ok && /completed: /.test(edited.error.message));
  });

  it('refuses a journal with a damaged line in the middle', async () => {
    const w = new CommitLog(paths, base(), 0);
    w.snapshot('started', { unfinished: null });
    await w.commitStep(done(0));
    await w.flush();
    w.close();
    fs.writeFileSync(paths.journal, 'garbage\n' + fs.readFileSync(paths.journal, 'utf8'));
    const r = loadCheckpoint(paths);
    assert.ok(!r.ok && /journal\.jsonl: line 1: not valid JSON/.test(r.error.message));
  });
});
