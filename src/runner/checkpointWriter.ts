/**
 * Durable progress at every step boundary at a cost that does not grow with the steps done:
 * each completed step is one line appended to `journal.jsonl`; the journal is folded into a
 * `checkpoint.json` snapshot when it has grown as long as the snapshot (so the snapshot's O(n)
 * write is amortised to O(1) a step), and whenever the runner stops. The snapshot replaced is
 * kept under `checkpoints/` (the last KEEP_SNAPSHOTS).
 *
 * Durability: the journal line is written before the next step starts, so it survives a crash of
 * the runner (kill -9). Its fdatasync runs on a worker thread while the next step starts, and is
 * awaited before the next commit and before any snapshot: after a power loss, at most the step
 * committed just before the one in flight may run again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomicSync } from '../protocol/jsonFile';
import type { TaskPaths } from '../protocol/paths';
import type { Checkpoint, CompletedStep, UnfinishedStep } from '../protocol/schemas';

export const KEEP_SNAPSHOTS = 20;
const MIN_COMPACTION = 64;

export class CheckpointWriter {
  private journalFd: number;
  private seq: number;
  private unsynced = false;
  private syncing: Promise<void> | undefined;
  private journalLength = 0;

  constructor(private readonly paths: TaskPaths, private checkpoint: Checkpoint, lastSeq: number, journalEntries: number) {
    this.seq = lastSeq;
    this.journalLength = journalEntries;
    this.journalFd = fs.openSync(paths.journal, 'a');
  }

  get current(): Checkpoint {
    return this.checkpoint;
  }

  async commitStep(step: CompletedStep): Promise<void> {
    await this.syncing; // the previous commit is on disk before this one is promised
    this.seq += 1;
    fs.writeSync(this.journalFd, JSON.stringify({ seq: this.seq, type: 'step-completed', step }) + '\n');
    this.checkpoint.completed.push(step);
    this.journalLength += 1;
    if (this.journalLength >= Math.max(MIN_COMPACTION, this.checkpoint.completed.length - this.journalLength)) {
      this.snapshot('compaction', this.checkpoint.unfinished);
    } else {
      this.unsynced = true;
      this.syncing = this.syncJournal();
    }
  }

  private syncJournal(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.unsynced = false;
      fs.fdatasync(this.journalFd, (err) => (err ? reject(err) : resolve()));
    }).finally(() => {
      this.syncing = undefined;
    });
  }

  async flush(): Promise<void> {
    await this.syncing;
    if (this.unsynced) await this.syncJournal();
  }

  /** Fold the journal into a new durable checkpoint.json; keep the one it replaces. */
  snapshot(reason: Checkpoint['reason'], unfinished: UnfinishedStep | null): void {
    const next: Checkpoint = { ...this.checkpoint, reason, writtenAt: new Date().toISOString(), journalSeq: this.seq, unfinished };
    keepPrevious(this.paths);
    writeJsonAtomicSync(this.paths.checkpoint, next, { durable: true });
    // Entries up to journalSeq are in the snapshot now; a crash before this truncation is harmless.
    fs.ftruncateSync(this.journalFd, 0);
    this.checkpoint = next;
    this.journalLength = 0;
    this.unsynced = false;
  }

  close(): void {
    fs.closeSync(this.journalFd);
  }
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
