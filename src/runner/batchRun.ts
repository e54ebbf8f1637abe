/**
 * A forEach step: its items, up to `concurrency` at once, each committed when it finishes. A
 * pause stops starting items and waits for those in flight; an interrupt stops them all. The item
 * list is resolved when the step first starts and frozen in the checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ItemProgress } from '../protocol/itemProgress';
import { readJsonSync } from '../protocol/jsonFile';
import { redactDeep } from '../protocol/secrets';
import { itemListSchema, stableStringify, type FailedItem, type StepDefinition, type UnfinishedStep } from '../protocol/schemas';
import { runAttempts, type Settled } from './attemptLoop';
import type { LiveBatch, RunContext, Stop } from './context';
import { itemKey } from './attemptRecords';
import { ItemsError, resolveItems } from './items';
import { STATE_THROTTLE_MS } from './statePublisher';
import { readItemStates, restoreStepState, stepFiles, type StepFiles } from './stepFiles';

/**
 * An item still running after this long is written down in state.json, with its process group for
 * the next runner to stop should this one die; trivial items end before, and share a progress
 * write at most every ITEM_PROGRESS_MS.
 */
const ITEM_RECORD_MS = 50;
const ITEM_PROGRESS_MS = 500;
/** An item list larger than this (as JSON) is kept in items/<step>.json rather than in every snapshot. */
const MAX_INLINE_ITEMS = 64 * 1024;
/** A forEach step of at least this many items reports each tenth done. */
const REPORT_MIN_ITEMS = 100;
/**
 * Items are queued behind others only while they end within QUICK_MS (on average, since the step
 * started here) and more than TAIL times the concurrency are left to start: an item queued behind
 * one that turns out long waits for it while other slots may be idle. For quick items the round
 * trip queueing saves is most of their cost; for longer ones it is nothing, and at the end of the
 * list every free slot should take what is left.
 */
const QUICK_MS = 20;
const TAIL = 3;
/**
 * How many items may wait in a slot behind the one it runs: about ITEMS_AHEAD_MS of them, by the
 * mean of the last few dozen, at least 2 and at most ITEMS_QUEUED. A slot in C holds its reports
 * until half of what waited has started (slotNative.ts), so the runner hears of about half that
 * many ends at once and sends their successors together, while the other half runs: each wake-up
 * of the runner is shared by more items. Bounded in time, not in items, so that the last items
 * wait behind a slot's others for no longer than that. Each one more is one more item a stop
 * declines, and one more a killed runner leaves to adopt.
 */
const ITEMS_AHEAD_MS = 100;
export const ITEMS_QUEUED = 32;

/** Items that ran and stopped their step without an end (a pause on their failure, exit 75), by batch: they go first when it goes on. */
const ranBefore = new WeakMap<ItemProgress, Set<number>>();

type ItemEnd = { kind: 'done' } | { kind: 'stopped' } | { kind: 'declined' } | { kind: 'failed'; failure: FailedItem } | { kind: 'pause'; reason: string };

export async function runBatch(ctx: RunContext, step: StepDefinition, index: number): Promise<Stop | undefined> {
  const files = stepFiles(ctx.paths, step);
  const previous = ctx.unfinishedOf(step.id);
  const startedAt = new Date().toISOString();
  const began = performance.now();
  const unfinished = (outcome: UnfinishedStep['outcome'], error?: string): UnfinishedStep => ({
    id: step.id,
    index,
    attempts: (previous?.attempts ?? 0) + 1,
    startedAt,
    endedAt: new Date().toISOString(),
    outcome,
    ...(error ? { error } : {}),
  });
  const batch = frozenItems(ctx, step, files);
  if (typeof batch === 'string') return { kind: 'failed', unfinished: unfinished('failed', batch), reason: `step '${step.id}' failed: ${batch}` };
  if (!batch) return { kind: 'paused', unfinished: previous };
  const restored = ctx.tryWrite(() => {
    fs.mkdirSync(files.itemStates, { recursive: true });
    for (const [key, saved] of Object.entries(batch.states ?? {})) {
      const file = path.join(files.itemStates, `${key}.state`);
      if (!batch.isDone(Number(key)) && !fs.existsSync(file)) restoreStepState(file, saved);
    }
  });
  if (!restored) return { kind: 'paused', unfinished: previous };
  const concurrency = step.concurrency ?? 1;
  const tracker = new BatchTracker(batch, concurrency, () => ctx.queue(step.id, ITEMS_QUEUED).waiting, () => ctx.publisher.save(STATE_THROTTLE_MS));
  ctx.batch = tracker;
  ctx.reporter.info(
    `▶ ${step.id} (${index + 1}/${ctx.def.steps.length}): ${batch.total} items` + `${batch.doneCount ? `, ${batch.doneCount} already done` : ''}${batch.skippedCount ? `, ${batch.skippedCount} skipped` : ''}${concurrency > 1 ? `, ${concurrency} at once` : ''}`,
  );
  ctx.setCurrent({ id: step.id, index, attempt: 1, startedAt });
  ctx.publisher.save(STATE_THROTTLE_MS);
  let stopReason: string | undefined;
  try {
    stopReason = await runItems(ctx, step, index, batch, tracker, files);
  } finally {
    ctx.batch = undefined;
  }

  if (batch.settled) {
    const skipped = batch.skippedCount ? { skipped: batch.skippedCount } : {};
    const completed = { id: step.id, index, exitCode: 0, attempts: (previous?.attempts ?? 0) + 1, startedAt, endedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - began), items: batch.total, ...skipped };
    if (!(await ctx.commitStep(completed, files))) return { kind: 'paused', unfinished: unfinished('paused', `its items are done, but ${ctx.log.failure?.message ?? 'its commit could not be written'}: resume commits it`) };
    fs.rmSync(files.itemStates, { recursive: true, force: true });
    ctx.reporter.info(`✓ ${step.id} (${index + 1}/${ctx.def.steps.length}): ${batch.total} items in ${Math.round(performance.now() - began)}ms`);
    return undefined;
  }
  batch.states = Object.fromEntries(Object.entries(readItemStates(files.itemStates)).filter(([key]) => !batch.isDone(Number(key))));
  const { control } = ctx;
  if (control.status === 'interrupting') return { kind: 'interrupted', unfinished: unfinished('interrupted') };
  if (stopReason) return { kind: 'failed', unfinished: unfinished('failed', stopReason), reason: `step '${step.id}' failed: ${stopReason}` };
  if (control.pausing) return { kind: 'paused', unfinished: unfinished('paused', control.pausedBy === 'failure' ? control.matchedFailure?.reason : undefined) };
  const failed = batch.firstFailures(3).map((f) => `item ${f.index} (${f.item}): ${f.error}`);
  const reason = `${batch.failedCount} of ${batch.total} items failed (${failed.join('; ')}${batch.failedCount > 3 ? '; …' : ''}); resume retries them`;
  return { kind: 'failed', unfinished: unfinished('failed', reason), reason: `step '${step.id}' failed: ${reason}` };
}

/**
 * The items, frozen: the list in the checkpoint, or resolved now and frozen in a durable snapshot
 * before any item runs. A string when they cannot be resolved; undefined when the snapshot could not be written.
 */
function frozenItems(ctx: RunContext, step: StepDefinition, files: StepFiles): ItemProgress | string | undefined {
  const current = ctx.log.batch;
  const unreadable = current?.stepId === step.id ? loadFrozen(ctx, current) : undefined;
  if (unreadable) return unreadable;
  // The source is kept masked (it may name a secret): it is compared masked.
  const source = redactDeep(step.forEach, ctx.redact);
  if (current && current.stepId === step.id && stableStringify(current.source) === stableStringify(source)) return current;
  let items: string[];
  try {
    items = resolveItems(step.forEach!, ctx.stepFolder(step), ctx.root, step.allowEmpty);
  } catch (err) {
    if (!(err instanceof ItemsError)) throw err;
    return err.message;
  }
  // A list too large to copy into every snapshot is frozen in its own file, once; so is one that
  // holds a secret (readable by its owner only): snapshots and status never show it.
  const ownFile = JSON.stringify(items).length > MAX_INLINE_ITEMS || items.some((item) => ctx.redact(item) !== item);
  const resolved = ItemProgress.create(step.id, source, items, ownFile ? `${step.id}.json` : undefined);
  // The forEach changed (resume --force): an item done before, by its text, stays done.
  if (current?.stepId === step.id) carryOverDone(current, resolved);
  // The states of another item list go; a folder that cannot be removed pauses the task, as a snapshot that cannot be written does.
  if (!ctx.tryWrite(() => fs.rmSync(files.itemStates, { recursive: true, force: true }))) return undefined;
  return ctx.log.startBatch(resolved, ctx.stopRecord()) ? resolved : undefined;
}

/** Read a frozen list kept in its own file; a message (the step fails) when it is gone or damaged. */
function loadFrozen(ctx: RunContext, batch: ItemProgress): string | undefined {
  if (batch.loaded) return undefined;
  const file = path.join(ctx.paths.itemsDir, batch.itemsFile!);
  const read = readJsonSync(file, itemListSchema);
  if (!read.ok || read.value.length !== batch.total)
    return `${read.ok ? `${file}: holds ${read.value.length} items, the checkpoint ${batch.total}` : read.error.message}: the frozen item list cannot be read; run the task with --fresh to start over`;
  batch.load(read.value);
  return undefined;
}

/**
 * Runs the items still to run until they are all done, a pause or interrupt stops the starting of
 * more and the ones in flight have ended, or a failure stops the step. Resolves to why a failure
 * stopped it, if one did.
 */
function runItems(ctx: RunContext, step: StepDefinition, index: number, batch: ItemProgress, tracker: BatchTracker, files: StepFiles): Promise<string | undefined> {
  const { control } = ctx;
  // Items a lost runner left running (or that ended unwatched) are taken over first, whatever the concurrency.
  const adopted = (i: number) => ctx.isAdopted(itemKey(step.id, i));
  // Then those that ran and stopped the step last time (in this runner): a rate limit is seen
  // lifted, or not, before anything new starts. (Without slots queueing items this came from index
  // order; now an item declined in one slot can be lower than one that ran in another.)
  let again = ranBefore.get(batch);
  if (!again) ranBefore.set(batch, (again = new Set()));
  const pending = batch.toRun();
  const rank = (i: number) => (adopted(i) ? 0 : again.has(i) ? 1 : 2);
  const toRun = pending.some((i) => rank(i) < 2) ? [...pending].sort((a, b) => rank(a) - rank(b) || a - b) : pending;
  let next = 0;
  // Items a slot declined (queued behind one that failed, or held): they go first when items start again.
  const declined: number[] = [];
  let stopReason: string | undefined;
  // The same for every item and attempt: built once, not per item.
  const env = ctx.stepEnv(step, index, {});
  const policy = ctx.attemptPolicy(step);
  const cwd = ctx.stepFolder(step);
  const slurm = ctx.slurmSpec(step, tracker.concurrency);
  // On Slurm every item is handed over at once, as one job array that Slurm throttles to the concurrency.
  const inFlight = slurm ? batch.total : tracker.concurrency;
  let lastReport = Math.floor((batch.doneCount * 10) / Math.max(1, batch.total));

  /** `behind`: queued behind an item running in a slot (its first attempt; a retry starts afresh). */
  const runItem = async (i: number, behind: boolean): Promise<ItemEnd> => {
    const item = batch.items[i];
    const stateFile = files.itemStates + path.sep + i + '.state';
    // Attempts count across runs: a resume after a failure goes on from the failed item's count.
    const before = batch.attemptsBefore(i);
    const host = { ...ctx.loopHost, onRetry: (n: number, reason: string, delay: number) => ctx.reporter.info(`↻ ${step.id} item ${i} (${item}): ${reason}; retrying in ${delay}ms (${n}/${policy.retries} retries used)`) };
    const settled: Settled = await runAttempts(
      policy,
      host,
      (attempt, watch) => {
        // spawn() copies the environment before it returns: one object serves every item, unspread.
        Object.assign(env, { ITEM: item, ITEM_INDEX: String(i), TASK_STEP_ATTEMPT: String(before + attempt), TASK_STEP_STATE: stateFile });
        const running = ctx.startAttempt({
          command: step.run,
          cwd,
          env,
          logFile: files.log,
          logHeader: `[${i}] === ${step.id} item ${i} attempt ${before + attempt} · ${new Date().toISOString()} · ITEM=${item} ===\n`,
          logPrefix: `[${i}] `,
          identity: [`TASK_PAUSE_REQUESTED=${ctx.paths.pauseRequested}`, `TASK_STEP_ID=${step.id}`, `ITEM_INDEX=${i}`],
          record: { key: itemKey(step.id, i), attempt: before + attempt },
          slurm,
          lane: step.id,
          behind: behind && attempt === 1,
          onStarted: (pid) => tracker.started(pid, i),
          onEnded: (ms) => tracker.took(ms),
          onStdoutLine: watch?.onLine,
          onStderrLine: watch?.onLine,
        });
        return running;
      },
      (running) => running.pid !== undefined && tracker.ended(running.pid),
    );
    switch (settled.kind) {
      case 'succeeded':
        return { kind: 'done' };
      // Interrupted, or paused inside the item (exit 75 while a pause is pending): neither done nor failed.
      case 'interrupted':
      case 'pausedInside':
      case 'stopped':
        return { kind: 'stopped' };
      case 'pauseOn':
        return { kind: 'pause', reason: `item ${i} (${item}) failed: ${settled.reason}; ${settled.why}` };
      case 'failed':
        return { kind: 'failed', failure: { index: i, item, attempts: before + settled.attempt, error: settled.reason, endedAt: new Date().toISOString() } };
      case 'declined':
        return { kind: 'declined' };
    }
  };

  const settle = (i: number, end: ItemEnd) => {
    switch (end.kind) {
      case 'done': {
        // Not committed (a full disk): the item stays to run, and the task pauses.
        if (!ctx.log.commitItemDone(i)) break;
        ctx.progressMade();
        // A state it saved stays in items/ until the step's end (not a look an item): the states kept at a stop are those of items not done.
        const tenth = Math.floor((batch.doneCount * 10) / batch.total);
        if (tenth > lastReport && batch.total >= REPORT_MIN_ITEMS) {
          lastReport = tenth;
          ctx.reporter.info(`  ${step.id}: ${batch.doneCount}/${batch.total} items done${batch.failedCount ? `, ${batch.failedCount} failed` : ''}`);
        }
        break;
      }
      case 'failed':
        if (!ctx.log.commitItemFailed(end.failure)) break;
        ctx.reporter.error(`✗ ${step.id} item ${i} (${end.failure.item}): ${end.failure.error}`);
        if (!step.continueOnError) stopReason ??= `item ${i} (${end.failure.item}) failed: ${end.failure.error}`;
        break;
      case 'pause': {
        again.add(i);
        const givenUp = ctx.givenUp(end.reason);
        if (givenUp) stopReason ??= givenUp;
        else control.failureMatched(`step '${step.id}': ${end.reason}`);
        toRun.push(i); // see 'stopped'
        break;
      }
      case 'stopped':
        // Neither done nor failed: it runs again if a resume cancels the pause while other items are in flight.
        again.add(i);
        toRun.push(i);
        break;
      case 'declined':
        // It did not run: it is next (in index order), here or on resume.
        declined.splice(sortedIndex(declined, i), 0, i);
        break;
    }
    // A failure stops the step: what slots hold queued is not started.
    if (stopReason !== undefined) ctx.holdQueued();
    ctx.publisher.save(ITEM_PROGRESS_MS);
  };

  return new Promise((resolve, reject) => {
    let ended = false;
    const pump = () => {
      if (ended) return;
      // The control files are watched too; a look here catches a request the watcher has not seen yet.
      control.lookIfStale();
      while (control.running && stopReason === undefined && (declined.length || next < toRun.length)) {
        const i = declined.length ? declined[0] : toRun[next];
        // Concurrency counts the items running; while items are quick, more may wait in each slot behind the one it runs.
        const queue = ctx.queue(step.id, tracker.depth());
        const behind = !(tracker.running - queue.waiting < inFlight || adopted(i));
        if (behind && (slurm || !queue.room || !tracker.quick() || toRun.length - next + declined.length <= TAIL * inFlight)) break;
        if (declined.length) declined.shift();
        else next++;
        tracker.running++;
        runItem(i, behind)
          .then((end) => {
            tracker.running--;
            settle(i, end);
            pump();
          })
          .catch((err) => {
            ended = true;
            reject(err);
          });
      }
      if (tracker.running === 0) {
        ended = true;
        resolve(stopReason);
      }
    };
    pump();
  });
}

/** Where `i` goes in the ascending list `list`. */
function sortedIndex(list: number[], i: number): number {
  let at = list.length;
  while (at > 0 && list[at - 1] > i) at--;
  return at;
}

/** The items of a forEach step in flight: how many, and their process groups, for state.json. */
class BatchTracker implements LiveBatch {
  /** Handed to the executor and not yet ended (some may wait in a slot: `waiting`). */
  running = 0;
  private timed = 0;
  private meanMs = 0;
  private readonly groups = new Map<number, { pid: number; item: number; pidStartTime?: string; startedAt: number }>();
  /** One timer for all the items in flight, not one an item (a timer each cost a trivial item 25 µs). */
  private recordTimer: NodeJS.Timeout | undefined;
  /** The groups in flight already written down for running past ITEM_RECORD_MS. */
  private readonly recorded = new Set<number>();

  /** `record`: write state.json, once an item has run ITEM_RECORD_MS (its group is then in it). */
  constructor(private readonly progress: ItemProgress, readonly concurrency: number, private readonly waiting: () => number, private readonly record: () => void) {}

  /** An item's process group started. */
  started(pid: number, item: number): void {
    this.groups.set(pid, { pid, item, startedAt: Date.now() });
    if (!this.recordTimer) this.armRecord(ITEM_RECORD_MS);
  }

  ended(pid: number): void {
    this.groups.delete(pid);
    this.recorded.delete(pid);
  }

  /** When the oldest item in flight not yet written down has run ITEM_RECORD_MS: write, then arm for the next. */
  private armRecord(ms: number): void {
    this.recordTimer = setTimeout(() => {
      this.recordTimer = undefined;
      const now = Date.now();
      let written = false;
      let next = Infinity;
      for (const group of this.groups.values()) {
        const due = group.startedAt + ITEM_RECORD_MS;
        if (due > now) next = Math.min(next, due);
        else if (!this.recorded.has(group.pid)) {
          this.recorded.add(group.pid);
          written = true;
        }
      }
      if (written) this.record();
      if (next !== Infinity) this.armRecord(Math.max(1, next - now));
    }, ms);
    // Nothing to write once the items are gone: it does not keep the runner alive.
    this.recordTimer.unref();
  }

  /** An attempt ran for `ms`, from its start to its end. */
  took(ms: number): void {
    this.meanMs = this.timed === 0 ? ms : this.meanMs + (ms - this.meanMs) / Math.min(this.timed + 1, 32);
    this.timed++;
  }

  /** The items end quickly: the mean of the last few dozen within QUICK_MS. */
  quick(): boolean {
    return this.timed >= this.concurrency && this.meanMs < QUICK_MS;
  }

  /** How many quick items may wait in a slot behind the one it runs. */
  depth(): number {
    return Math.max(2, Math.min(ITEMS_QUEUED, Math.floor(ITEMS_AHEAD_MS / Math.max(this.meanMs, 1))));
  }

  processes() {
    return [...this.groups.values()];
  }

  counts() {
    const { doneCount: done, total, failedCount: failed } = this.progress;
    return { progress: { done, total }, items: { done, total, failed, running: this.running - this.waiting() } };
  }
}

/** Mark done in `next` the items done in `previous`, matched by their text (each done item once). */
function carryOverDone(previous: ItemProgress, next: ItemProgress): void {
  const done = new Map<string, number>();
  for (const [i, item] of previous.items.entries()) if (previous.isDone(i)) done.set(item, (done.get(item) ?? 0) + 1);
  for (const [i, item] of next.items.entries()) {
    const left = done.get(item);
    if (!left) continue;
    next.markDone(i);
    done.set(item, left - 1);
  }
}
