/**
 * Where a run starts from: the status before it (lost, when a dead runner left it active), the
 * steps a dead runner left running (stopped first), and the checkpoint it goes on from, or a new
 * one.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { keepPrevious, type LoadedCheckpoint } from '../protocol/checkpoint';
import { EXIT } from '../protocol/exitCodes';
import type { ItemProgress } from '../protocol/itemProgress';
import { readJsonSync } from '../protocol/jsonFile';
import type { TaskPaths } from '../protocol/paths';
import { groupsWithEnv, terminateGroup } from '../protocol/processGroups';
import { isSameProcessAlive } from '../protocol/processInfo';
import { rerunIds, type StepPlan } from '../protocol/plan';
import { resumability } from '../protocol/resumable';
import { checkpointFacts, needsFacts, untrustedState } from '../protocol/staleState';
import { describeChanges } from '../protocol/definitionChanges';
import { definitionHash, definitionSchema, publicDefinition, runningSteps, sameDefinition, stableStringify, stateSchema, type Checkpoint, type RunnerState, type TaskDefinition } from '../protocol/schemas';
import { ACTIVE_STATES, type TaskStatus } from '../protocol/transitions';
import { RunnerError, type Reporter } from './reporter';

export interface StartingPoint {
  checkpoint: Checkpoint;
  lastSeq: number;
  batch: ItemProgress | null;
  isNew: boolean;
  /** A resume under a changed definition (forced, or only tuned): the checkpoint now holds the new one, to be written before any step runs. */
  redefined?: boolean;
  /** Steps whose definition changed since the checkpoint: attempts a lost runner left of them run what they were, and are stopped. */
  changedSteps?: string[];
  /** The folder of a retired run's logs, for this run's steps to make theirs from (AttemptSpec.logReuse). */
  logReuse?: string;
}

/** The status before this runner, and the state that said it. Holding the lock, an active state means lost. */
export function previousState(paths: TaskPaths, reporter: Reporter): { status: TaskStatus; state?: RunnerState } {
  const read = readJsonSync(paths.state, stateSchema);
  const untrusted = untrustedState(read, needsFacts(read) ? checkpointFacts(paths) : undefined);
  if (untrusted) reporter.error(untrusted);
  if (!read.ok) return { status: untrusted ? 'lost' : 'idle' };
  return { status: untrusted || ACTIVE_STATES.has(read.value.status) ? 'lost' : read.value.status, state: read.value };
}

/**
 * A runner killed with -9 leaves its step's process group running (a forEach step: one group an
 * item in flight): stop them before running the step again.
 */
export async function stopLeftoverStep(paths: TaskPaths, state: RunnerState | undefined, graceMs: number, reporter: Reporter, adopted = new Set<number>()): Promise<void> {
  const steps = runningSteps(state);
  const step = steps.length === 1 ? steps[0] : undefined;
  const recorded = steps.flatMap((s) => [...(s.pid ? [{ pid: s.pid, pidStartTime: s.pidStartTime }] : []), ...(s.processes ?? [])]);
  const alive = new Set(recorded.filter((g) => isSameProcessAlive(g.pid, g.pidStartTime)).map((g) => g.pid));
  // Items started in the last moments before the kill are not in state.json yet; their
  // processes carry this task's step environment.
  for (const pgid of groupsWithEnv(`TASK_PAUSE_REQUESTED=${paths.pauseRequested}`)) alive.add(pgid);
  for (const pgid of adopted) alive.delete(pgid); // taken over: waited for, not stopped
  if (!alive.size) return;
  reporter.info(`Stopping ${step ? `step '${step.id}'` : 'the step'} left running by the lost runner (process group ${[...alive].join(', ')})`);
  await Promise.all([...alive].map((pgid) => terminateGroup(pgid, graceMs)));
}

export function newCheckpoint(paths: TaskPaths, def: TaskDefinition): StartingPoint {
  keepPrevious(paths, true); // with the journal folded in: nothing committed is thrown away
  const logReuse = keepEarlierLogs(paths);
  fs.rmSync(paths.journal, { force: true });
  fs.rmSync(paths.timeline, { force: true }); // the picture is of this run
  // Step state, outputs and frozen item lists of an earlier run must not leak into this one.
  fs.rmSync(paths.stepsDir, { recursive: true, force: true });
  fs.rmSync(paths.itemsDir, { recursive: true, force: true });
  fs.mkdirSync(paths.stepsDir, { recursive: true });
  const checkpoint: Checkpoint = {
    v: 1,
    taskId: paths.id,
    runId: randomUUID(),
    reason: 'started',
    writtenAt: new Date().toISOString(),
    definitionHash: definitionHash(def),
    definition: publicDefinition(def),
    journalSeq: 0,
    completed: [],
    unfinished: null,
  };
  return { checkpoint, lastSeq: 0, batch: null, isNew: true, logReuse };
}

/** The logs of the last few runs are kept, under logs/earlier/<time>/; the new run starts its own. */
const KEEP_EARLIER_RUNS = 3;
/** Where the logs of the run no longer kept wait for the new run's steps to be made from (logs/.reuse). */
const LOG_REUSE = '.reuse';

/**
 * Moves the logs before this run to logs/earlier/<time>/. The run no longer kept becomes
 * logs/.reuse: its files become the new run's logs (the slots empty and rename them), so that a
 * run of many steps neither makes nor frees a file each (after thousands freed, ext4 without a
 * journal took 0.6-0.8 ms to make one: docs/benchmarks.md). Returns that folder, if there is one.
 */
function keepEarlierLogs(paths: TaskPaths): string | undefined {
  const time = logsTime();
  finishRetiring(paths, time);
  // Plain files only: a link is not the tools' to move (the run meets it, and pauses saying why). No
  // folder (the run folder deleted as the run starts, which the run meets and stops for): no logs.
  const entries = fs.existsSync(paths.logsDir) ? fs.readdirSync(paths.logsDir, { withFileTypes: true }) : [];
  const logs = entries.filter((e) => e.isFile() && e.name.endsWith('.log')).map((e) => e.name);
  if (!logs.length) return undefined;
  const earlier = path.join(paths.logsDir, 'earlier');
  const dir = path.join(earlier, time);
  if (entries.every((e) => (e.isFile() && e.name.endsWith('.log')) || (e.isDirectory() && keptInLogs(e.name)))) {
    // Nothing but logs and the tools' folders: the folder goes whole, and the folders come back.
    // A thousand logs took 21-30 ms to move one by one, before the first step.
    fs.renameSync(paths.logsDir, retiringDir(paths));
    finishRetiring(paths, time);
  } else {
    fs.mkdirSync(dir, { recursive: true });
    for (const name of logs) fs.renameSync(path.join(paths.logsDir, name), path.join(dir, name));
  }
  const retired = fs.readdirSync(earlier).sort().slice(0, -KEEP_EARLIER_RUNS);
  const reuse = path.join(paths.logsDir, LOG_REUSE);
  // Removed while the run goes on (a thousand logs took a quarter of a second): the runs before the
  // last retired, and what the run before left in logs/.reuse. What a runner killed meanwhile leaves, the next removes.
  const remove = (folder: string) => void fs.promises.rm(folder, { recursive: true, force: true }).catch(() => {});
  for (const old of retired.slice(0, -1)) remove(path.join(earlier, old));
  const last = retired.at(-1);
  if (last === undefined) return undefined;
  try {
    const unused = `${reuse}.${process.pid}.${Date.now()}.unused`;
    if (fs.existsSync(reuse)) fs.renameSync(reuse, unused);
    for (const name of fs.readdirSync(paths.logsDir)) if (name.startsWith(`${LOG_REUSE}.`)) remove(path.join(paths.logsDir, name));
    fs.renameSync(path.join(earlier, last), reuse);
    // Only a folder of its own making: never one a link points into (a slot empties what it finds there).
    return fs.lstatSync(reuse).isDirectory() ? reuse : undefined;
  } catch {
    remove(path.join(earlier, last));
    return undefined;
  }
}

/** The name of a folder under logs/earlier/: the time it was retired, sorting as it. */
function logsTime(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('.', '');
}

/** What logs/ holds of the tools' own besides the logs: the earlier runs, the retired run, its leftovers being removed. */
function keptInLogs(name: string): boolean {
  return name === 'earlier' || name === LOG_REUSE || name.startsWith(`${LOG_REUSE}.`);
}

/** Where logs/ is while it is retired whole (docs/design.md, "A new run's logs are the retired run's files"). */
function retiringDir(paths: TaskPaths): string {
  return path.join(paths.runDir, 'logs.retiring');
}

/**
 * A logs folder being retired whole (now, or by a runner killed as it did so) becomes
 * logs/earlier/<time>/: a new logs/ is made, the tools' folders go back into it, then the rest
 * goes under earlier/. Each step is a rename or a mkdir, and each is done again here if it was
 * not done, so a kill between any two leaves nothing lost.
 */
function finishRetiring(paths: TaskPaths, time: string): void {
  const retiring = retiringDir(paths);
  if (!fs.lstatSync(retiring, { throwIfNoEntry: false })?.isDirectory()) return;
  fs.mkdirSync(paths.logsDir, { recursive: true });
  for (const name of fs.readdirSync(retiring)) {
    if (keptInLogs(name) && !fs.existsSync(path.join(paths.logsDir, name))) fs.renameSync(path.join(retiring, name), path.join(paths.logsDir, name));
  }
  const earlier = path.join(paths.logsDir, 'earlier');
  fs.mkdirSync(earlier, { recursive: true });
  // A name of its own, even where the run that finishes a killed one's move retires its own logs in the same millisecond.
  let name = time;
  for (let n = 1; fs.existsSync(path.join(earlier, name)); n++) name = `${time}-${n}`;
  fs.renameSync(retiring, path.join(earlier, name));
}

export function resumeCheckpoint(paths: TaskPaths, def: TaskDefinition, how: { force: boolean; rerunDone: boolean }, reporter: Reporter): StartingPoint {
  // A runner killed as it started a new run, its logs moved aside: under earlier/, as those moved one by one always were.
  finishRetiring(paths, logsTime());
  const resumable = checkResumable(paths, def, how.force, reporter, how.rerunDone);
  if (!resumable) return newCheckpoint(paths, def); // stopped before its first checkpoint
  const { loaded, plan } = resumable;
  const { checkpoint } = loaded;
  // The plan: done steps that changed run again, and those after them.
  const rerun = new Set(rerunIds(plan));
  if (rerun.size) checkpoint.completed = checkpoint.completed.filter((s) => !rerun.has(s.id));
  const hash = definitionHash(def);
  const definition = publicDefinition(def);
  // Forced, or tuned (concurrency, timeout, retries, retryDelay: no force needed): from now on the checkpoint follows the new one.
  const redefined = checkpoint.definitionHash !== hash || stableStringify(checkpoint.definition) !== stableStringify(definition);
  if (redefined) {
    const before = definitionSchema.safeParse(checkpoint.definition);
    const tuned = before.success && sameDefinition(checkpoint.definitionHash, def) ? describeChanges(before.data, definition) : [];
    if (tuned.length) reporter.info(`Resuming with changes that need no --force: ${tuned.join('; ')}`);
    checkpoint.definitionHash = hash;
    checkpoint.definition = definition;
  }
  // A forEach step that --force removed, or that is no longer a forEach step, has no items in progress.
  const batch = loaded.batch && def.steps.some((step) => step.id === loaded.batch!.stepId && step.forEach) ? loaded.batch : null;
  return { checkpoint, lastSeq: loaded.lastSeq, batch, isNew: false, redefined, changedSteps: plan.filter((s) => s.changed).map((s) => s.id) };
}

/**
 * The checkpoint a resume goes on from, or undefined when there is none yet. Refuses (exit 65) a
 * damaged checkpoint, and a definition changed since the checkpoint unless forced.
 */
export function checkResumable(paths: TaskPaths, def: TaskDefinition, force: boolean, reporter?: Reporter, rerunDone = false): { loaded: LoadedCheckpoint; plan: StepPlan[] } | undefined {
  const r = resumability(paths, def, force, rerunDone);
  if (!r.ok) throw new RunnerError(r.message, EXIT.badInput);
  if (r.loaded?.tornTail) reporter?.info(`${paths.journal}: its last line was cut short by a crash; that step runs again`);
  if (r.changes.length && force) reporter?.info(`Resuming despite changes (--force): ${r.changes.join('; ')}`);
  else if (r.changes.length && !sameDefinition(r.loaded!.checkpoint.definitionHash, def)) {
    const rerun = r.plan.filter((s) => s.action === 'rerun');
    reporter?.info(`Resuming under a changed definition (${r.changes.join('; ')}), by the plan: ${rerun.length ? rerun.map((s) => `'${s.id}' runs again (${s.reason})`).join('; ') : 'every done step stays done'}`);
  }
  return r.loaded && { loaded: r.loaded, plan: r.plan };
}
