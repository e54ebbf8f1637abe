/**
 * The runner: runs a task's steps in order, applies the desired state from the control files
 * between steps (pause) and while a step runs (interrupt), and commits every finished step so a
 * later runner can go on from there. One runner per task, guaranteed by runner.lock.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, type LoadedCheckpoint } from '../protocol/checkpoint';
import { parseDuration } from '../protocol/duration';
import { EXIT } from '../protocol/exitCodes';
import { readJsonSync, writeJsonAtomicSync } from '../protocol/jsonFile';
import { acquireLock } from '../protocol/lock';
import { assertTaskPathsSafe, PathError, taskIdProblem, taskPaths, type TaskPaths } from '../protocol/paths';
import { HOST, isSameProcessAlive, processStartTime } from '../protocol/processInfo';
import {
  definitionHash,
  definitionSchema,
  publicDefinition,
  stateSchema,
  type Checkpoint,
  type CompletedStep,
  type RunnerState,
  type StepDefinition,
  type TaskDefinition,
  type UnfinishedStep,
} from '../protocol/schemas';
import { ACTIVE_STATES, transition, TransitionError, type Request, type RunnerEvent, type TaskStatus } from '../protocol/transitions';
import { keepPrevious, CheckpointWriter } from './checkpointWriter';
import { ControlCache, ControlWatcher, readControlFiles } from './controlFiles';
import { describeChanges } from './definitionChanges';
import { runStepAttempt, terminateGroup, type StepEnd } from './stepProcess';

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
const DEFAULT_RETRY_DELAY_MS = 1000;
/** The exit code a step uses to say "I saved my state and paused" (EX_TEMPFAIL). */
export const PAUSE_EXIT_CODE = 75;

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
    prepareRunDir(paths);
  } catch (err) {
    if (err instanceof RunnerError) return fail(opts.reporter, err.message, err.exitCode);
    if (err instanceof PathError) return fail(opts.reporter, err.message, taskIdProblem(opts.id) ? EXIT.usage : EXIT.badInput);
    throw err;
  }
  const lock = acquireLock(paths.lock, 'run');
  if (!lock.acquired) return fail(opts.reporter, `'${opts.id}' is held by another runner (pid ${lock.holder.pid} on ${lock.holder.host})`, EXIT.locked);
  const run = new TaskRun(opts, paths, def);
  try {
    return await run.execute();
  } catch (err) {
    if (err instanceof RunnerError) return fail(opts.reporter, err.message, err.exitCode);
    if (err instanceof TransitionError) return fail(opts.reporter, err.message, EXIT.usage);
    return run.fatal(err as Error);
  } finally {
    run.dispose();
    lock.release();
  }
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
  private readonly watcher: ControlWatcher;
  private readonly controlCache = new ControlCache();
  private heartbeat: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private lastStateWrite = 0;
  /** Aborted to interrupt the step in flight. */
  private readonly interruption = new AbortController();
  private wakeDelay: (() => void) | undefined;
  private pausedBy: RunnerState['pausedBy'];
  private signalPause = false;
  private signalInterrupt = false;
  private reportedProblems = new Set<string>();
  /** Control requests up to this seq were applied by an earlier runner. */
  private startSeq = 0;
  private unfinished: UnfinishedStep | null = null;
  private readonly outputEnv: Record<string, string> = {};
  /** process.env with the task's env: built once, copied for each step. */
  private baseEnv: NodeJS.ProcessEnv | undefined;
  private stepGroup: { pid: number } | undefined;
  private readonly onSignal = () => this.signalled();

  constructor(private readonly opts: RunnerOptions, private readonly paths: TaskPaths, private readonly def: TaskDefinition) {
    this.hash = definitionHash(def);
    this.pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
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
    if (previous.status === 'lost') await this.stopLeftoverStep(previous.state);

    const checkpoint = request === 'resume' ? this.resumeCheckpoint() : this.newCheckpoint();
    this.runId = checkpoint.checkpoint.runId;
    this.unfinished = checkpoint.checkpoint.unfinished;
    for (const step of checkpoint.checkpoint.completed) this.addOutputs(step);

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
    this.writer = new CheckpointWriter(this.paths, checkpoint.checkpoint, checkpoint.lastSeq, checkpoint.journalEntries);
    if (checkpoint.isNew) this.writer.snapshot('started', null);
    const done = this.doneIds();
    this.state.stepsDone = this.def.steps.filter((s) => done.has(s.id)).length;
    this.startSeq = this.state.appliedSeq;

    this.applyControl();
    this.saveState(true);
    this.watcher.start();
    this.heartbeat = setInterval(() => this.saveState(true), HEARTBEAT_MS);
    if (this.opts.handleSignals) for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, this.onSignal);

    const action = request === 'resume' ? (previous.status === 'idle' ? 'Running' : 'Resuming') : 'Running';
    this.opts.reporter.info(`${action} '${this.id}' (run ${this.runId.slice(0, 8)}): ${this.state.stepsDone}/${this.def.steps.length} steps done`);
    const stop = await this.runSteps();
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

  /** A runner killed with -9 leaves its step's process group running: stop it before running the step again. */
  private async stopLeftoverStep(state: RunnerState | undefined): Promise<void> {
    const step = state?.currentStep;
    if (!step?.pid || !isSameProcessAlive(step.pid, step.pidStartTime)) return;
    this.opts.reporter.info(`Stopping step '${step.id}' left running by the lost runner (pid ${step.pid})`);
    await terminateGroup(step.pid, this.graceMs);
  }

  private newCheckpoint(): { checkpoint: Checkpoint; lastSeq: number; journalEntries: number; isNew: boolean } {
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
    return { checkpoint, lastSeq: 0, journalEntries: 0, isNew: true };
  }

  private resumeCheckpoint(): { checkpoint: Checkpoint; lastSeq: number; journalEntries: number; isNew: boolean } {
    const loaded = checkResumable(this.paths, this.def, this.opts.force ?? false, this.opts.reporter);
    if (!loaded) return this.newCheckpoint(); // stopped before its first checkpoint
    const { checkpoint } = loaded;
    if (checkpoint.definitionHash !== this.hash) {
      checkpoint.definitionHash = this.hash;
      checkpoint.definition = publicDefinition(this.def);
    }
    return { checkpoint, lastSeq: loaded.lastSeq, journalEntries: loaded.journalEntries, isNew: false };
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
    if (!ACTIVE_STATES.has(this.status)) return;
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
    const taskDesired = task && task.seq > this.startSeq ? task.desired : 'running';
    let wanted: 'running' | 'paused' | 'interrupted' = 'running';
    let by: RunnerState['pausedBy'];
    if (taskDesired === 'interrupted' || this.signalInterrupt) wanted = 'interrupted';
    else if (taskDesired === 'paused') [wanted, by] = ['paused', 'user'];
    else if (global?.desired === 'paused') [wanted, by] = ['paused', 'global'];
    else if (this.signalPause) [wanted, by] = ['paused', 'signal'];

    if (wanted === 'interrupted' && this.status !== 'interrupting') {
      this.move('interrupt');
      this.interruption.abort();
    } else if (wanted === 'paused' && this.status === 'running') {
      this.move('pause');
      this.pausedBy = by;
      fs.writeFileSync(this.paths.pauseRequested, `${new Date().toISOString()} ${by}\n`);
    } else if (wanted === 'running' && this.status === 'pausing') {
      this.move('resume');
      this.pausedBy = undefined;
      fs.rmSync(this.paths.pauseRequested, { force: true });
    } else if (!changed) return;
    this.wakeDelay?.();
    this.saveState(true);
  }

  private move(action: Request | RunnerEvent): void {
    this.status = transition(this.id, this.status, action);
    this.state.status = this.status as RunnerState['status'];
  }

  private signalled(): void {
    if (this.signalPause) {
      this.opts.reporter.info('Interrupting: the step in flight is being stopped');
      this.signalInterrupt = true;
    } else {
      this.opts.reporter.info('Pausing after the step in flight (press Ctrl+C again to interrupt)');
      this.signalPause = true;
    }
    this.applyControl();
  }

  // ---- steps ---------------------------------------------------------------------------------

  private async runSteps(): Promise<Stop> {
    const done = this.doneIds();
    for (const [index, step] of this.def.steps.entries()) {
      if (done.has(step.id)) continue;
      this.applyControl();
      const boundary = this.boundaryStop();
      if (boundary) return boundary;
      const stop = await this.runStep(step, index);
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
      log: path.join(this.paths.logsDir, `${step.id}.log`),
    };
  }

  /** Runs a step through its attempts; a Stop when the run ends here, undefined when it completed. */
  private async runStep(step: StepDefinition, index: number): Promise<Stop | undefined> {
    const files = this.stepFiles(step);
    const previous = this.unfinished?.id === step.id ? this.unfinished : null;
    if (previous && !fs.existsSync(files.state)) restoreStepState(files.state, previous);
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
      const cwd = path.resolve(this.opts.root, this.def.cwd ?? '.', step.cwd ?? '.');
      const end = await runStepAttempt({
        command: step.run,
        cwd,
        env: this.stepEnv(step, index, attempt, files),
        logFile: files.log,
        logHeader: `=== ${step.id} attempt ${attempt} · ${attemptStart} · run ${this.runId} ===\n`,
        timeoutMs,
        graceMs: this.graceMs,
        interrupt: this.interruption.signal,
        onStart: (pid) => {
          this.stepGroup = { pid };
          // With its pid, so that the next runner can stop it if this one is killed.
          this.state.currentStep = { ...this.state.currentStep!, pid };
          this.saveState(false);
        },
        onProgress: (done, total) => {
          this.state.currentStep = { ...this.state.currentStep!, progress: { done, total } };
          this.saveState(false);
        },
      });
      this.stepGroup = undefined;
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
          await this.writer!.commitStep(completed);
          this.addOutputs(completed);
          this.unfinished = null;
          if (fs.existsSync(files.state)) fs.rmSync(files.state);
          this.state.stepsDone++;
          this.state.currentStep = null;
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
      if (attempt > retries) return this.failure(step, unfinished(outcome, { exitCode, signal, error: reason }), reason);

      const delay = baseDelay * 2 ** (attempt - 1);
      this.opts.reporter.info(`↻ ${step.id}: ${reason}; retrying in ${delay}ms (${attempt}/${retries} retries used)`);
      this.unfinished = unfinished(outcome, { exitCode, signal, error: reason });
      await this.delay(delay);
      const boundary = this.boundaryStop();
      if (boundary) return boundary;
    }
  }

  private failure(step: StepDefinition, unfinished: UnfinishedStep, reason: string): Stop {
    return { kind: 'failed', unfinished, reason: `step '${step.id}' failed: ${reason}` };
  }

  private stepEnv(step: StepDefinition, index: number, attempt: number, files: ReturnType<TaskRun['stepFiles']>): NodeJS.ProcessEnv {
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
      TASK_STEP_ATTEMPT: String(attempt),
      TASK_STEP_OUTPUT: files.output,
      TASK_STEP_STATE: files.state,
      TASK_PAUSE_REQUESTED: this.paths.pauseRequested,
    };
  }

  /** A retry delay that a pause or an interrupt cuts short. */
  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeDelay = undefined;
        resolve();
      }
      this.wakeDelay = () => {
        if (this.status !== 'running') done();
      };
    });
  }

  // ---- state and ending ----------------------------------------------------------------------

  /** Write state.json now, or (for step starts in quick succession) at most every STATE_THROTTLE_MS. */
  private saveState(now: boolean): void {
    const elapsed = performance.now() - this.lastStateWrite;
    if (!now && elapsed < STATE_THROTTLE_MS) {
      this.stateTimer ??= setTimeout(() => this.saveState(true), STATE_THROTTLE_MS - elapsed);
      return;
    }
    clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
    const step = this.state.currentStep;
    // Read only when written: steps that start and end between two writes never need it.
    // "gone": the step ended already, so a later process with the same pid is never taken for it.
    if (step?.pid && !step.pidStartTime) step.pidStartTime = processStartTime(step.pid) ?? 'gone';
    const time = new Date().toISOString();
    this.state.updatedAt = time;
    this.state.heartbeatAt = time;
    this.state.pausedBy = this.status === 'pausing' || this.status === 'paused' ? this.pausedBy : undefined;
    // Not fsynced: state.json is a live view, rebuilt by the next runner; the checkpoint is the durable record.
    writeJsonAtomicSync(this.paths.state, this.state);
    this.lastStateWrite = performance.now();
  }

  private async finish(stop: Stop): Promise<number> {
    this.watcher.stop();
    // A step that failed while being interrupted was interrupted: the person asked it to stop.
    if (stop.kind === 'failed' && this.status === 'interrupting') stop = { kind: 'interrupted', unfinished: stop.unfinished };
    await this.writer!.flush();
    const unfinished = stop.kind === 'completed' ? null : stop.unfinished;
    this.writer!.snapshot(stop.kind, unfinished);
    const event: Record<Stop['kind'], RunnerEvent> = { completed: 'finished', failed: 'stepFailed', paused: 'pauseReached', interrupted: 'processTreeGone' };
    this.move(event[stop.kind]);
    fs.rmSync(this.paths.pauseRequested, { force: true });
    this.state.currentStep = null;
    this.state.endedAt = new Date().toISOString();
    if (stop.kind === 'failed') this.state.reason = stop.reason;
    if (stop.kind === 'paused') {
      this.pausedBy ??= 'step';
      if (unfinished) this.state.reason = `paused in step '${unfinished.id}'`;
    }
    if (stop.kind === 'interrupted' && unfinished) this.state.reason = `interrupted in step '${unfinished.id}'`;
    this.saveState(true);
    const r = this.opts.reporter;
    switch (stop.kind) {
      case 'completed':
        r.info(`Completed '${this.id}': ${this.state.stepsDone}/${this.state.stepsTotal} steps`);
        return EXIT.completed;
      case 'failed':
        r.error(`Failed '${this.id}': ${stop.reason} (log: ${path.join(this.paths.logsDir, `${stop.unfinished.id}.log`)})`);
        return EXIT.failed;
      case 'paused':
        r.info(`Paused '${this.id}': ${this.state.stepsDone}/${this.state.stepsTotal} steps done; resume with: ptask resume ${this.id}`);
        return EXIT.paused;
      case 'interrupted':
        r.info(`Interrupted '${this.id}': ${this.state.stepsDone}/${this.state.stepsTotal} steps done${unfinished ? `; '${unfinished.id}' runs again on resume` : ''}`);
        return EXIT.interrupted;
    }
  }

  /** The one way out on an unexpected error: the step stopped, a readable state, the last checkpoint kept. */
  async fatal(err: Error): Promise<number> {
    this.opts.reporter.error(`runner error: ${err.stack ?? err.message}`);
    this.watcher.stop();
    if (this.stepGroup) await terminateGroup(this.stepGroup.pid, this.graceMs);
    if (this.state) {
      try {
        this.state.status = 'failed';
        this.state.reason = `runner error: ${err.message}`;
        this.state.currentStep = null;
        this.state.endedAt = new Date().toISOString();
        this.saveState(true);
      } catch {
        // the disk may be what failed; the checkpoint on disk is still the last good one
      }
    }
    return EXIT.failed;
  }

  dispose(): void {
    this.watcher.stop();
    clearInterval(this.heartbeat);
    clearTimeout(this.stateTimer);
    this.writer?.close();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, this.onSignal);
  }
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
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  return `it wrote ${file} (TASK_STEP_OUTPUT), which is not a JSON object`;
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
    return { state: JSON.parse(text) };
  } catch {
    return { stateText: text };
  }
}

function restoreStepState(file: string, previous: UnfinishedStep): void {
  if (previous.stateText !== undefined) fs.writeFileSync(file, previous.stateText);
  else if (previous.state !== undefined) fs.writeFileSync(file, JSON.stringify(previous.state));
}
