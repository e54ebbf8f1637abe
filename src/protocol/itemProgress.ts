/**
 * The progress of a forEach step in memory: its frozen item list, one mark an item (to do, done,
 * failed) and the failures. Marking is O(1); the checkpoint form (done items as index ranges) is
 * built only when a snapshot is written. Shared by the runner and the checkpoint reader, which
 * folds the journal's item entries into it.
 */
import { formatRanges, parseRanges } from './ranges';
import type { BatchCheckpoint, FailedItem } from './schemas';

// Marks start at 0: to do.
const DONE = 1;
const FAILED = 2;
/** Skipped by a person (`ptask skip-item`): settled without running. */
const SKIPPED = 3;

type SavedStates = NonNullable<BatchCheckpoint['states']>;

export class ItemProgress {
  private readonly marks: Uint8Array;
  private readonly failures = new Map<number, FailedItem>();
  doneCount = 0;
  skippedCount = 0;
  /** TASK_STEP_STATE of items that stopped part way, as last saved in a checkpoint. */
  states: SavedStates | undefined;

  /** `itemsFile`: the list is kept in items/<itemsFile> (too large for every snapshot); until `load`, readers know only the counts. */
  private constructor(readonly stepId: string, readonly source: unknown, readonly resolvedAt: string, private list: string[] | undefined, readonly total: number, readonly itemsFile?: string) {
    this.marks = new Uint8Array(total);
  }

  static create(stepId: string, source: unknown, items: string[], itemsFile?: string): ItemProgress {
    return new ItemProgress(stepId, source, new Date().toISOString(), items, items.length, itemsFile);
  }

  /** From a validated checkpoint (batchSchema checked the ranges and indexes). */
  static fromCheckpoint(batch: BatchCheckpoint): ItemProgress {
    const progress = new ItemProgress(batch.stepId, batch.source, batch.resolvedAt, batch.items, batch.total, batch.itemsFile);
    for (const [first, last] of parseRanges(batch.done, batch.total)) for (let i = first; i <= last; i++) progress.markDone(i);
    for (const failure of batch.failed) progress.markFailed(failure);
    if (batch.skipped) for (const [first, last] of parseRanges(batch.skipped, batch.total)) for (let i = first; i <= last; i++) progress.markSkipped(i);
    progress.states = batch.states;
    return progress;
  }

  /** The frozen list; kept in its own file, it must be `load`ed first (the runner does). */
  get items(): string[] {
    if (!this.list) throw new Error(`the items of step "${this.stepId}" are in items/${this.itemsFile}, not loaded`);
    return this.list;
  }

  get loaded(): boolean {
    return this.list !== undefined;
  }

  /** The list read from its file; failures recorded before it was known get their item's text. */
  load(items: string[]): void {
    this.list = items;
    for (const f of this.failures.values()) if (!f.item) f.item = items[f.index] ?? '';
  }

  /** An item's text, or "" while the list is not loaded (readers that only count). */
  itemAt(index: number): string {
    return this.list?.[index] ?? '';
  }

  get failedCount(): number {
    return this.failures.size;
  }

  isDone(index: number): boolean {
    return this.marks[index] === DONE;
  }

  isSkipped(index: number): boolean {
    return this.marks[index] === SKIPPED;
  }

  /** Every item done or skipped: the step completes. */
  get settled(): boolean {
    return this.doneCount + this.skippedCount === this.total;
  }

  failureOf(index: number): FailedItem | undefined {
    return this.failures.get(index);
  }

  /** Not to run (its input went away, say): settled without running. */
  markSkipped(index: number): void {
    this.reset(index);
    this.marks[index] = SKIPPED;
    this.skippedCount++;
  }

  /** To run again, from its first attempt: whatever it was (done, failed, skipped). */
  reset(index: number): void {
    if (this.marks[index] === DONE) this.doneCount--;
    if (this.marks[index] === SKIPPED) this.skippedCount--;
    this.failures.delete(index);
    this.marks[index] = 0;
  }

  markDone(index: number): void {
    if (this.marks[index] === DONE) return;
    if (this.marks[index] === FAILED) this.failures.delete(index);
    if (this.marks[index] === SKIPPED) this.skippedCount--;
    this.marks[index] = DONE;
    this.doneCount++;
  }

  markFailed(failure: FailedItem): void {
    if (this.marks[failure.index] === DONE || this.marks[failure.index] === SKIPPED) return;
    this.marks[failure.index] = FAILED;
    this.failures.set(failure.index, failure);
  }

  /** The attempts an item has used in earlier runs (it failed then): its attempts count on from there. */
  attemptsBefore(index: number): number {
    return this.failures.get(index)?.attempts ?? 0;
  }

  /** The first failures by index, for messages. */
  firstFailures(count: number): FailedItem[] {
    return [...this.failures.values()].sort((a, b) => a.index - b.index).slice(0, count);
  }

  /** The indexes still to run (failed ones included: resume retries them), ascending. */
  toRun(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.marks.length; i++) if (this.marks[i] !== DONE && this.marks[i] !== SKIPPED) out.push(i);
    return out;
  }

  toCheckpoint(): BatchCheckpoint {
    return {
      stepId: this.stepId,
      source: this.source,
      resolvedAt: this.resolvedAt,
      total: this.total,
      done: formatRanges(this.total, (i) => this.marks[i] === DONE),
      failed: [...this.failures.values()].sort((a, b) => a.index - b.index),
      ...(this.skippedCount ? { skipped: formatRanges(this.total, (i) => this.marks[i] === SKIPPED) } : {}),
      ...(this.states && Object.keys(this.states).length ? { states: this.states } : {}),
      ...(this.itemsFile ? { itemsFile: this.itemsFile } : { items: this.items }),
    };
  }
}
