/**
 * The runner: runs a task's steps in order (a forEach step: its items, up to `concurrency` at
 * once), applies the desired state from the control files between steps and items (pause) and
 * while they run (interrupt), and commits every finished step and item so a later runner can go on
 * from there. A failure that matches `pauseOn` pauses the task; with `autoResume` the runner stays
 * alive, paused, and resumes it after a growing delay. One runner per task, guaranteed by runner.lock.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, type LoadedCheckpoint } from '../protocol/checkpoint';
import { ItemProgress } from '../protocol/itemProgress';
import { parseDuration } from '../protocol/duration';
import { EXIT } from '../protocol/exitCodes';
import { parseJson, quotable, readJsonSync, writeJsonAtomicSync } from '../protocol/jsonFile';
import { acquireLock } from '../protocol/lock';
import { assertRunFilesSafe, assertTaskPathsSafe, PathError, taskIdProblem, taskPaths, type TaskPaths } from '../protocol/paths';
import { HOST, isSameProcessAlive, processStartTime } from '../protocol/processInfo';
import {
  definitionHash,
  definitionSchema,
  publicDefinition,
  stableStringify,
  stateSchema,
  type Checkpoint,
  type CompletedStep,
  type DesiredState,
  type FailedItem,
  type RunnerLock,
  type RunnerState,
  type StepDefinition,
  type TaskDefinition,
  type UnfinishedStep,
} from '../protocol/schemas';
import { noRedaction, redactor, secretValues, type Redact } from '../protocol/secrets';
import { ACTIVE_STATES, transition, TransitionError, type Request, type RunnerEvent, type TaskStatus } from '../protocol/transitions';
import { asWriteError, WriteError } from '../protocol/writeError';
import { keepPrevious, CheckpointWriter } from './checkpointWriter';
import { ControlCache, ControlWatcher, readControlFiles } from './controlFiles';
import { describeChanges } from './definitionChanges';
import { ItemsError, resolveItems } from './items';
import { PauseOnPolicy } from './pauseOn';
import { groupsWithEnv, parseProgress, runStepAttempt, terminateGroup, type StepEnd } from './stepProcess';

export interface Reporter {
  info(message: string): void;
  error(message: string): void;
}

export interface RunnerOptions {
  /** The workspace folder: steps' cwd is relative to it. */
  root: string;
  tasksDir: string;
  id: string;
  mode: 'run' | 'resume';
  fresh?: boolean;
  force?: boolean;
  pollMs?: number;
  graceMs?: number;
  reporter: Reporter;
  /** SIGINT/SIGTERM pause the task gracefully; a second one interrupts it. */
  handleSignals?: boolean;
}

export const DEFAULT_POLL_MS = 100;
export const DEFAULT_GRACE_MS = 3000;
const HEARTBEAT_MS = 5000;
/** Step starts closer together than this share one state.json write. */
const STATE_THROTTLE_MS = 50;
/**
 * An item still running after this long is written down in state.json, with its process group for
 * the next runner to stop should this one die; trivial items end before, and share a progress
 * write at most every ITEM_PROGRESS_MS.
 */
const ITEM_RECORD_MS = STATE_THROTTLE_MS;
const ITEM_PROGRESS_MS = 500;
const DEFAULT_RETRY_DELAY_MS = 1000;
/** The exit code a step uses to say "I saved my state and paused" (EX_TEMPFAIL). */
export const PAUSE_EXIT_CODE = 75;
/** A forEach step of at least this many items reports each tenth done. */
const REPORT_MIN_ITEMS = 100;
/** setTimeout's longest delay; longer waits (an automatic resume days away) sleep again. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class RunnerError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** Run or resume a task; resolves to the exit code of DESIGN.md section 4. */
export async function runTask(opts: RunnerOptions): Promise<number> {
  let paths: TaskPaths;
  let def: TaskDefinition;
  try {
    paths = taskPaths(opts.tasksDir, opts.id);
    assertTaskPathsSafe(paths);
    const read = readJsonSync(paths.definition, definitionSchema);
    if (!read.ok) throw new RunnerError(read.error.message, EXIT.badInput);
    def = read.value;
    assertRunFilesSafe(paths);
    prepareRunDir(paths);
  } catch (err) {
    if (err instanceof RunnerError) return fail(opts.reporter, err.message, err.exitCode);
    if (err instanceof PathError) return fail(opts.reporter, err.message, taskIdProblem(opts.id) ? EXIT.usage : EXIT.badInput);
    const failed = asWriteError(err, undefined, true);
    if (failed) return fail(opts.reporter, `cannot run '${opts.id}': ${failed.message}; nothing was run`, EXIT.failed);
    throw err;
  }
  // From here on every message and every reason written masks the values of secret env variables.
  const redact = redactor(secretValues(def, process.env));
  opts = { ...opts, reporter: redacting(opts.reporter, redact) };
  let lock: ReturnType<typeof acquireLock>;
  try {
    lock = acquireLock(paths.lock, 'run');
  } catch (err) {
    const failed = asWriteError(err);
    if (!failed) throw err;
    return fail(opts.reporter, `cannot run '${opts.id}': ${failed.message}; nothing was run`, EXIT.failed);
  }
  if (!lock.acquired) return fail(opts.reporter, heldBy(opts.id, lock.holder, paths.lock), EXIT.locked);
  const run = new TaskRun(opts, paths, def, redact);
  try {
    return await run.execute();
  } catch (err) {
    if (err instanceof RunnerError) return fail(opts.reporter, err.message, err.exitCode);
    if (err instanceof TransitionError) return fail(opts.reporter, err.message, EXIT.usage);
    return run.fatal(err as Error);
  } finally {
    run.dispose();
    try {
      lock.release();
    } catch (err) {
      // A read-only disk keeps the lock file; its pid is gone, so the next runner takes it over.
      if (!asWriteError(err)) throw err;
    }
  }
}

/** Who holds the task. A lock from another host cannot be checked from here: say what to do if that runner is gone. */
function heldBy(id: string, holder: RunnerLock, lockFile: string): string {
  if (holder.host === HOST) return `'${id}' is held by another runner (pid ${holder.pid})`;
  return `'${id}' is held by a runner on another host (pid ${holder.pid} on ${holder.host}; this is ${HOST}), which cannot be checked from here: if no runner runs there any more, delete ${lockFile} and resume`;
}

function redacting(reporter: Reporter, redact: Redact): Reporter {
  if (redact === noRedaction) return reporter;
  return { info: (m) => reporter.info(redact(m)), error: (m) => reporter.error(redact(m)) };
}

function fail(reporter: Reporter, message: string, code: number): number {
  reporter.error(message);
  return code;
}

function prepareRunDir(paths: TaskPaths): void {
  for (const dir of [paths.runDir, paths.logsDir, paths.stepsDir]) fs.mkdirSync(dir, { recursive: true });
  const gitignore = path.join(paths.tasksDir, '.gitignore');
  if (!fs.existsSync(gitignore)) {
    // Definitions are shared through git; run folders are this machine's business.
    fs.writeFileSync(gitignore, '# Written by Pausable Tasks: run folders stay local, definitions are kept.\n*/\n.control.json\n', { flag: 'wx' });
  }
}

/**
 * The checkpoint a resume goes on from, or undefined when there is none yet. Refuses (exit 65) a
 * damaged checkpoint, and a definition changed since the checkpoint unless forced. Controllers
 * call it too, so that a refused resume changes no file.
 */
export function checkResumable(paths: TaskPaths, def: TaskDefinition, force: boolean, reporter?: Reporter): LoadedCheckpoint | undefined {
  const loaded = loadCheckpoint(paths);
  if (!loaded.ok) {
    if (loaded.error.code === 'missing' && !fs.existsSync(paths.journal)) return undefined;
    throw new RunnerError(
      `${loaded.error.message}\nThe runner will not resume from a damaged checkpoint. Earlier snapshots are in ${paths.checkpointsDir}: ` +
        `copy one over checkpoint.json to resume from it, or reset the task to start over.`,
      EXIT.badInput,
    );
  }
  const { checkpoint } = loaded.value;
  if (loaded.value.tornTail) reporter?.info(`${paths.journal}: its last line was cut short by a crash; that step runs again`);
  if (checkpoint.definitionHash !== definitionHash(def)) {
    const before = definitionSchema.safeParse(checkpoint.definition);
    const changes = before.success ? describeChanges(before.data, publicDefinition(def)) : ['the checkpoint does not hold the earlier definition'];
    if (!force)
      throw new RunnerError(
        `${paths.definition}: changed since the checkpoint was written:\n  - ${changes.join('\n  - ')}\n` +
          `Resume with --force to go on anyway: completed steps are matched by id and skipped, the rest run.`,
        EXIT.badInput,
      );
    reporter?.info(`Resuming despite changes (--force): ${changes.join('; ')}`);
  }
  return loaded.value;
}

/** Upper-case letters, digits and "_": the shape of an environment variable name. */
const envName = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

type Stop = { kind: 'completed' } | { kind: 'failed'; unfinished: UnfinishedStep; reason: string } | { kind: 'paused'; unfinished: UnfinishedStep | null } | { kind: 'interrupted'; unfinished: UnfinishedStep | null };

class TaskRun {
  private status: TaskStatus = 'idle';
  private runId = '';
  private state!: RunnerState;
  private writer: CheckpointWriter | undefined;
  private readonly hash: string;
  private readonly pollMs: number;
  private readonly graceMs: number;
  private readonly pauseOn: PauseOnPolicy | undefined;
  private readonly watcher: ControlWatcher;
  private readonly controlCache = new ControlCache();
  private heartbeat: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private stateDueAt = 0;
  private lastStateWrite = 0;
  /** Aborted to interrupt the step (every item) in flight. */
  private readonly interruption = new AbortController();
  /** Sleepers (retry delays, the wait for an automatic resume) that applyControl wakes to look again. */
  private readonly wakers = new Set<() => void>();
  private pausedBy: RunnerState['pausedBy'];
  private signalPause = false;
  private signalInterrupt = false;
  private reportedProblems = new Set<string>();
  /** Control requests up to this seq were applied by an earlier runner. */
  private startSeq = 0;
  /** What the control files ask, as last read. */
  private taskDesired: DesiredState = 'running';
  private globalPaused = false;
  /** A failure matched pauseOn: the task pauses, unless a newer request (seq) asks it to run. */
  private matchedFailure: { reason: string; seq: number } | undefined;
  /** Automatic resumes made since the last progress (a step or item committed). */
  private autoResumes = 0;
  /** Paused by a failure, alive, waiting to resume by itself (pauseOn.autoResume). */
  private waiting = false;
  private unfinished: UnfinishedStep | null = null;
  private readonly outputEnv: Record<string, string> = {};
  /** process.env with the task's env: built once, copied for each step. */
  private baseEnv: NodeJS.ProcessEnv | undefined;
  /** The items of the forEach step in flight. */
  private batchRun: BatchRun | undefined;
  /** Process groups in flight: stopped on a fatal error. */
  private readonly groups = new Set<number>();
  private readonly onSignal = () => this.signalled();
  /** A file of the run could not be written (a full disk): the task pauses, this is why. */
  private writeError: WriteError | undefined;
  /** The steps have begun: from then on a stop writes state.json. */
  private started = false;

  constructor(private readonly opts: RunnerOptions, private readonly paths: TaskPaths, private readonly def: TaskDefinition, private readonly redact: Redact = noRedaction) {
    this.hash = definitionHash(def);
    this.pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.pauseOn = def.pauseOn && new PauseOnPolicy(def.pauseOn, redact);
    this.watcher = new ControlWatcher(paths, this.pollMs, () => this.applyControl());
  }

  private get id() {
    return this.opts.id;
  }

  async execute(): Promise<number> {
    const previous = this.previousState();
    const request: Request = this.opts.mode === 'resume' ? 'resume' : this.opts.fresh ? 'runFresh' : 'run';
    this.status = transition(this.id, previous.status, request);

    const control = readControlFiles(this.paths);
    if (control.problems.length) throw new RunnerError(control.problems.map((p) => p.message).join('\n'), EXIT.badInput);
    // Idle with earlier snapshots: reset, maybe while lost, which forgot the state naming the step left running.
    if (previous.status === 'lost' || (previous.status === 'idle' && fs.existsSync(this.paths.checkpointsDir))) await this.stopLeftoverStep(previous.state);
    // Left by a runner killed while pausing: steps would take it for a pause of this run.
    fs.rmSync(this.paths.pauseRequested, { force: true });

    const checkpoint = request === 'resume' ? this.resumeCheckpoint() : this.newCheckpoint();
    this.runId = checkpoint.checkpoint.runId;
    this.unfinished = checkpoint.checkpoint.unfinished;
    for (const step of checkpoint.checkpoint.completed) this.addOutputs(step);
    // This runner resumes a failure pause (its own resume, or the next after a crash): one more automatic resume.
    const failurePause = checkpoint.checkpoint.failurePause;
    if (failurePause) this.autoResumes = failurePause.autoResumes + 1;

    this.state = {
      v: 1,
      taskId: this.id,
      runId: this.runId,
      status: 'running',
      pid: process.pid,
      host: HOST,
      startedAt: new Date().toISOString(),
      updatedAt: '',
      heartbeatAt: '',
      stepsTotal: this.def.steps.length,
      stepsDone: 0,
      currentStep: null,
      // A request already applied by an earlier runner is not applied again.
      appliedSeq: previous.state?.appliedSeq ?? 0,
      appliedGlobalSeq: previous.state?.appliedGlobalSeq ?? 0,
    };
    this.writer = new CheckpointWriter(this.paths, checkpoint.checkpoint, checkpoint.lastSeq, checkpoint.batch, { redact: this.redact, onCompactionError: (err) => this.cannotWrite(err) });
    if (checkpoint.isNew) this.writer.snapshot('started', { unfinished: null });
    const done = this.doneIds();
    this.state.stepsDone = this.def.steps.filter((s) => done.has(s.id)).length;
    this.startSeq = this.state.appliedSeq;

    this.started = true;
    this.applyControl();
    this.saveState();
    this.watcher.start();
    this.heartbeat = setInterval(() => this.saveState(), HEARTBEAT_MS);
    if (this.opts.handleSignals) for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, this.onSignal);

    const action = request === 'resume' ? (previous.status === 'idle' ? 'Running' : 'Resuming') : 'Running';
    this.opts.reporter.info(`${action} '${this.id}' (run ${this.runId.slice(0, 8)}): ${this.state.stepsDone}/${this.def.steps.length} steps done`);
    if (failurePause) this.opts.reporter.info(`It had paused on a failure (${failurePause.reason})${this.describeAutoResume()}`);
    let stop = await this.runSteps();
    while (stop.kind === 'paused' && this.pausedBy === 'failure' && this.pauseOn?.autoResume) {
      const ended = await this.waitToResume(stop.unfinished);
      if (ended) {
        stop = ended;
        break;
      }
      stop = await this.runSteps();
    }
    return this.finish(stop);
  }

  /** The status before this runner, and the state that said it. Holding the lock, an active state means lost. */
  private previousState(): { status: TaskStatus; state?: RunnerState } {
    const read = readJsonSync(this.paths.state, stateSchema);
    if (read.ok) return { status: ACTIVE_STATES.has(read.value.status) ? 'lost' : read.value.status, state: read.value };
    if (read.error.code !== 'missing') this.opts.reporter.error(`${read.error.message} (taken as lost: the checkpoint decides what runs)`);
    const hasProgress = fs.existsSync(this.paths.checkpoint);
    return { status: read.error.code === 'missing' && !hasProgress ? 'idle' : 'lost' };
  }

  /**
   * A runner killed with -9 leaves its step's process group running (a forEach step: one group an
   * item in flight): stop them before running the step again.
   */
  private async stopLeftoverStep(state: RunnerState | undefined): Promise<void> {
    const step = state?.currentStep;
    const recorded = [...(step?.pid ? [{ pid: step.pid, pidStartTime: step.pidStartTime }] : []), ...(step?.processes ?? [])];
    const alive = new Set(recorded.filter((g) => isSameProcessAlive(g.pid, g.pidStartTime)).map((g) => g.pid));
    // Items started in the last moments before the kill are not in state.json yet; their
    // processes carry this task's step environment.
    for (const pgid of groupsWithEnv(`TASK_PAUSE_REQUESTED=${this.paths.pauseRequested}`)) alive.add(pgid);
    if (!alive.size) return;
    this.opts.reporter.info(`Stopping ${step ? `step '${step.id}'` : 'the step'} left running by the lost runner (process group ${[...alive].join(', ')})`);
    await Promise.all([...alive].map((pgid) => terminateGroup(pgid, this.graceMs)));
  }

  private newCheckpoint(): { checkpoint: Checkpoint; lastSeq: number; batch: ItemProgress | null; isNew: boolean } {
    keepPrevious(this.paths);
    fs.rmSync(this.paths.journal, { force: true });
    // Step state and outputs of an earlier run must not leak into this one.
    fs.rmSync(this.paths.stepsDir, { recursive: true, force: true });
    fs.mkdirSync(this.paths.stepsDir, { recursive: true });
    const checkpoint: Checkpoint = {
      v: 1,
      taskId: this.id,
      runId: randomUUID(),
      reason: 'started',
      writtenAt: new Date().toISOString(),
      definitionHash: this.hash,
      definition: publicDefinition(this.def),
      journalSeq: 0,
      completed: [],
      unfinished: null,
    };
    return { checkpoint, lastSeq: 0, batch: null, isNew: true };
  }

  private resumeCheckpoint(): { checkpoint: Checkpoint; lastSeq: number; batch: ItemProgress | null; isNew: boolean } {
    const loaded = checkResumable(this.paths, this.def, this.opts.force ?? false, this.opts.reporter);
    if (!loaded) return this.newCheckpoint(); // stopped before its first checkpoint
    const { checkpoint } = loaded;
    if (checkpoint.definitionHash !== this.hash) {
      checkpoint.definitionHash = this.hash;
      checkpoint.definition = publicDefinition(this.def);
    }
    // A forEach step that --force removed, or that is no longer a forEach step, has no items in progress.
    const batch = loaded.batch && this.def.steps.some((step) => step.id === loaded.batch!.stepId && step.forEach) ? loaded.batch : null;
    return { checkpoint, lastSeq: loaded.lastSeq, batch, isNew: false };
  }

  private doneIds(): Set<string> {
    return new Set(this.writer!.current.completed.map((s) => s.id));
  }

  private addOutputs(step: CompletedStep): void {
    for (const [key, value] of Object.entries(step.outputs ?? {}))
      this.outputEnv[`TASK_OUTPUT_${envName(step.id)}_${envName(key)}`] = typeof value === 'string' ? value : JSON.stringify(value);
  }

  // ---- control -------------------------------------------------------------------------------

  /** Read the control files and move between running, pausing and interrupting accordingly. */
  private applyControl(): void {
    if (!ACTIVE_STATES.has(this.status) && !this.waiting) return;
    const control = readControlFiles(this.paths, this.controlCache);
    for (const problem of control.problems) {
      if (this.reportedProblems.has(problem.message)) continue;
      this.reportedProblems.add(problem.message);
      this.opts.reporter.error(`${problem.message} (ignored until fixed)`);
    }
    let changed = false;
    const task = control.task;
    if (task && task.seq > this.state.appliedSeq) {
      this.state.appliedSeq = task.seq;
      changed = true;
    }
    const global = control.global;
    if (global && global.seq !== this.state.appliedGlobalSeq) {
      this.state.appliedGlobalSeq = global.seq;
      changed = true;
    }
    this.taskDesired = task && task.seq > this.startSeq ? task.desired : 'running';
    this.globalPaused = global?.desired === 'paused';
    // A request to run newer than the failure (a resume) overrides the pause it asked for.
    if (this.matchedFailure && task && task.seq > this.matchedFailure.seq && task.desired === 'running') this.matchedFailure = undefined;

    const { wanted, by } = this.wanted();
    if (this.waiting) {
      // The wait decides (waitToResume); only the state is the runner's to write here.
    } else if (wanted === 'interrupted' && this.status !== 'interrupting') {
      this.move('interrupt');
      this.interruption.abort();
      changed = true;
    } else if (wanted === 'paused' && this.status === 'running') {
      this.move('pause');
      this.pausedBy = by;
      this.markPauseRequested(by);
      changed = true;
    } else if (wanted === 'paused' && this.status === 'pausing' && by !== this.pausedBy) {
      // Paused for another reason now (a person paused a task that pause-all or a failure paused).
      this.pausedBy = by;
      changed = true;
    } else if (wanted === 'running' && this.status === 'pausing') {
      this.move('resume');
      this.pausedBy = undefined;
      fs.rmSync(this.paths.pauseRequested, { force: true });
      changed = true;
    }
    for (const wake of [...this.wakers]) wake();
    if (changed) this.saveState();
  }

  /** What the control files, signals and a failure ask for, strongest first. */
  private wanted(): { wanted: DesiredState; by?: RunnerState['pausedBy'] } {
    if (this.taskDesired === 'interrupted' || this.signalInterrupt) return { wanted: 'interrupted' };
    // Resuming would only meet the same disk again.
    if (this.writeError) return { wanted: 'paused', by: 'disk' };
    if (this.taskDesired === 'paused') return { wanted: 'paused', by: 'user' };
    if (this.globalPaused) return { wanted: 'paused', by: 'global' };
    if (this.signalPause) return { wanted: 'paused', by: 'signal' };
    if (this.matchedFailure) return { wanted: 'paused', by: 'failure' };
    return { wanted: 'running' };
  }

  /** TASK_PAUSE_REQUESTED: steps that look at it pause inside; the pause happens without it too. */
  private markPauseRequested(by: RunnerState['pausedBy']): void {
    try {
      fs.writeFileSync(this.paths.pauseRequested, `${new Date().toISOString()} ${by}\n`);
    } catch (err) {
      const failed = asWriteError(err, this.paths.pauseRequested, true);
      if (!failed) throw err;
      if (by !== 'disk') this.cannotWrite(failed);
    }
  }

  /**
   * A file of the run could not be written (a full disk, a read-only mount): the task pauses after
   * the step or items in flight, and stays paused whatever is asked but an interrupt; what was
   * committed stays committed. It is resumed once the disk is fixed. The first error is the reason.
   */
  private cannotWrite(err: WriteError): void {
    if (this.writeError) return;
    this.writeError = err;
    this.opts.reporter.error(`${err.message}: pausing '${this.id}'`);
    if (this.status === 'running') this.move('pause');
    if (this.status === 'pausing') {
      this.pausedBy = 'disk';
      this.markPauseRequested('disk');
    }
    for (const wake of [...this.wakers]) wake();
  }

  /** Resolves with the error when the write failed: the caller goes on to pause. */
  private tryWrite(write: () => void, file?: string): WriteError | undefined {
    try {
      write();
      return undefined;
    } catch (err) {
      const failed = asWriteError(err, file, true);
      if (!failed) throw err;
      this.cannotWrite(failed);
      return failed;
    }
  }

  /**
   * What every attempt of a step or item shares: its log (a log that cannot be written pauses the
   * task after it, the output goes on unlogged), timeout, grace period and the interruption.
   */
  private attemptBasics(logFile: string, timeoutMs: number | undefined) {
    return {
      logFile,
      onLogError: (err: Error) => this.cannotWrite(asWriteError(err, logFile, true) ?? new WriteError(logFile, err.message)),
      timeoutMs,
      graceMs: this.graceMs,
      interrupt: this.interruption.signal,
    };
  }

  private move(action: Request | RunnerEvent): void {
    this.status = transition(this.id, this.status, action, this.waiting);
    this.state.status = this.status as RunnerState['status'];
  }

  private signalled(): void {
    if (this.signalPause) {
      this.opts.reporter.info('Interrupting: the step in flight is being stopped');
      this.signalInterrupt = true;
    } else {
      this.opts.reporter.info(this.waiting ? 'Pausing: no automatic resume' : 'Pausing after the step in flight (press Ctrl+C again to interrupt)');
      this.signalPause = true;
    }
    this.applyControl();
  }

  /** Sleep for `ms` (or the longest timer there is), or until applyControl wakes the sleepers. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
      this.wakers.add(done);
    });
  }

  /** A retry delay that a pause or an interrupt cuts short. */
  private async retryDelay(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.status === 'running' && Date.now() < until) await this.sleep(until - Date.now());
  }

  // ---- failures that pause (pauseOn) -----------------------------------------------------------

  /**
   * A failure matched pauseOn: pause the task (it goes on when the step or items in flight end),
   * or, when the automatic resumes are used up, fail it.
   */
  private pauseOnFailure(unfinished: UnfinishedStep, reason: string): Stop {
    if (this.autoResumesUsedUp()) return { kind: 'failed', unfinished, reason: this.givenUp(reason) };
    this.requestFailurePause(reason);
    return this.status === 'interrupting' ? { kind: 'interrupted', unfinished } : { kind: 'paused', unfinished: { ...unfinished, outcome: 'paused' } };
  }

  private autoResumesUsedUp(): boolean {
    const auto = this.pauseOn?.autoResume;
    return auto !== undefined && this.autoResumes >= auto.maxAttempts;
  }

  private givenUp(reason: string): string {
    return `${reason} (still failing after ${this.autoResumes} automatic resume${this.autoResumes === 1 ? '' : 's'})`;
  }

  private requestFailurePause(reason: string): void {
    if (this.matchedFailure) return;
    this.applyControl(); // requests already written count as made before the failure
    this.matchedFailure = { reason, seq: this.state.appliedSeq };
    this.opts.reporter.info(`⏸ pausing (pauseOn): ${reason}`);
    this.applyControl();
  }

  /** "; resume 2 of 5", when autoResume counts. */
  private describeAutoResume(): string {
    const auto = this.pauseOn?.autoResume;
    return auto ? `; resume ${this.autoResumes} of ${auto.maxAttempts}` : '';
  }

  /**
   * Paused by a failure, with autoResume: stay alive, paused, until resumeAt; then resume. A
   * resume request cuts the wait short, a pause makes it a plain pause, an interrupt ends it, and
   * while pause-all is on the task does not resume (it stays paused, by pause-all). Returns the
   * Stop when the wait ends the run, undefined when the run goes on.
   */
  private async waitToResume(unfinished: UnfinishedStep | null): Promise<Stop | undefined> {
    const auto = this.pauseOn!.autoResume!;
    const reason = this.matchedFailure!.reason;
    const resumeAt = Date.now() + this.pauseOn!.delayMs(this.autoResumes);
    const resumeAtIso = new Date(resumeAt).toISOString();
    try {
      await this.writer!.flush();
      this.writer!.snapshot('paused', { unfinished, failurePause: { reason, at: new Date().toISOString(), autoResumes: this.autoResumes, resumeAt: resumeAtIso } });
    } catch (err) {
      const failed = asWriteError(err);
      if (!failed) throw err;
      this.cannotWrite(failed); // no waiting on a disk that cannot record the wait
      return { kind: 'paused', unfinished };
    }
    this.move('pauseReached');
    this.waiting = true;
    fs.rmSync(this.paths.pauseRequested, { force: true });
    Object.assign(this.state, { currentStep: null, reason, resumeAt: resumeAtIso, autoResume: { attempt: this.autoResumes + 1, maxAttempts: auto.maxAttempts } });
    this.saveState();
    this.opts.reporter.info(
      `Paused '${this.id}' on a failure; resuming by itself at ${new Date(resumeAt).toTimeString().slice(0, 8)} (automatic resume ${this.autoResumes + 1} of ${auto.maxAttempts}). ` +
        `Resume, pause or interrupt it to decide now.`,
    );
    for (;;) {
      const next = this.afterWait(resumeAt, unfinished);
      if (next === 'wait') {
        await this.sleep(resumeAt - Date.now());
        continue;
      }
      this.waiting = false;
      delete this.state.resumeAt;
      delete this.state.autoResume;
      if (next !== 'resume') return next;
      this.autoResumes++;
      this.matchedFailure = undefined;
      this.pausedBy = undefined;
      this.unfinished = unfinished;
      this.state.reason = undefined;
      this.move('resume');
      this.saveState();
      this.opts.reporter.info(`Resuming '${this.id}'${this.describeAutoResume()}`);
      return undefined;
    }
  }

  /** While waiting: wait on, resume, or the Stop that ends the run (the status already moved). */
  private afterWait(resumeAt: number, unfinished: UnfinishedStep | null): 'wait' | 'resume' | Stop {
    if (this.taskDesired === 'interrupted' || this.signalInterrupt) {
      this.move('interrupt');
      return { kind: 'interrupted', unfinished };
    }
    if (this.writeError) {
      this.pausedBy = 'disk';
      return { kind: 'paused', unfinished };
    }
    if (this.taskDesired === 'paused' || this.signalPause) {
      this.pausedBy = this.taskDesired === 'paused' ? 'user' : 'signal';
      return { kind: 'paused', unfinished };
    }
    // No failure left: a resume request cleared it.
    if (this.matchedFailure && Date.now() < resumeAt) return 'wait';
    if (this.globalPaused) {
      this.pausedBy = 'global';
      return { kind: 'paused', unfinished };
    }
    return 'resume';
  }

  // ---- steps ---------------------------------------------------------------------------------

  private async runSteps(): Promise<Stop> {
    const done = this.doneIds();
    for (const [index, step] of this.def.steps.entries()) {
      if (done.has(step.id)) continue;
      this.applyControl();
      const boundary = this.boundaryStop();
      if (boundary) return boundary;
      const stop = step.forEach ? await this.runBatch(step, index) : await this.runStep(step, index);
      if (stop) return stop;
    }
    return { kind: 'completed' };
  }

  /** At a step boundary, a pending pause or interrupt ends the run here. */
  private boundaryStop(): Stop | undefined {
    if (this.status === 'pausing') return { kind: 'paused', unfinished: this.unfinished };
    if (this.status === 'interrupting') return { kind: 'interrupted', unfinished: this.unfinished };
    return undefined;
  }

  private stepFiles(step: StepDefinition) {
    return {
      output: path.join(this.paths.stepsDir, `${step.id}.output.json`),
      state: path.join(this.paths.stepsDir, `${step.id}.state`),
      /** A forEach step: one TASK_STEP_STATE file an item, `<index>.state`. */
      itemStates: path.join(this.paths.stepsDir, `${step.id}.items`),
      log: path.join(this.paths.logsDir, `${step.id}.log`),
    };
  }

  /** Where the step runs: the task's cwd (relative to the workspace folder), then the step's own. */
  private stepFolder(step: StepDefinition): string {
    return path.resolve(this.opts.root, this.def.cwd ?? '.', step.cwd ?? '.');
  }

  /** Runs a step through its attempts; a Stop when the run ends here, undefined when it completed. */
  private async runStep(step: StepDefinition, index: number): Promise<Stop | undefined> {
    const files = this.stepFiles(step);
    const previous = this.unfinished?.id === step.id ? this.unfinished : null;
    if (previous && !fs.existsSync(files.state) && this.tryWrite(() => restoreStepState(files.state, previous), files.state)) return { kind: 'paused', unfinished: this.unfinished };
    const retries = step.retries ?? 0;
    const baseDelay = step.retryDelay !== undefined ? parseDuration(step.retryDelay) : DEFAULT_RETRY_DELAY_MS;
    const timeoutMs = step.timeout !== undefined ? parseDuration(step.timeout) : undefined;
    const startedAt = new Date().toISOString();
    const began = performance.now();
    let attempts = previous?.attempts ?? 0;
    for (let attempt = 1; ; attempt++) {
      attempts++;
      if (fs.existsSync(files.output)) fs.rmSync(files.output);
      const attemptStart = new Date().toISOString();
      this.state.currentStep = { id: step.id, index, attempt, startedAt: attemptStart };
      const watch = this.pauseOn?.watch();
      let pid: number | undefined;
      const end = await runStepAttempt({
        command: step.run,
        cwd: this.stepFolder(step),
        env: this.stepEnv(step, index, { TASK_STEP_ATTEMPT: String(attempt), TASK_STEP_OUTPUT: files.output, TASK_STEP_STATE: files.state }),
        ...this.attemptBasics(files.log, timeoutMs),
        logHeader: `=== ${step.id} attempt ${attempt} · ${attemptStart} · run ${this.runId} ===\n`,
        onStart: (startedPid) => {
          pid = startedPid;
          this.groups.add(startedPid);
          // With its pid, so that the next runner can stop it if this one is killed.
          this.state.currentStep = { ...this.state.currentStep!, pid: startedPid };
          this.saveState(STATE_THROTTLE_MS);
        },
        onStdoutLine: (line) => {
          watch?.onLine(line);
          const progress = parseProgress(line);
          if (!progress) return;
          this.state.currentStep = { ...this.state.currentStep!, progress };
          this.saveState(STATE_THROTTLE_MS);
        },
        onStderrLine: watch?.onLine,
      });
      if (pid !== undefined) this.groups.delete(pid);
      const unfinished = (outcome: UnfinishedStep['outcome'], extra: Partial<UnfinishedStep> = {}): UnfinishedStep => ({
        id: step.id,
        index,
        attempts,
        startedAt,
        endedAt: new Date().toISOString(),
        outcome,
        ...extra,
        ...readStepState(files.state, previous),
      });

      if (end.kind === 'interrupted') return { kind: 'interrupted', unfinished: unfinished('interrupted') };
      if (end.kind === 'exited' && end.exitCode === 0) {
        const outputs = readOutputs(files.output);
        if (typeof outputs !== 'string') {
          const completed: CompletedStep = {
            id: step.id,
            index,
            exitCode: 0,
            attempts,
            startedAt,
            endedAt: new Date().toISOString(),
            durationMs: Math.round(performance.now() - began),
            ...(outputs ? { outputs } : {}),
          };
          const notCommitted = await this.commitStep(completed, files);
          if (notCommitted) return { kind: 'paused', unfinished: unfinished('paused', { exitCode: 0, error: `it completed, but ${notCommitted.message}: it runs again on resume` }) };
          this.opts.reporter.info(`✓ ${step.id} (${index + 1}/${this.def.steps.length}) in ${completed.durationMs}ms`);
          return undefined;
        }
        return this.failure(step, unfinished('failed', { exitCode: 0, error: outputs }), outputs);
      }
      if (end.kind === 'exited' && end.exitCode === PAUSE_EXIT_CODE && this.status === 'pausing') {
        // The step saw TASK_PAUSE_REQUESTED, saved its state and stopped: paused inside the step.
        return { kind: 'paused', unfinished: unfinished('paused', { exitCode: PAUSE_EXIT_CODE }) };
      }
      const reason = describeEnd(end);
      const outcome = end.kind === 'timed-out' ? 'timed-out' : 'failed';
      const exitCode = end.kind === 'exited' ? end.exitCode : null;
      const signal = end.kind === 'exited' ? end.signal : null;
      // A failure that says "wait" (a rate limit, no credit) pauses at once: retrying now would not help.
      const pauseReason = this.pauseOn?.why(end, watch);
      if (pauseReason) {
        const why = `step '${step.id}' failed: ${reason}; ${pauseReason}`;
        return this.pauseOnFailure(unfinished(outcome, { exitCode, signal, error: why }), why);
      }
      if (attempt > retries) return this.failure(step, unfinished(outcome, { exitCode, signal, error: reason }), reason);

      const delay = baseDelay * 2 ** (attempt - 1);
      this.opts.reporter.info(`↻ ${step.id}: ${reason}; retrying in ${delay}ms (${attempt}/${retries} retries used)`);
      this.unfinished = unfinished(outcome, { exitCode, signal, error: reason });
      await this.retryDelay(delay);
      const boundary = this.boundaryStop();
      if (boundary) return boundary;
    }
  }

  /**
   * A step is done: committed, its outputs handed on, its files gone. Progress ends a run of
   * automatic resumes. Returns the error when the commit could not be written: the task pauses
   * and the step runs again on resume.
   */
  private async commitStep(completed: CompletedStep, files: ReturnType<TaskRun['stepFiles']>): Promise<WriteError | undefined> {
    try {
      await this.writer!.commitStep(completed);
    } catch (err) {
      const failed = asWriteError(err);
      if (!failed) throw err;
      this.cannotWrite(failed);
      return failed;
    }
    this.addOutputs(completed);
    this.unfinished = null;
    this.autoResumes = 0;
    if (fs.existsSync(files.state)) fs.rmSync(files.state);
    this.state.stepsDone++;
    this.state.currentStep = null;
    return undefined;
  }

  private failure(step: StepDefinition, unfinished: UnfinishedStep, reason: string): Stop {
    return { kind: 'failed', unfinished, reason: `step '${step.id}' failed: ${reason}` };
  }

  /** The step's environment: the task's and the step's env, earlier steps' outputs, TASK_*, then `extra`. */
  private stepEnv(step: StepDefinition, index: number, extra: Record<string, string>): NodeJS.ProcessEnv {
    if (!this.baseEnv) {
      this.baseEnv = { ...process.env, ...this.def.env };
      // Set when VS Code started the runner; it would make any Electron app a step runs misbehave.
      delete this.baseEnv.ELECTRON_RUN_AS_NODE;
    }
    return {
      ...this.baseEnv,
      ...step.env,
      ...this.outputEnv,
      TASK_ID: this.id,
      TASK_RUN_ID: this.runId,
      TASK_STEP_ID: step.id,
      TASK_STEP_INDEX: String(index),
      TASK_PAUSE_REQUESTED: this.paths.pauseRequested,
      ...extra,
    };
  }

  // ---- forEach steps -------------------------------------------------------------------------

  /**
   * A forEach step: its items, up to `concurrency` at once, each committed when it finishes. A
   * pause stops starting items and waits for those in flight; an interrupt stops them all. The item
   * list is resolved when the step first starts and frozen in the checkpoint.
   */
  private async runBatch(step: StepDefinition, index: number): Promise<Stop | undefined> {
    const files = this.stepFiles(step);
    const previous = this.unfinished?.id === step.id ? this.unfinished : null;
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
    let batch = this.writer!.batch;
    if (!batch || batch.stepId !== step.id || stableStringify(batch.source) !== stableStringify(step.forEach)) {
      let items: string[];
      try {
        items = resolveItems(step.forEach!, this.stepFolder(step), this.opts.root);
      } catch (err) {
        if (!(err instanceof ItemsError)) throw err;
        return this.failure(step, unfinished('failed', err.message), err.message);
      }
      const resolved = ItemProgress.create(step.id, step.forEach, items);
      // The forEach changed (resume --force): an item done before, by its text, stays done.
      if (batch?.stepId === step.id) carryOverDone(batch, resolved);
      batch = resolved;
      const frozen = batch;
      const notFrozen = this.tryWrite(() => {
        fs.rmSync(files.itemStates, { recursive: true, force: true }); // states of another item list
        this.writer!.startBatch(frozen, { unfinished: this.unfinished });
      });
      if (notFrozen) return { kind: 'paused', unfinished: this.unfinished };
    }
    const restored = batch;
    const notRestored = this.tryWrite(() => {
      fs.mkdirSync(files.itemStates, { recursive: true });
      for (const [key, saved] of Object.entries(restored.states ?? {})) {
        const file = path.join(files.itemStates, `${key}.state`);
        if (!restored.isDone(Number(key)) && !fs.existsSync(file)) restoreStepState(file, saved);
      }
    });
    if (notRestored) return { kind: 'paused', unfinished: this.unfinished };
    const items = new BatchRun(batch, step.concurrency ?? 1);
    this.batchRun = items;
    this.opts.reporter.info(
      `▶ ${step.id} (${index + 1}/${this.def.steps.length}): ${batch.total} items` +
        `${batch.doneCount ? `, ${batch.doneCount} already done` : ''}${(step.concurrency ?? 1) > 1 ? `, ${step.concurrency} at once` : ''}`,
    );
    this.state.currentStep = { id: step.id, index, attempt: 1, startedAt };
    this.saveState(STATE_THROTTLE_MS);
    const stopReason = await this.runItems(step, index, batch, items, files);
    this.batchRun = undefined;

    const doneAll = batch.doneCount === batch.total;
    if (!doneAll) batch.states = readItemStates(files.itemStates);
    if (doneAll) {
      const notCommitted = await this.commitStep(
        { id: step.id, index, exitCode: 0, attempts: (previous?.attempts ?? 0) + 1, startedAt, endedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - began), items: batch.total },
        files,
      );
      if (notCommitted) return { kind: 'paused', unfinished: unfinished('paused', `its items are done, but ${notCommitted.message}: resume commits it`) };
      fs.rmSync(files.itemStates, { recursive: true, force: true });
      this.opts.reporter.info(`✓ ${step.id} (${index + 1}/${this.def.steps.length}): ${batch.total} items in ${Math.round(performance.now() - began)}ms`);
      return undefined;
    }
    if (this.status === 'interrupting') return { kind: 'interrupted', unfinished: unfinished('interrupted') };
    if (stopReason) return { kind: 'failed', unfinished: unfinished('failed', stopReason), reason: `step '${step.id}' failed: ${stopReason}` };
    if (this.status === 'pausing') return { kind: 'paused', unfinished: unfinished('paused', this.pausedBy === 'failure' ? this.matchedFailure?.reason : undefined) };
    const failed = batch.firstFailures(3).map((f) => `item ${f.index} (${f.item}): ${f.error}`);
    const reason = `${batch.failedCount} of ${batch.total} items failed (${failed.join('; ')}${batch.failedCount > 3 ? '; …' : ''}); resume retries them`;
    return { kind: 'failed', unfinished: unfinished('failed', reason), reason: `step '${step.id}' failed: ${reason}` };
  }

  /**
   * Runs the items still to run until they are all done, a pause or interrupt stops the starting of
   * more and the ones in flight have ended, or a failure stops the step. Resolves to why a failure
   * stopped it, if one did.
   */
  private runItems(step: StepDefinition, index: number, batch: ItemProgress, items: BatchRun, files: ReturnType<TaskRun['stepFiles']>): Promise<string | undefined> {
    const toRun = batch.toRun();
    let next = 0;
    let stopReason: string | undefined;
    const env = this.stepEnv(step, index, {});
    const retries = step.retries ?? 0;
    const baseDelay = step.retryDelay !== undefined ? parseDuration(step.retryDelay) : DEFAULT_RETRY_DELAY_MS;
    // The same for every item and attempt: built once, not per item.
    const basics = this.attemptBasics(files.log, step.timeout !== undefined ? parseDuration(step.timeout) : undefined);
    const cwd = this.stepFolder(step);
    let lastReport = Math.floor((batch.doneCount * 10) / Math.max(1, batch.total));

    const runItem = async (i: number): Promise<ItemEnd> => {
      const item = batch.items[i];
      const stateFile = path.join(files.itemStates, `${i}.state`);
      for (let attempt = 1; ; attempt++) {
        const watch = this.pauseOn?.watch();
        let pid: number | undefined;
        // spawn() copies the environment before it returns: one object serves every item, unspread.
        Object.assign(env, { ITEM: item, ITEM_INDEX: String(i), TASK_STEP_ATTEMPT: String(attempt), TASK_STEP_STATE: stateFile });
        const end = await runStepAttempt({
          command: step.run,
          cwd,
          env,
          ...basics,
          logHeader: `[${i}] === ${step.id} item ${i} attempt ${attempt} · ${new Date().toISOString()} · ITEM=${item} ===\n`,
          logPrefix: `[${i}] `,
          onStart: (startedPid) => {
            pid = startedPid;
            this.groups.add(startedPid);
            items.started(startedPid, i, setTimeout(() => this.saveState(STATE_THROTTLE_MS), ITEM_RECORD_MS));
          },
          onStdoutLine: watch?.onLine,
          onStderrLine: watch?.onLine,
        });
        if (pid !== undefined) {
          this.groups.delete(pid);
          items.ended(pid);
        }
        if (end.kind === 'exited' && end.exitCode === 0) return { kind: 'done' };
        // Interrupted, or paused inside the item (exit 75 while a pause is pending): neither done nor failed.
        if (end.kind === 'interrupted' || (end.kind === 'exited' && end.exitCode === PAUSE_EXIT_CODE && this.status === 'pausing')) return { kind: 'stopped' };
        const reason = describeEnd(end);
        const pauseReason = this.pauseOn?.why(end, watch);
        if (pauseReason) return { kind: 'pause', reason: `item ${i} (${item}) failed: ${reason}; ${pauseReason}` };
        if (attempt > retries) return { kind: 'failed', failure: { index: i, item, attempts: attempt, error: reason, endedAt: new Date().toISOString() } };
        const delay = baseDelay * 2 ** (attempt - 1);
        this.opts.reporter.info(`↻ ${step.id} item ${i} (${item}): ${reason}; retrying in ${delay}ms (${attempt}/${retries} retries used)`);
        await this.retryDelay(delay);
        if (this.status !== 'running') return { kind: 'stopped' };
      }
    };

    const settle = (i: number, end: ItemEnd) => {
      switch (end.kind) {
        case 'done': {
          // Not committed (a full disk): the item stays to run, and the task pauses.
          if (this.tryWrite(() => this.writer!.commitItemDone(i))) break;
          this.autoResumes = 0;
          const stateFile = path.join(files.itemStates, `${i}.state`);
          if (fs.existsSync(stateFile)) fs.rmSync(stateFile);
          const tenth = Math.floor((batch.doneCount * 10) / batch.total);
          if (tenth > lastReport && batch.total >= REPORT_MIN_ITEMS) {
            lastReport = tenth;
            this.opts.reporter.info(`  ${step.id}: ${batch.doneCount}/${batch.total} items done${batch.failedCount ? `, ${batch.failedCount} failed` : ''}`);
          }
          break;
        }
        case 'failed':
          if (this.tryWrite(() => this.writer!.commitItemFailed(end.failure))) break;
          this.opts.reporter.error(`✗ ${step.id} item ${i} (${end.failure.item}): ${end.failure.error}`);
          if (!step.continueOnError) stopReason ??= `item ${i} (${end.failure.item}) failed: ${end.failure.error}`;
          break;
        case 'pause':
          if (this.autoResumesUsedUp()) stopReason ??= this.givenUp(end.reason);
          else this.requestFailurePause(`step '${step.id}': ${end.reason}`);
          toRun.push(i); // see 'stopped'
          break;
        case 'stopped':
          // Neither done nor failed: it runs again if a resume cancels the pause while other items are in flight.
          toRun.push(i);
          break;
      }
      this.saveState(ITEM_PROGRESS_MS);
    };

    return new Promise((resolve, reject) => {
      let ended = false;
      const pump = () => {
        if (ended) return;
        this.applyControl();
        while (this.status === 'running' && stopReason === undefined && items.running < items.concurrency && next < toRun.length) {
          const i = toRun[next++];
          items.running++;
          runItem(i)
            .then((end) => {
              items.running--;
              settle(i, end);
              pump();
            })
            .catch((err) => {
              ended = true;
              reject(err);
            });
        }
        if (items.running === 0) {
          ended = true;
          resolve(stopReason);
        }
      };
      pump();
    });
  }

  // ---- state and ending ----------------------------------------------------------------------

  /**
   * Write state.json now, or no sooner than `minIntervalMs` after the last write: changes in quick
   * succession (step starts, items) share one write. False when it could not be written: the task
   * pauses (it is called from timers too, so it never throws for that).
   */
  private saveState(minIntervalMs = 0): boolean {
    const wait = this.lastStateWrite + minIntervalMs - performance.now();
    if (wait > 0) {
      // A write already planned as soon as this one is enough.
      if (this.stateTimer && this.stateDueAt <= performance.now() + wait) return true;
      clearTimeout(this.stateTimer);
      this.stateDueAt = performance.now() + wait;
      this.stateTimer = setTimeout(() => this.saveState(), wait);
      return true;
    }
    clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
    // A forEach step's counts and process groups, as they are now.
    if (this.batchRun && this.state.currentStep) this.state.currentStep = { ...this.state.currentStep, ...this.batchRun.counts(), processes: this.batchRun.processes() };
    const step = this.state.currentStep;
    // Read only when written: steps that start and end between two writes never need it.
    // "gone": the step ended already, so a later process with the same pid is never taken for it.
    if (step?.pid && !step.pidStartTime) step.pidStartTime = processStartTime(step.pid) ?? 'gone';
    for (const group of step?.processes ?? []) group.pidStartTime ??= processStartTime(group.pid) ?? 'gone';
    const time = new Date().toISOString();
    this.state.updatedAt = time;
    this.state.heartbeatAt = time;
    this.state.pausedBy = this.status === 'pausing' || this.status === 'paused' ? this.pausedBy : undefined;
    const state = this.state.reason ? { ...this.state, reason: this.redact(this.state.reason) } : this.state;
    // Not fsynced: state.json is a live view, rebuilt by the next runner; the checkpoint is the durable record.
    if (this.tryWrite(() => writeJsonAtomicSync(this.paths.state, state), this.paths.state)) return false;
    this.lastStateWrite = performance.now();
    return true;
  }

  private async finish(stop: Stop): Promise<number> {
    this.watcher.stop();
    // A step that failed while being interrupted was interrupted: the person asked it to stop.
    if (stop.kind === 'failed' && this.status === 'interrupting') stop = { kind: 'interrupted', unfinished: stop.unfinished };
    stop = this.pausedByDisk(stop);
    const unfinished = stop.kind === 'completed' ? null : stop.unfinished;
    const failurePause = stop.kind === 'paused' && this.pausedBy === 'failure' && this.matchedFailure ? { reason: this.matchedFailure.reason, at: new Date().toISOString(), autoResumes: this.autoResumes } : undefined;
    let snapshotError: WriteError | undefined;
    try {
      await this.writer!.flush();
      this.writer!.snapshot(stop.kind, { unfinished, failurePause });
    } catch (err) {
      snapshotError = asWriteError(err);
      if (!snapshotError) throw err;
      // checkpoint.json and the journal are as they were: every commit is there.
      this.cannotWrite(snapshotError);
      stop = this.pausedByDisk(stop);
    }
    const event: Record<Stop['kind'], RunnerEvent> = { completed: 'finished', failed: 'stepFailed', paused: 'pauseReached', interrupted: 'processTreeGone' };
    // A wait for an automatic resume that ended in a pause or an interrupt has moved already.
    if (ACTIVE_STATES.has(this.status)) this.move(event[stop.kind]);
    this.tryWrite(() => fs.rmSync(this.paths.pauseRequested, { force: true }), this.paths.pauseRequested);
    this.state.currentStep = null;
    this.state.endedAt = new Date().toISOString();
    if (stop.kind === 'failed') this.state.reason = stop.reason;
    if (stop.kind === 'paused') {
      this.pausedBy ??= 'step';
      this.state.reason = this.writeError ? this.writeError.message : failurePause ? failurePause.reason : unfinished ? `paused in step '${unfinished.id}'` : undefined;
    }
    if (stop.kind === 'interrupted') this.state.reason = unfinished ? `interrupted in step '${unfinished.id}'` : undefined;
    const stateSaved = this.saveState();
    const r = this.opts.reporter;
    if (this.writeError) {
      const kept = snapshotError ? `${this.paths.checkpoint} (as it was) and ${path.basename(this.paths.journal)}` : this.paths.checkpoint;
      const lost = stateSaved ? '' : `; ${path.basename(this.paths.state)} could not be written either, so the task shows as lost until then`;
      const done = `${this.state.stepsDone}/${this.state.stepsTotal} steps done, kept in ${kept}`;
      if (stop.kind === 'paused') {
        r.error(`Paused '${this.id}': ${this.writeError.message}. ${done}. ${this.writeError.fix}, then resume with: ptask resume ${this.id}${lost}`);
        return EXIT.paused;
      }
      r.error(`${this.writeError.message}; ${done}${lost}`);
    }
    switch (stop.kind) {
      case 'completed':
        r.info(`Completed '${this.id}': ${this.state.stepsDone}/${this.state.stepsTotal} steps`);
        return EXIT.completed;
      case 'failed':
        r.error(`Failed '${this.id}': ${stop.reason} (log: ${path.join(this.paths.logsDir, `${stop.unfinished.id}.log`)})`);
        return EXIT.failed;
      case 'paused':
        r.info(`Paused '${this.id}'${failurePause ? ' on a failure' : ''}: ${this.state.stepsDone}/${this.state.stepsTotal} steps done; resume with: ptask resume ${this.id}`);
        return EXIT.paused;
      case 'interrupted':
        r.info(`Interrupted '${this.id}': ${this.state.stepsDone}/${this.state.stepsTotal} steps done${unfinished ? `; '${unfinished.id}' runs again on resume` : ''}`);
        return EXIT.interrupted;
    }
  }

  /**
   * A failure while a file of the run could not be written may well be the disk's doing (the step
   * could not write either): the task pauses rather than fails, and resume runs the step again.
   */
  private pausedByDisk(stop: Stop): Stop {
    if (!this.writeError || stop.kind !== 'failed') return stop;
    this.opts.reporter.error(`${stop.reason} (taken as a pause: ${this.writeError.message})`);
    return { kind: 'paused', unfinished: stop.unfinished };
  }

  /**
   * The one way out on an unexpected error: the steps stopped, a readable state, the last checkpoint
   * kept. A disk error met where none was expected pauses the task instead (exit 2), or, before any
   * step began, leaves it as it was (exit 1).
   */
  async fatal(err: Error): Promise<number> {
    const disk = asWriteError(err);
    if (!disk) this.opts.reporter.error(`runner error: ${err.stack ?? err.message}`);
    else if (!this.started) this.opts.reporter.error(`cannot run '${this.id}': ${disk.message}; nothing was run`);
    else this.opts.reporter.error(`Paused '${this.id}': ${disk.message}. ${disk.fix}, then resume with: ptask resume ${this.id}`);
    this.watcher.stop();
    // Nothing more starts: items waiting to retry wake to a failed run, attempts to an aborted signal.
    this.status = disk ? 'paused' : 'failed';
    this.pausedBy = disk ? 'disk' : undefined;
    this.interruption.abort();
    for (const wake of [...this.wakers]) wake();
    await Promise.all([...this.groups].map((pid) => terminateGroup(pid, this.graceMs)));
    // A run that could not start for want of disk leaves the state as it was.
    if (this.state && (this.started || !disk)) {
      try {
        this.state.status = this.status as RunnerState['status'];
        this.state.reason = disk ? disk.message : `runner error: ${err.message}`;
        this.state.currentStep = null;
        this.state.endedAt = new Date().toISOString();
        delete this.state.resumeAt;
        delete this.state.autoResume;
        this.saveState();
      } catch {
        // the disk may be what failed; the checkpoint on disk is still the last good one
      }
    }
    return disk ? (this.started ? EXIT.paused : EXIT.failed) : EXIT.failed;
  }

  dispose(): void {
    this.watcher.stop();
    clearInterval(this.heartbeat);
    clearTimeout(this.stateTimer);
    this.writer?.close();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, this.onSignal);
  }
}

type ItemEnd = { kind: 'done' } | { kind: 'stopped' } | { kind: 'failed'; failure: FailedItem } | { kind: 'pause'; reason: string };

/** The items of a forEach step in flight: how many, and their process groups, for state.json. */
class BatchRun {
  running = 0;
  private readonly groups = new Map<number, { pid: number; item: number; pidStartTime?: string }>();
  private readonly recordTimers = new Map<number, NodeJS.Timeout>();

  constructor(private readonly progress: ItemProgress, readonly concurrency: number) {}

  /** An item's process group started; `recordTimer` writes it down if it is still running then. */
  started(pid: number, item: number, recordTimer: NodeJS.Timeout): void {
    this.groups.set(pid, { pid, item });
    this.recordTimers.set(pid, recordTimer);
  }

  ended(pid: number): void {
    this.groups.delete(pid);
    clearTimeout(this.recordTimers.get(pid));
    this.recordTimers.delete(pid);
  }

  processes() {
    return [...this.groups.values()];
  }

  counts() {
    const { doneCount: done, total, failedCount: failed } = this.progress;
    return { progress: { done, total }, items: { done, total, failed, running: this.running } };
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

/** The TASK_STEP_STATE files that items in flight left, by index, to keep in the checkpoint. */
function readItemStates(dir: string): Record<string, Pick<UnfinishedStep, 'state' | 'stateText'>> {
  const states: Record<string, Pick<UnfinishedStep, 'state' | 'stateText'>> = {};
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return states;
  }
  for (const name of names) {
    const m = /^(\d+)\.state$/.exec(name);
    if (m) states[m[1]] = readStepState(path.join(dir, name), null);
  }
  return states;
}

function describeEnd(end: StepEnd): string {
  switch (end.kind) {
    case 'exited':
      return end.signal ? `killed by ${end.signal}` : `exit code ${end.exitCode}`;
    case 'timed-out':
      return `timed out after ${end.timeoutMs}ms`;
    case 'spawn-error':
      return `could not start: ${end.error}`;
    case 'interrupted':
      return 'interrupted';
  }
}

/** The step's outputs, undefined when it wrote none, or a message saying what is wrong with them. */
function readOutputs(file: string): Record<string, unknown> | undefined | string {
  if (!fs.existsSync(file)) return undefined; // most steps write none: no exception for them
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return `it wrote ${file} (TASK_STEP_OUTPUT), which cannot be read`;
  }
  let why = 'not a JSON object';
  try {
    const value: unknown = parseJson(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (err) {
    why = `not a JSON object (${quotable((err as Error).message)})`;
  }
  return `it wrote ${file} (TASK_STEP_OUTPUT), which is ${why}`;
}

/** The step's own saved state, to keep in the checkpoint: JSON when it parses, else the text. */
function readStepState(file: string, previous: UnfinishedStep | null): Pick<UnfinishedStep, 'state' | 'stateText'> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return previous ? { state: previous.state, stateText: previous.stateText } : {};
  }
  try {
    // Too deep to write back into the checkpoint: kept as text, handed back as written.
    return { state: parseJson(text) };
  } catch {
    return { stateText: text };
  }
}

function restoreStepState(file: string, previous: Pick<UnfinishedStep, 'state' | 'stateText'>): void {
  if (previous.stateText !== undefined) fs.writeFileSync(file, previous.stateText);
  else if (previous.state !== undefined) fs.writeFileSync(file, JSON.stringify(previous.state));
}
