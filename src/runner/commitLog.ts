/**
 * Durable progress at every step and item boundary at a cost that does not grow with what is done:
 * each completed step, and each finished item of a forEach step, is one line appended to
 * `journal.jsonl`; the journal is folded into a `checkpoint.json` snapshot when it has grown as
 * large (in bytes) as that snapshot, so the snapshot's O(n) write is amortised to O(1) a commit,
 * and whenever the runner stops. The snapshot replaced is kept under `checkpoints/` (the last
 * KEEP_SNAPSHOTS).
 *
 * Durability: a journal line is written before the next step or item starts, so it survives a
 * crash of the runner (kill -9). Its fdatasync runs on a worker thread (a step's on this one). A step commit returns
 * once its line is synced: after a power loss, no step recorded done runs again. (A step whose
 * slot synced its end record before reporting it, and which wrote no outputs, has that record as
 * its durable commit: its line goes with the items' group commit.) Item commits do
 * not wait, and one sync covers every line written since the last one, at most every
 * ITEM_SYNC_INTERVAL_MS (group commit): after a power loss, the items committed in the last moment
 * (at most that interval and one sync) may run again.
 *
 * Every write failure, whenever it happens (a sync fails on its worker thread long after its
 * commit returned), goes to one place: `onWriteError`. A commit that fails returns false; it
 * recorded nothing, and every later commit fails too, so the runner can only pause.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ItemProgress } from '../protocol/itemProgress';
import { keepPrevious } from '../protocol/checkpoint';
import { writeJsonAtomicSync } from '../protocol/jsonFile';
import type { TaskPaths } from '../protocol/paths';
import type { BatchCheckpoint, Checkpoint, CompletedStep, FailedItem, FailurePause, JournalRecord, UnfinishedStep } from '../protocol/schemas';
import { noRedaction, type Redact } from '../protocol/secrets';
import { asWriteError, WriteError } from '../protocol/writeError';

/** The journal is not folded before it is this long: small snapshots are not worth rewriting often. */
const MIN_COMPACTION_BYTES = 16 * 1024;
/** Items that finish faster than this share one fdatasync: a sync an item would cost more than a trivial item. */
const ITEM_SYNC_INTERVAL_MS = 100;

/** What a snapshot records about how the run stopped. */
export interface StopRecord {
  unfinished: UnfinishedStep | null;
  /** The other steps a graph leaves unfinished at once. */
  alsoUnfinished?: UnfinishedStep[];
  failurePause?: FailurePause;
}

export interface CommitLogOptions {
  /** Masks secret values in the reasons and errors written (see protocol/secrets). */
  redact?: Redact;
  /** The one path of every write failure: a commit, a sync, a compaction or a snapshot that could not be written. */
  onWriteError?: (err: WriteError) => void;
}

/** Read, append, create, and never through a symbolic link. */
const JOURNAL_FLAGS = fs.constants.O_RDWR | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

export class CommitLog {
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
  /** Nothing more is written (the run folder is another run's now). */
  private muted = false;
  /** The first write that failed: nothing is committed after it. */
  private firstFailure: WriteError | undefined;
  /** The forEach step in progress, written into every snapshot. */
  private itemProgress: ItemProgress | null;
  /** A compaction failed: no more are tried until a snapshot succeeds (each would write the whole snapshot again). */
  private compactionFailed = false;
  private readonly redact: Redact;

  constructor(private readonly paths: TaskPaths, private checkpoint: Checkpoint, lastSeq: number, batch: ItemProgress | null = null, private readonly options: CommitLogOptions = {}) {
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

  /** The write that failed a commit, if one did. */
  get failure(): WriteError | undefined {
    return this.firstFailure;
  }

  /**
   * The step is committed, and synced with everything before it when this returns: after a power
   * loss, no step recorded done runs again. False: nothing of it is recorded. (A sync that fails
   * after the line was written is reported as any write failure: the line is there, and the task
   * pauses; the final snapshot then makes it durable if the disk lets it.)
   */
  async commitStep(step: CompletedStep, endSynced = false): Promise<boolean> {
    if (!this.writeLine({ type: 'step-completed', step })) return false;
    this.checkpoint.completed.push(step);
    if (this.itemProgress?.stepId === step.id) this.itemProgress = null;
    // Its slot synced its end record (and it wrote no outputs): that record is its durable commit
    // (a resume after a power loss commits the step from it), and this line joins the next sync.
    this.afterLine(endSynced);
    if (!endSynced) await this.flush();
    return true;
  }

  /**
   * A forEach step starts: its frozen item list goes into a durable snapshot before any item runs
   * (a large one into its own file first, written once, which the snapshots then name).
   */
  startBatch(batch: ItemProgress, stop: StopRecord): boolean {
    if (batch.itemsFile) {
      const file = path.join(this.paths.itemsDir, batch.itemsFile);
      try {
        fs.mkdirSync(this.paths.itemsDir, { recursive: true });
        // Owner-only: the one copy of items that hold a secret (the snapshots name the file).
        writeJsonAtomicSync(file, batch.items, { durable: true, mode: 0o600 });
      } catch (err) {
        const failed = asWriteError(err, file, true);
        if (!failed) throw err;
        this.options.onWriteError?.(failed);
        return false;
      }
    }
    const previous = this.itemProgress;
    this.itemProgress = batch;
    if (this.snapshot('items-resolved', stop)) return true;
    this.itemProgress = previous;
    return false;
  }

  /** False, as commitStep, when the item could not be committed: it stays to run. */
  commitItemDone(index: number): boolean {
    if (!this.writeLine({ type: 'item-done', stepId: this.itemProgress!.stepId, index })) return false;
    this.itemProgress!.markDone(index);
    this.afterLine(true);
    return true;
  }

  commitItemFailed(failure: FailedItem): boolean {
    const masked = { ...failure, item: this.redact(failure.item), error: this.redact(failure.error) };
    const { index, attempts, error, endedAt } = masked;
    if (!this.writeLine({ type: 'item-failed', stepId: this.itemProgress!.stepId, index, attempts, error, endedAt: endedAt! })) return false;
    this.itemProgress!.markFailed(masked);
    this.afterLine(true);
    return true;
  }

  /** Report a write failure, once: from then on nothing is committed. */
  private failed(err: WriteError): false {
    if (!this.firstFailure) {
      this.firstFailure = err;
      this.options.onWriteError?.(err);
    }
    return false;
  }

  /**
   * Append one entry, or record nothing: a line only partly written (the disk filled up during the
   * write) is cut off again, or the next one would be glued to it.
   */
  private writeLine(record: JournalRecord): boolean {
    if (this.firstFailure || this.muted) return false;
    const line = Buffer.from(JSON.stringify({ seq: this.seq + 1, ...record }) + '\n');
    let written: number;
    try {
      written = fs.writeSync(this.journalFd, line);
    } catch (err) {
      const failed = asWriteError(err, this.paths.journal, true);
      if (!failed) throw err;
      return this.failed(failed);
    }
    if (written < line.length) {
      fs.ftruncateSync(this.journalFd, this.journalBytes);
      return this.failed(new WriteError(this.paths.journal, 'ENOSPC'));
    }
    this.seq += 1;
    this.journalBytes += line.length;
    return true;
  }

  /**
   * After a line: fold the journal into a snapshot when it is large enough, else have the line
   * synced. A compaction that cannot be written loses nothing (the journal and the last snapshot
   * still hold everything): the line is committed all the same, and the failure reported.
   * `deferrable`: its sync may wait for the group commit (items, and steps with a synced end).
   */
  private afterLine(deferrable: boolean): void {
    // A snapshot costs its bytes and, with items, a pass over their marks: the journal pays for both first.
    if (this.compactionFailed || this.journalBytes < Math.max(MIN_COMPACTION_BYTES, this.snapshotBytes, (this.itemProgress?.total ?? 0) / 4)) return this.requestSync(deferrable);
    // Progress: the compaction records no failure pause.
    if (this.writeSnapshot('compaction', { unfinished: this.checkpoint.unfinished, alsoUnfinished: this.checkpoint.alsoUnfinished })) return;
    this.compactionFailed = true;
    this.requestSync(deferrable);
  }

  /** Start an fdatasync, or have one follow the sync in flight (for items: no sooner than the interval). */
  private requestSync(deferrable: boolean): void {
    this.unsynced = true;
    if (!deferrable && !this.syncing) return this.syncHere();
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
        this.syncing = undefined;
        if (err) this.failed(asWriteError(err, this.paths.journal, true) ?? new WriteError(this.paths.journal, err.code ?? 'EIO'));
        else if (this.unsynced) this.requestSync(true);
        resolve();
      });
    });
  }

  /**
   * A step waits for its sync: when none is in flight it is done on this thread (0.25 ms here),
   * not handed to a worker and back, which cost two wake-ups a step of a chain.
   */
  private syncHere(): void {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    this.unsynced = false;
    this.lastSyncAt = performance.now();
    try {
      fs.fdatasyncSync(this.journalFd);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.failed(asWriteError(err, this.paths.journal, true) ?? new WriteError(this.paths.journal, code ?? 'EIO'));
    }
  }

  /** Every line written so far is on disk; false when a write or a sync failed. */
  async flush(): Promise<boolean> {
    if (this.syncTimer) this.startSync();
    while (this.syncing) {
      await this.syncing;
      if (this.syncTimer) this.startSync();
    }
    return !this.firstFailure;
  }

  /**
   * Fold the journal into a new durable checkpoint.json; keep the one it replaces. False when it
   * could not be written: then checkpoint.json and the journal are as they were, still the truth.
   */
  snapshot(reason: Checkpoint['reason'], stop: StopRecord): boolean {
    return this.writeSnapshot(reason, stop);
  }

  /**
   * What a run writes when it stops: every line synced, then the snapshot, tried even after a
   * failed commit or sync (what is in memory is exactly what was committed, and a durable snapshot
   * of it is the best chance left to keep it).
   */
  async finalSnapshot(reason: Checkpoint['reason'], stop: StopRecord): Promise<boolean> {
    await this.flush();
    return this.writeSnapshot(reason, stop);
  }

  /** A failure's item text comes back from the list when it is loaded: masked again here. */
  private maskedBatch(progress: ItemProgress): BatchCheckpoint {
    const batch = progress.toCheckpoint();
    return { ...batch, failed: batch.failed.map((f) => ({ ...f, item: this.redact(f.item), error: this.redact(f.error) })) };
  }

  private writeSnapshot(reason: Checkpoint['reason'], stop: StopRecord): boolean {
    if (this.muted) return false;
    const { failurePause: _previous, batch: _batch, alsoUnfinished: _also, ...rest } = this.checkpoint;
    const masked = (u: UnfinishedStep) => (u.error ? { ...u, error: this.redact(u.error) } : u);
    const unfinished = stop.unfinished && masked(stop.unfinished);
    const alsoUnfinished = stop.alsoUnfinished?.length ? { alsoUnfinished: stop.alsoUnfinished.map(masked) } : {};
    const failurePause = stop.failurePause && { ...stop.failurePause, reason: this.redact(stop.failurePause.reason) };
    const next: Checkpoint = {
      ...rest,
      reason,
      writtenAt: new Date().toISOString(),
      journalSeq: this.seq,
      unfinished,
      ...alsoUnfinished,
      ...(failurePause ? { failurePause } : {}),
      ...(this.itemProgress ? { batch: this.maskedBatch(this.itemProgress) } : {}),
    };
    try {
      keepPrevious(this.paths);
      this.snapshotBytes = writeJsonAtomicSync(this.paths.checkpoint, next, { durable: true });
    } catch (err) {
      const failed = asWriteError(err, err instanceof Error && 'dest' in err ? undefined : this.paths.checkpoint, true);
      if (!failed) throw err;
      // Reported, but later commits may still go to the journal: a compaction failure loses nothing.
      this.options.onWriteError?.(failed);
      return false;
    }
    this.compactionFailed = false;
    // Entries up to journalSeq are in the snapshot now; a crash before this truncation is harmless.
    fs.ftruncateSync(this.journalFd, 0);
    this.checkpoint = next;
    this.journalBytes = 0;
    this.unsynced = false;
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    return true;
  }

  /** From now on write nothing: every commit fails, silently. */
  mute(): void {
    this.muted = true;
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
