/**
 * Durable progress at every step and item boundary at a cost that does not grow with what is done:
 * each completed step, and each finished item of a forEach step, is one line appended to
 * `journal.jsonl`; the journal is folded into a `checkpoint.json` snapshot when it has grown as
 * large (in bytes) as that snapshot, so the snapshot's O(n) write is amortised to O(1) a commit,
 * and whenever the runner stops. The snapshot replaced is kept under `checkpoints/` (the last
 * KEEP_SNAPSHOTS).
 *
 * Durability: a journal line is written before the next step or item starts, so it survives a
 * crash of the runner (kill -9). Its fdatasync runs on a worker thread. A step commit waits for
 * the previous commits' sync first: after a power loss, at most the step committed just before the
 * one in flight may run again. Item commits do not wait, and one sync covers every line written
 * since the last one, at most every ITEM_SYNC_INTERVAL_MS (group commit): after a power loss, the
 * items committed in the last moment (at most that interval and one sync) may run again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ItemProgress } from '../protocol/itemProgress';
import { writeJsonAtomicSync } from '../protocol/jsonFile';
import type { TaskPaths } from '../protocol/paths';
import type { Checkpoint, CompletedStep, FailedItem, FailurePause, JournalRecord, UnfinishedStep } from '../protocol/schemas';
import { noRedaction, type Redact } from '../protocol/secrets';
import { asWriteError, WriteError } from '../protocol/writeError';

export const KEEP_SNAPSHOTS = 20;
/** The journal is not folded before it is this long: small snapshots are not worth rewriting often. */
const MIN_COMPACTION_BYTES = 16 * 1024;
/** Items that finish faster than this share one fdatasync: a sync an item would cost more than a trivial item. */
const ITEM_SYNC_INTERVAL_MS = 100;

/** What a snapshot records about how the run stopped. */
export interface StopRecord {
  unfinished: UnfinishedStep | null;
  failurePause?: FailurePause;
}

export interface WriterOptions {
  /** Masks secret values in the reasons and errors written (see protocol/secrets). */
  redact?: Redact;
  /**
   * A compaction could not be written (a full disk). Nothing is lost: the journal and the last
   * snapshot still hold everything; the journal just goes on growing until a snapshot succeeds.
   */
  onCompactionError?: (err: WriteError) => void;
}

/** Read, append, create, and never through a symbolic link. */
const JOURNAL_FLAGS = fs.constants.O_RDWR | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

export class CheckpointWriter {
  private readonly journalFd: number;
  private seq: number;
  private journalBytes: number;
  private snapshotBytes: number;
  private syncing: Promise<void> | undefined;
  /** Lines written since the sync in flight (or the last one) started. */
  private unsynced = false;
  /** A sync of item commits, waiting for the interval since the last one. */
  private syncTimer: NodeJS.Timeout | undefined;
  private lastSyncAt = -Infinity;
  private syncError: Error | undefined;
  /** The forEach step in progress, written into every snapshot. */
  private itemProgress: ItemProgress | null;
  /** A compaction failed: no more are tried until a snapshot succeeds (each would write the whole snapshot again). */
  private compactionFailed = false;
  private readonly redact: Redact;

  constructor(private readonly paths: TaskPaths, private checkpoint: Checkpoint, lastSeq: number, batch: ItemProgress | null = null, private readonly options: WriterOptions = {}) {
    this.seq = lastSeq;
    this.itemProgress = batch;
    this.redact = options.redact ?? noRedaction;
    this.journalFd = fs.openSync(paths.journal, JOURNAL_FLAGS, 0o644);
    this.journalBytes = dropTornTail(this.journalFd);
    this.snapshotBytes = fs.statSync(paths.checkpoint, { throwIfNoEntry: false })?.size ?? 0;
  }

  get current(): Checkpoint {
    return this.checkpoint;
  }

  get batch(): ItemProgress | null {
    return this.itemProgress;
  }

  /** Throws (a WriteError when the disk failed) when the step could not be committed: nothing of it is recorded. */
  async commitStep(step: CompletedStep): Promise<void> {
    await this.flush(); // the previous commits are on disk before this one is promised
    this.writeLine({ type: 'step-completed', step });
    this.checkpoint.completed.push(step);
    if (this.itemProgress?.stepId === step.id) this.itemProgress = null;
    this.afterLine(false);
  }

  /** A forEach step starts: its frozen item list goes into a durable snapshot before any item runs. */
  startBatch(batch: ItemProgress, stop: StopRecord): void {
    this.itemProgress = batch;
    this.snapshot('items-resolved', stop);
  }

  /** Throws, as commitStep, when the item could not be committed: it stays to run. */
  commitItemDone(index: number): void {
    this.writeLine({ type: 'item-done', stepId: this.itemProgress!.stepId, index });
    this.itemProgress!.markDone(index);
    this.afterLine(true);
  }

  commitItemFailed(failure: FailedItem): void {
    const masked = { ...failure, error: this.redact(failure.error) };
    const { index, attempts, error, endedAt } = masked;
    this.writeLine({ type: 'item-failed', stepId: this.itemProgress!.stepId, index, attempts, error, endedAt: endedAt! });
    this.itemProgress!.markFailed(masked);
    this.afterLine(true);
  }

  /**
   * Append one entry, or throw with nothing recorded: a line only partly written (the disk filled
   * up during the write) is cut off again, or the next one would be glued to it.
   */
  private writeLine(record: JournalRecord): void {
    if (this.syncError) throw this.syncError;
    const line = Buffer.from(JSON.stringify({ seq: this.seq + 1, ...record }) + '\n');
    let written: number;
    try {
      written = fs.writeSync(this.journalFd, line);
    } catch (err) {
      throw asWriteError(err, this.paths.journal, true) ?? err;
    }
    if (written < line.length) {
      fs.ftruncateSync(this.journalFd, this.journalBytes);
      throw new WriteError(this.paths.journal, 'ENOSPC');
    }
    this.seq += 1;
    this.journalBytes += line.length;
  }

  /** After a line: fold the journal into a snapshot when it is large enough, else have the line synced. */
  private afterLine(isItem: boolean): void {
    if (this.compactionFailed || this.journalBytes < Math.max(MIN_COMPACTION_BYTES, this.snapshotBytes)) return this.requestSync(isItem);
    try {
      // Progress: the compaction records no failure pause.
      this.snapshot('compaction', { unfinished: this.checkpoint.unfinished });
    } catch (err) {
      const failed = asWriteError(err);
      if (!failed) throw err;
      this.compactionFailed = true;
      this.requestSync(isItem); // the line is committed all the same
      this.options.onCompactionError?.(failed);
    }
  }

  /** Start an fdatasync, or have one follow the sync in flight (for items: no sooner than the interval). */
  private requestSync(deferrable: boolean): void {
    this.unsynced = true;
    if (this.syncing || this.syncTimer) return;
    const wait = deferrable ? this.lastSyncAt + ITEM_SYNC_INTERVAL_MS - performance.now() : 0;
    if (wait > 0) this.syncTimer = setTimeout(() => this.startSync(), wait);
    else this.startSync();
  }

  private startSync(): void {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    this.unsynced = false;
    this.lastSyncAt = performance.now();
    this.syncing = new Promise<void>((resolve) => {
      fs.fdatasync(this.journalFd, (err) => {
        if (err) this.syncError ??= asWriteError(err, this.paths.journal, true) ?? err;
        this.syncing = undefined;
        if (this.unsynced && !this.syncError) this.requestSync(true);
        resolve();
      });
    });
  }

  /** Every line written so far is on disk. */
  async flush(): Promise<void> {
    if (this.syncTimer) this.startSync();
    while (this.syncing) {
      await this.syncing;
      if (this.syncTimer) this.startSync();
    }
    if (this.syncError) throw this.syncError;
  }

  /**
   * Fold the journal into a new durable checkpoint.json; keep the one it replaces. When it cannot
   * be written (a WriteError), checkpoint.json and the journal are as they were: still the truth.
   */
  snapshot(reason: Checkpoint['reason'], stop: StopRecord): void {
    const { failurePause: _previous, batch: _batch, ...rest } = this.checkpoint;
    const unfinished = stop.unfinished?.error ? { ...stop.unfinished, error: this.redact(stop.unfinished.error) } : stop.unfinished;
    const failurePause = stop.failurePause && { ...stop.failurePause, reason: this.redact(stop.failurePause.reason) };
    const next: Checkpoint = {
      ...rest,
      reason,
      writtenAt: new Date().toISOString(),
      journalSeq: this.seq,
      unfinished,
      ...(failurePause ? { failurePause } : {}),
      ...(this.itemProgress ? { batch: this.itemProgress.toCheckpoint() } : {}),
    };
    try {
      keepPrevious(this.paths);
    } catch (err) {
      throw asWriteError(err, undefined, true) ?? err;
    }
    try {
      this.snapshotBytes = writeJsonAtomicSync(this.paths.checkpoint, next, { durable: true });
    } catch (err) {
      throw asWriteError(err, this.paths.checkpoint, true) ?? err;
    }
    this.compactionFailed = false;
    // Entries up to journalSeq are in the snapshot now; a crash before this truncation is harmless.
    fs.ftruncateSync(this.journalFd, 0);
    this.checkpoint = next;
    this.journalBytes = 0;
    this.unsynced = false;
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
  }

  close(): void {
    clearTimeout(this.syncTimer);
    fs.closeSync(this.journalFd);
  }
}

/**
 * A journal whose last line a crash cut short: cut it off, or the next entry would be appended to
 * it and make a damaged line in the middle. Returns the journal's length.
 */
function dropTornTail(fd: number): number {
  const size = fs.fstatSync(fd).size;
  if (size === 0) return 0;
  const text = fs.readFileSync(fd);
  const keep = text.lastIndexOf(0x0a) + 1;
  if (keep < size) fs.ftruncateSync(fd, keep);
  return keep;
}

/** Hard-link the current checkpoint.json into checkpoints/ (free, and atomic), then prune. */
export function keepPrevious(paths: TaskPaths): void {
  let stamp: string;
  let reason = 'snapshot';
  try {
    const stat = fs.statSync(paths.checkpoint);
    stamp = stat.mtime.toISOString().replace(/[-:]/g, '').replace('.', '');
    // The reason is in the first lines of the document: name the file after it for people.
    const head = fs.readFileSync(paths.checkpoint, 'utf8').slice(0, 300);
    reason = /"reason":\s*"([a-z-]+)"/.exec(head)?.[1] ?? reason;
  } catch {
    return; // no checkpoint yet
  }
  fs.mkdirSync(paths.checkpointsDir, { recursive: true });
  const target = path.join(paths.checkpointsDir, `${stamp}-${reason}.json`);
  try {
    fs.linkSync(paths.checkpoint, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    fs.copyFileSync(paths.checkpoint, target); // file systems without hard links
  }
  const names = fs.readdirSync(paths.checkpointsDir).filter((n) => n.endsWith('.json')).sort();
  for (const old of names.slice(0, Math.max(0, names.length - KEEP_SNAPSHOTS))) fs.rmSync(path.join(paths.checkpointsDir, old), { force: true });
}
