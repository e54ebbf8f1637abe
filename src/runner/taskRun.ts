/**
 * One run of a task, holding its lock: it finds where to start from, runs the steps the scheduler
 * hands it (a forEach step: its items), and ends in exactly one way (completed, failed, paused,
 * interrupted) or, on an unexpected error, through `fatal`. The parts it wires: RunControl (the
 * status, and what is wanted), the executor (attempts), the CommitLog (durable progress) and the
 * StatePublisher (state.json).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDuration } from '../protocol/duration';
import { EXIT } from '../protocol/exitCodes';
import { stepLogPath, type TaskPaths } from '../protocol/paths';
import type { ItemProgress } from '../protocol/itemProgress';
import { HOST } from '../protocol/processInfo';
import { cancelSubmittedJobs } from '../protocol/slurmJobs';
import { hasStamp, stepFolderOf } from '../protocol/upToDate';
import { unfinishedSteps, type CompletedStep, type CurrentStep, type RunnerState, type StepDefinition, type TaskDefinition, type UnfinishedStep } from '../protocol/schemas';
import type { Redact } from '../protocol/secrets';
import { ACTIVE_STATES, transition, type Request, type RunnerEvent } from '../protocol/transitions';
import { asWriteError, WriteError } from '../protocol/writeError';
import { Adoptions } from './adoptions';
import type { AttemptPolicy, LoopHost } from './attemptLoop';
import { AutoResumes } from './autoResume';
import { runBatch } from './batchRun';
import { CommitLog, type StopRecord } from './commitLog';
import type { LiveBatch, RunContext, Stop } from './context';
import { ControlWatcher, readControlFiles } from './controlFiles';
import { fileStamp, type AttemptSpec, type Executor, type RunningAttempt } from './executor';
import { LocalExecutor } from './localExecutor';
import type { LockOwnership } from './ownership';
import { PauseOnPolicy } from './pauseOn';
import { RunnerError, type Reporter } from './reporter';
import { RunControl } from './runControl';
import { GraphScheduler, type PlannedStep } from './scheduler';
import { newCheckpoint, previousState, resumeCheckpoint, stopLeftoverStep } from './startingPoint';
import { STATE_THROTTLE_MS, StatePublisher } from './statePublisher';
import { SlotExecutor } from './slotExecutor';
import { slotProgram, slotProgramNow } from './slotProgram';
import { SlurmExecutor } from './slurm/slurmExecutor';
import { runStamped } from './stampedStep';
import { StepOutputs } from './stepOutputs';
import { outputsFile, removeIfThere, stepFiles, writeOutputsFile, type StepFiles } from './stepFiles';
import { chainLane, QUEUE_AHEAD, StepsAhead, type QueuedStep } from './stepQueue';
import { runStep, stepAttemptSpec } from './stepRun';
import { TimelineLog } from './timelineLog';

export interface RunOptions {
  root: string;
  mode: 'run' | 'resume';
  fresh?: boolean;
  force?: boolean;
  /** resume under a changed definition: follow the plan where it runs done steps again (else refused, exit 65). */
  rerunDone?: boolean;
  pollMs: number;
  graceMs: number;
  reporter: Reporter;
  /** SIGINT/SIGTERM/SIGHUP pause the task gracefully; a second one interrupts it. */
  handleSignals?: boolean;
  /** Is runner.lock still this runner's? */
  ownership: LockOwnership;
  /** The lock is no longer this runner's: whatever else writes into the run folder stops (runner.log). */
  onDisowned?: () => void;
}

const DEFAULT_RETRY_DELAY_MS = 1000;
/** When steps in flight end in different ways, the run ends the worst one. */
const STOP_RANK: Record<Stop['kind'], number> = { completed: 0, paused: 1, failed: 2, interrupted: 3 };
const stepIndexOf = (stop: Stop) => (stop.kind !== 'completed' && stop.unfinished ? stop.unfinished.index : Infinity);
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class TaskRun implements RunContext {
  readonly id: string;
  readonly root: string;
  readonly reporter: Reporter;
  readonly pauseOn: PauseOnPolicy | undefined;
  runId = '';
  logReuse: string | undefined;
  /** The steps left unfinished, by id: from the checkpoint, then by each step that stops. */
  private readonly unfinished = new Map<string, UnfinishedStep>();
  /** The steps in flight, as state.json shows them. */
  private readonly current = new Map<string, CurrentStep>();
  batch: LiveBatch | undefined;
  control!: RunControl;
  publisher!: StatePublisher;
  log!: CommitLog;
  loopHost!: LoopHost;
  private readonly executor: Executor;
  /** Made when a step first runs on Slurm, or a resume finds the run's jobs. */
  private slurm: SlurmExecutor | undefined;
  private readonly autoResumes: AutoResumes;
  /** For the picture of the run: attempts as they end, runners as they start and stop. */
  private readonly timeline: TimelineLog;
  private readonly watcher: ControlWatcher;
  /** What the runner before left in flight: taken over, not run again. */
  private readonly adoptions: Adoptions;
  /** Attempts in flight: stopped on a fatal error. */
  private readonly inFlight = new Set<RunningAttempt>();
  /** A chain's next steps, sent ahead to the slot of the step running. */
  private readonly ahead: StepsAhead;
  /** Earlier steps' outputs, as environment variables: those of the steps each step needs. */
  private readonly outputs: StepOutputs;
  /** process.env with the task's env: built once, copied for each step. */
  private baseEnv: NodeJS.ProcessEnv | undefined;
  /** The variables every step of the last kind asked for has, with its own left empty (stepEnv). */
  private envTemplate: { stepEnv: unknown; outputs: unknown; version: number; names: string; env: NodeJS.ProcessEnv } | undefined;
  /** The steps have begun: from then on a stop writes state.json, and a write failure pauses. */
  private started = false;
  /** A write that failed before the steps began: the run does not start. */
  private startError: WriteError | undefined;
  /** The signals this runner was sent: an attempt killed by one of them was stopped with it. */
  private readonly signalsReceived = new Set<NodeJS.Signals>();
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.signalsReceived.add(signal);
    this.control?.signalled();
  };

  constructor(private readonly opts: RunOptions, readonly paths: TaskPaths, readonly def: TaskDefinition, readonly redact: Redact) {
    this.id = paths.id;
    this.root = opts.root;
    this.reporter = opts.reporter;
    this.pauseOn = def.pauseOn && new PauseOnPolicy(def.pauseOn, redact);
    this.autoResumes = new AutoResumes(this.pauseOn);
    // Slots when there is a compiler or perl (every Linux and macOS); PTASK_EXECUTOR=local forks from the runner, as before.
    // The hold file is named before the run is known (its id comes with the checkpoint): by the runner's pid alone.
    const program = process.env.PTASK_EXECUTOR === 'local' ? undefined : slotProgram();
    this.executor = program
      ? new SlotExecutor(() => slotProgramNow() ?? program, opts.graceMs, (slot) => path.join(paths.attemptsDir, `${this.runId.slice(0, 8)}.${process.pid}.${slot}.tsv`), path.join(paths.attemptsDir, `${process.pid}.hold`))
      : new LocalExecutor(opts.graceMs);
    this.watcher = new ControlWatcher(paths, opts.pollMs, () => this.control.look());
    this.adoptions = new Adoptions(opts.graceMs, () => this.slurmExecutor());
    this.outputs = new StepOutputs(def.steps);
    this.timeline = new TimelineLog(paths.timeline);
    this.ahead = new StepsAhead({
      running: () => this.control.running,
      room: (lane) => this.queue(lane, QUEUE_AHEAD).room,
      laneOf: (step) => {
        const current = this.current.get(step.id);
        return current && !step.forEach && !this.onSlurm(step) ? chainLane(step.id, current.attempt) : undefined;
      },
      queueable: (step) => !step.forEach && !hasStamp(step) && !this.onSlurm(step) && !this.unfinished.has(step.id) && !this.adoptions.has(step.id),
      outputsFile: (step) => stepFiles(paths, step).output,
      controlStamps: () => [paths.control, paths.globalControl].map((file) => ({ file, stamp: this.control.stampOf(file) ?? fileStamp(file) })),
      spec: (step, index) => {
        // As runStep does when the attempt starts: an outputs file left by an earlier run is not this attempt's.
        removeIfThere(stepFiles(paths, step).output);
        return stepAttemptSpec(this, step, index, 1, new Date().toISOString());
      },
      start: (spec) => this.startAttempt(spec),
    });
  }

  async execute(): Promise<number> {
    const { paths, def, reporter } = this;
    const previous = previousState(paths, reporter);
    const request: Request = this.opts.mode === 'resume' ? 'resume' : this.opts.fresh ? 'runFresh' : 'run';
    const status = transition(this.id, previous.status, request);
    const files = readControlFiles(paths);
    if (files.problems.length) throw new RunnerError(files.problems.map((p) => p.message).join('\n'), EXIT.badInput);
    // A resume takes over what the runner before left (it died, or could not write its last commits): attempts still
    // running, and ends recorded while no runner watched. A run that ended well deleted its records.
    if (request === 'resume') await this.adoptions.find(paths.attemptsDir, paths.slurmDir);
    // Idle with earlier snapshots: reset, maybe while lost, which forgot the state naming the step left running.
    if (previous.status === 'lost' || (previous.status === 'idle' && fs.existsSync(paths.checkpointsDir))) await stopLeftoverStep(paths, previous.state, this.opts.graceMs, reporter, this.adoptions.groups());
    // Records of attempts nobody will adopt: a new run, or a reset task.
    if (request !== 'resume') {
      fs.rmSync(paths.attemptsDir, { recursive: true, force: true });
      // Jobs an earlier run left in Slurm's queue (held by its pause) would run what is no one's now.
      cancelSubmittedJobs(paths.slurmDir);
      fs.rmSync(paths.slurmDir, { recursive: true, force: true });
    }
    // Left by a runner killed while pausing: steps would take it for a pause of this run.
    fs.rmSync(paths.pauseRequested, { force: true });

    const start = request === 'resume' ? resumeCheckpoint(paths, def, { force: this.opts.force ?? false, rerunDone: this.opts.rerunDone ?? false }, reporter) : newCheckpoint(paths, def);
    const { checkpoint } = start;
    this.adoptions.prune(checkpoint, start.batch);
    // An attempt a lost runner left of a step changed since runs what the step was (its items may be others now): stopped, not taken over.
    if (start.changedSteps?.length) await this.adoptions.stopSteps(start.changedSteps, reporter);
    this.runId = checkpoint.runId;
    this.logReuse = start.logReuse;
    for (const u of unfinishedSteps(checkpoint)) this.unfinished.set(u.id, u);
    const hadOutputs = checkpoint.completed.map((step) => this.outputs.add(step)).some(Boolean);
    // This runner resumes a failure pause (its own resume, or the next after a crash): one more automatic resume.
    const failurePause = checkpoint.failurePause;
    if (failurePause) this.autoResumes.count = failurePause.autoResumes + 1;
    const done = new Set(checkpoint.completed.map((s) => s.id));
    const state: RunnerState = {
      v: 1,
      taskId: this.id,
      runId: this.runId,
      status: 'running',
      pid: process.pid,
      host: HOST,
      startedAt: new Date().toISOString(),
      updatedAt: '',
      heartbeatAt: '',
      stepsTotal: def.steps.length,
      stepsDone: def.steps.filter((s) => done.has(s.id)).length,
      currentStep: null,
      // A request already applied by an earlier runner is not applied again.
      appliedSeq: previous.state?.appliedSeq ?? 0,
      appliedGlobalSeq: previous.state?.appliedGlobalSeq ?? 0,
      definitionHash: checkpoint.definitionHash,
    };
    this.adoptions.describe(state, reporter);
    const onWriteError = (err: WriteError) => (this.started ? this.control.cannotWrite(err) : (this.startError ??= err));
    this.publisher = new StatePublisher(paths.state, state, this.redact, onWriteError, (s) => this.refresh(s), () => this.control.holds());
    this.control = new RunControl(this.id, paths, state, reporter, () => this.publisher.save(), status, this.opts.ownership, () => this.mute());
    this.log = new CommitLog(paths, checkpoint, start.lastSeq, start.batch, { redact: this.redact, onWriteError });
    const control = this.control;
    // A pause holds the Slurm elements that have not started; the running ones finish. Once the
    // run is no longer running, attempts queued in slots are not started either.
    control.onMove = (status) => {
      if (status === 'pausing') this.slurm?.hold();
      this.executor.hold?.(status !== 'running');
    };
    this.loopHost = { interrupt: control.interrupt, pausing: () => control.pausing, running: () => control.running, received: (signal) => this.signalsReceived.has(signal), sleep: (ms) => control.sleep(ms), onRetry: () => {} };
    // A new run, and a resume under a changed definition, are on disk before any step runs: a crash then resumes as it should.
    if (start.isNew && !this.log.snapshot('started', { unfinished: null })) throw this.startError;
    if (start.redefined && !this.log.snapshot('definition-changed', this.stopRecord())) throw this.startError;

    this.started = true;
    this.timeline.add({ t: 'runner', at: Date.now(), pid: process.pid, resumed: !start.isNew });
    // A file that cannot be written pauses the task at its first boundary, as any other.
    if (hadOutputs) this.tryWrite(() => writeOutputsFile(outputsFile(paths), checkpoint.completed), outputsFile(paths));
    this.control.look();
    this.publisher.save();
    this.watcher.start();
    this.publisher.startHeartbeat();
    if (this.opts.handleSignals) for (const sig of SIGNALS) process.on(sig, this.onSignal);

    const action = request === 'resume' && previous.status !== 'idle' ? 'Resuming' : 'Running';
    reporter.info(`${action} '${this.id}' (run ${this.runId.slice(0, 8)}): ${state.stepsDone}/${def.steps.length} steps done`);
    if (failurePause) reporter.info(`It had paused on a failure (${failurePause.reason})${this.autoResumes.describe()}`);
    let stop = await this.runSteps();
    while (stop.kind === 'paused' && this.control.pausedBy === 'failure' && this.autoResumes.enabled) {
      const ended = await this.autoResumes.wait(this, stop.unfinished);
      if (ended) {
        stop = ended;
        break;
      }
      stop = await this.runSteps();
    }
    return this.finish(stop);
  }

  /**
   * The steps the scheduler hands out, several at once when the graph and the task's concurrency
   * allow. Once a step stops (it failed, paused or was interrupted), or a pause or an interrupt is
   * asked for, no step starts; those in flight finish (or drain, or are stopped, by the same
   * control), and the run ends the worst way any of them did: interrupted, failed, paused.
   */
  private async runSteps(): Promise<Stop> {
    const scheduler = new GraphScheduler(this.def.steps, this.log.current.completed.map((s) => s.id), this.def.concurrency ?? 1);
    const inFlight = new Map<string, Promise<{ id: string; stop: Stop | undefined }>>();
    let ended: Stop | undefined;
    const run = ({ step, index }: PlannedStep) => inFlight.set(step.id, this.runOne(step, index).then((stop) => ({ id: step.id, stop })));
    for (;;) {
      if (!ended) {
        // A step sent ahead was gated on the control files by its slot, and one it declined looks
        // again before the runner starts it (stepRun.ts).
        this.control.lookIfStale();
        ended = this.atBoundary();
      }
      if (!ended) {
        // A queued step whose step before completed first: its slot starts it, or has.
        const started = [...this.ahead.takeReady(scheduler), ...scheduler.ready()];
        started.forEach(run);
        // Gated on the control files as look() found them before reading them: a write since declines it.
        if (this.executor.queue) this.ahead.fill(scheduler, started);
      } else {
        // No step starts now; one its slot started already, behind the step before, is in flight.
        const startedAnyway = await this.ahead.startedAnyway(scheduler, this.control.status === 'interrupting' || this.control.disowned, (id) => inFlight.has(id));
        if (startedAnyway) run(startedAnyway);
      }
      if (!inFlight.size) break;
      const { id, stop } = await Promise.race(inFlight.values());
      inFlight.delete(id);
      this.current.delete(id);
      if (!stop) {
        scheduler.completed(id);
        continue;
      }
      scheduler.stopped(id);
      // Nothing more starts, and nothing queued in another chain's slot either (a failure moves no status).
      this.holdQueued();
      if (stop.kind !== 'completed' && stop.unfinished) this.unfinished.set(id, stop.unfinished);
      // The worst end; of equal ones, the step defined first (the run names it, whichever ended first).
      const rank = STOP_RANK[stop.kind] - (ended ? STOP_RANK[ended.kind] : -1);
      if (rank > 0 || (rank === 0 && stepIndexOf(stop) < stepIndexOf(ended!))) ended = stop;
    }
    await this.ahead.clear();
    if (!ended) {
      const done = new Set(this.log.current.completed.map((c) => c.id));
      const left = this.def.steps.filter((s) => !done.has(s.id));
      if (left.length) throw new Error(`the scheduler ran out of steps with ${left.map((s) => `'${s.id}'`).join(', ')} not done`);
    }
    if (!ended) return { kind: 'completed' };
    // A pause or an interrupt between steps names the step the run stopped in before, if any.
    if ((ended.kind === 'paused' || ended.kind === 'interrupted') && !ended.unfinished) return { kind: ended.kind, unfinished: this.stopRecord().unfinished };
    return ended;
  }

  /** A step; one that says its inputs or outputs may be committed as up to date instead (stampedStep.ts). */
  private runOne(step: StepDefinition, index: number): Promise<Stop | undefined> {
    const run = () => (step.forEach ? runBatch(this, step, index) : runStep(this, step, index));
    if (!hasStamp(step)) return run();
    return runStamped(this, step, index, run, () => this.timeline.add({ t: 'upToDate', step: step.id, at: Date.now() }));
  }

  /** A pending pause or interrupt ends the run at a step boundary: no step starts. */
  private atBoundary(): Stop | undefined {
    if (this.control.disowned || this.control.status === 'interrupting') return { kind: 'interrupted', unfinished: null };
    if (this.control.pausing) return { kind: 'paused', unfinished: null };
    return undefined;
  }

  unfinishedOf(stepId: string): UnfinishedStep | null {
    return this.unfinished.get(stepId) ?? null;
  }

  /** The steps left unfinished: `first` (the one the run stopped for) first, the others in the order they are defined. */
  stopRecord(first?: UnfinishedStep | null): StopRecord {
    const all = [...this.unfinished.values()].filter((u) => u.id !== first?.id).sort((a, b) => a.index - b.index);
    if (first) all.unshift(first);
    return { unfinished: all[0] ?? null, ...(all.length > 1 ? { alsoUnfinished: all.slice(1) } : {}) };
  }

  currentOf(stepId: string): CurrentStep | undefined {
    return this.current.get(stepId);
  }

  setCurrent(current: CurrentStep): void {
    this.current.set(current.id, current);
  }

  // ---- what the steps and items are given (RunContext) ----------------------------------------

  startAttempt(spec: AttemptSpec): RunningAttempt {
    let began = Date.now();
    const running =
      this.adoptions.take(spec) ??
      (spec.slurm ? this.slurmExecutor() : this.executor).start({
        ...spec,
        // A queued attempt begins when its slot starts it.
        onStarted: (pid) => {
          began = Date.now();
          spec.onStarted?.(pid);
        },
        // A log that cannot be written pauses the task after it; the output goes on unlogged.
        onLogError: (err) => this.control.cannotWrite(asWriteError(err, spec.logFile, true) ?? new WriteError(spec.logFile, err.message)),
      });
    this.inFlight.add(running);
    void running.ended.then((end) => {
      this.inFlight.delete(running);
      if (end.kind === 'declined') return;
      // A slot in C may tell of a start only with its end: its own times are the attempt's.
      const times = (end.kind === 'exited' && end.times) || { started: began, ended: Date.now() };
      this.timeline.attempt(spec.record.key, spec.record.attempt, times, end);
      spec.onEnded?.(times.ended - times.started);
    });
    return running;
  }

  queue(lane: string, depth: number): { waiting: number; room: boolean } {
    return this.executor.queue?.(lane, depth) ?? { waiting: 0, room: false };
  }

  holdQueued(): void {
    this.executor.hold?.(true);
  }

  isAdopted(key: string): boolean {
    return this.adoptions.has(key);
  }

  attemptPolicy(step: StepDefinition): AttemptPolicy {
    return {
      retries: step.retries ?? 0,
      retryDelayMs: step.retryDelay !== undefined ? parseDuration(step.retryDelay) : DEFAULT_RETRY_DELAY_MS,
      // On Slurm the timeout is the job's time limit (slurmSpec): a wait in the queue does not count.
      timeoutMs: step.timeout !== undefined && !this.onSlurm(step) ? parseDuration(step.timeout) : undefined,
      pauseOn: this.pauseOn,
    };
  }

  slurmSpec(step: StepDefinition, throttle: number): AttemptSpec['slurm'] {
    if (!this.onSlurm(step)) return undefined;
    const task = this.def.slurm ?? {};
    const own = step.slurm ?? {};
    const options = { ...task, ...own, sbatchArgs: [...(task.sbatchArgs ?? []), ...(own.sbatchArgs ?? [])] };
    options.time ??= step.timeout;
    return { stepId: step.id, options, throttle };
  }

  private onSlurm(step: StepDefinition): boolean {
    return (step.executor ?? this.def.executor) === 'slurm';
  }

  private slurmExecutor(): SlurmExecutor {
    this.slurm ??= new SlurmExecutor({
      dir: this.paths.slurmDir,
      namePrefix: `ptask.${this.id}.${this.runId.slice(0, 8)}`,
      graceMs: this.opts.graceMs,
      onJobs: (jobs) => {
        this.publisher.state.slurm = jobs.length ? jobs : undefined;
        this.publisher.save(STATE_THROTTLE_MS);
      },
      onWarning: (message) => this.reporter.error(`Slurm: ${message}`),
    });
    return this.slurm;
  }

  stepEnv(step: StepDefinition, index: number, extra: Record<string, string>): NodeJS.ProcessEnv {
    const outputs = this.outputs.envFor(index);
    const names = Object.keys(extra).join('\0');
    let t = this.envTemplate;
    if (!t || t.stepEnv !== step.env || t.outputs !== outputs || t.version !== this.outputs.version || t.names !== names) {
      if (!this.baseEnv) {
        this.baseEnv = { ...process.env, ...this.def.env };
        // Set when VS Code started the runner; it would make any Electron app a step runs misbehave.
        delete this.baseEnv.ELECTRON_RUN_AS_NODE;
      }
      const env = {
        ...this.baseEnv,
        ...step.env,
        ...outputs,
        TASK_ID: this.id,
        TASK_RUN_ID: this.runId,
        TASK_STEP_ID: '',
        TASK_STEP_INDEX: '',
        TASK_PAUSE_REQUESTED: this.paths.pauseRequested,
        TASK_OUTPUTS: outputsFile(this.paths),
        ...extra,
      };
      t = this.envTemplate = { stepEnv: step.env, outputs, version: this.outputs.version, names, env };
    }
    // A copy of the template, then its own values: the variables built one by one for each step
    // made an object V8 keeps as a dictionary, 25 us a step to make and to compare with the last.
    const env = { ...t.env };
    env.TASK_STEP_ID = step.id;
    env.TASK_STEP_INDEX = String(index);
    for (const name in extra) env[name] = extra[name];
    return env;
  }

  stepFolder(step: StepDefinition): string {
    return stepFolderOf(this.root, this.def, step);
  }

  takeQueued(stepId: string): QueuedStep | undefined {
    return this.ahead.take(stepId);
  }

  async commitStep(completed: CompletedStep, files: StepFiles, endSynced = false): Promise<boolean> {
    if (!(await this.log.commitStep(completed, endSynced))) return false;
    // Later steps find every output, of any size, in TASK_OUTPUTS; a file that cannot be written pauses the task (the step is committed).
    if (this.outputs.add(completed)) this.tryWrite(() => writeOutputsFile(outputsFile(this.paths), this.log.current.completed), outputsFile(this.paths));
    this.unfinished.delete(completed.id);
    this.current.delete(completed.id);
    this.progressMade();
    removeIfThere(files.state);
    this.publisher.state.stepsDone++;
    return true;
  }

  pauseOnFailure(unfinished: UnfinishedStep, reason: string): Stop {
    const givenUp = this.givenUp(reason);
    if (givenUp) return { kind: 'failed', unfinished, reason: givenUp };
    this.control.failureMatched(reason);
    return this.control.status === 'interrupting' ? { kind: 'interrupted', unfinished } : { kind: 'paused', unfinished: { ...unfinished, outcome: 'paused' } };
  }

  givenUp(reason: string): string | undefined {
    return this.autoResumes.usedUp() ? this.autoResumes.givenUp(reason) : undefined;
  }

  progressMade(): void {
    this.autoResumes.count = 0;
  }

  tryWrite(write: () => void, file?: string): boolean {
    if (this.control.disowned) return false;
    try {
      write();
      return true;
    } catch (err) {
      const failed = asWriteError(err, file, true);
      if (!failed) throw err;
      this.control.cannotWrite(failed);
      return false;
    }
  }

  /** The live parts of state.json, just before it is written. */
  private refresh(state: RunnerState): void {
    // The steps in flight in the order they are defined; a forEach step's counts and process groups, as they are now.
    const running = [...this.current.values()].sort((a, b) => a.index - b.index);
    const live = (c: CurrentStep) => (this.batch && this.def.steps[c.index].forEach ? { ...c, ...this.batch.counts(), processes: this.batch.processes() } : c);
    state.currentStep = running.length ? live(running[0]) : null;
    state.alsoRunning = running.length > 1 ? running.slice(1).map(live) : undefined;
    const { status } = this.control;
    state.pausedBy = status === 'pausing' || status === 'paused' ? this.control.pausedBy : undefined;
  }

  // ---- ending ----------------------------------------------------------------------------------

  private async finish(stop: Stop): Promise<number> {
    const { control, publisher, paths } = this;
    const state = publisher.state;
    this.watcher.stop();
    if (control.disowned) return this.disownedExit();
    const left = await this.adoptions.stopUnreached(new Set(this.def.steps.map((s) => s.id)), control.status === 'interrupting');
    // A step that failed while being interrupted was interrupted: the person asked it to stop.
    if (stop.kind === 'failed' && control.status === 'interrupting') stop = { kind: 'interrupted', unfinished: stop.unfinished };
    stop = this.pausedByDisk(stop);
    this.current.clear();
    const record = stop.kind === 'completed' ? { unfinished: null } : this.stopRecord(stop.unfinished);
    const unfinished = record.unfinished;
    const failurePause = stop.kind === 'paused' && control.pausedBy === 'failure' && control.matchedFailure ? { reason: control.matchedFailure.reason, at: new Date().toISOString(), autoResumes: this.autoResumes.count } : undefined;
    // Not written: checkpoint.json and the journal are as they were, and together hold every commit.
    const snapshotted = await this.log.finalSnapshot(stop.kind, { ...record, failurePause });
    if (!snapshotted) stop = this.pausedByDisk(stop);
    // Every attempt has ended and is committed: their records are no longer needed (but those left for the next runner).
    else {
      if (!left) this.tryWrite(() => fs.rmSync(paths.attemptsDir, { recursive: true, force: true }), paths.attemptsDir);
      // Kept while a pause leaves elements held in Slurm's queue (the resume releases them), or adopted ones unreached.
      if (!left && !this.slurm?.holds()) this.tryWrite(() => fs.rmSync(paths.slurmDir, { recursive: true, force: true }), paths.slurmDir);
    }
    this.timeline.add({ t: 'stop', at: Date.now(), how: stop.kind });
    this.timeline.close();
    const event: Record<Stop['kind'], RunnerEvent> = { completed: 'finished', failed: 'stepFailed', paused: 'pauseReached', interrupted: 'processTreeGone' };
    // A wait for an automatic resume that ended in a pause or an interrupt has moved already.
    if (ACTIVE_STATES.has(control.status)) control.move(event[stop.kind]);
    this.tryWrite(() => fs.rmSync(paths.pauseRequested, { force: true }), paths.pauseRequested);
    state.stoppedIn = stoppedIn(unfinished, this.log.batch);
    state.endedAt = new Date().toISOString();
    if (stop.kind === 'failed') state.reason = stop.reason;
    if (stop.kind === 'paused') {
      control.pausedBy ??= 'step';
      state.reason = control.writeError ? control.writeError.message : failurePause ? failurePause.reason : unfinished ? `paused in step '${unfinished.id}'` : undefined;
    }
    if (stop.kind === 'interrupted') state.reason = unfinished ? `interrupted in step '${unfinished.id}'` : undefined;
    const stateSaved = publisher.save();
    const r = this.reporter;
    const steps = `${state.stepsDone}/${state.stepsTotal} steps`;
    const writeError = control.writeError;
    if (writeError) {
      const kept = snapshotted ? paths.checkpoint : `${paths.checkpoint} (as it was) and ${path.basename(paths.journal)}`;
      const lost = stateSaved ? '' : `; ${path.basename(paths.state)} could not be written either, so the task shows as lost until then`;
      const done = `${steps} done, kept in ${kept}`;
      if (stop.kind === 'paused') {
        r.error(`Paused '${this.id}': ${writeError.message}. ${done}. ${writeError.fix}, then resume with: ptask resume ${this.id}${lost}`);
        return EXIT.paused;
      }
      r.error(`${writeError.message}; ${done}${lost}`);
    }
    switch (stop.kind) {
      case 'completed':
        r.info(`Completed '${this.id}': ${steps}`);
        return EXIT.completed;
      case 'failed':
        r.error(`Failed '${this.id}': ${stop.reason} (log: ${stepLogPath(paths, stop.unfinished.id)})`);
        return EXIT.failed;
      case 'paused':
        r.info(`Paused '${this.id}'${failurePause ? ' on a failure' : ''}: ${steps} done; resume with: ptask resume ${this.id}`);
        return EXIT.paused;
      case 'interrupted':
        r.info(`Interrupted '${this.id}': ${steps} done${unfinished ? `; '${unfinished.id}' runs again on resume` : ''}`);
        return EXIT.interrupted;
    }
  }

  /**
   * A failure while a file of the run could not be written may well be the disk's doing (the step
   * could not write either): the task pauses rather than fails, and resume runs the step again.
   */
  private pausedByDisk(stop: Stop): Stop {
    if (!this.control.writeError || stop.kind !== 'failed') return stop;
    this.reporter.error(`${stop.reason} (taken as a pause: ${this.control.writeError.message})`);
    return { kind: 'paused', unfinished: stop.unfinished };
  }

  /**
   * The one way out on an unexpected error: the steps stopped, a readable state, the last checkpoint
   * kept. A disk error met where none was expected pauses the task instead (exit 2), or, before any
   * step began, leaves it as it was (exit 1).
   */
  async fatal(err: Error): Promise<number> {
    const disk = asWriteError(err);
    if (!disk) this.reporter.error(`runner error: ${err.stack ?? err.message}`);
    else if (!this.started) this.reporter.error(`cannot run '${this.id}': ${disk.message}; nothing was run`);
    else this.reporter.error(`Paused '${this.id}': ${disk.message}. ${disk.fix}, then resume with: ptask resume ${this.id}`);
    this.watcher.stop();
    if (this.control?.disowned) return this.disownedExit();
    this.control?.halt(disk ? 'writeFailed' : 'runnerError');
    this.current.clear();
    this.timeline.close();
    await Promise.all(
      [...this.inFlight].map((attempt) => {
        attempt.stop();
        return attempt.ended;
      }),
    );
    // A run that could not start for want of disk leaves the state as it was.
    if (this.publisher && (this.started || !disk)) {
      try {
        const state = this.publisher.state;
        state.reason = disk ? disk.message : `runner error: ${err.message}`;
        state.currentStep = null;
        state.endedAt = new Date().toISOString();
        delete state.resumeAt;
        delete state.autoResume;
        this.publisher.save();
      } catch {
        // the disk may be what failed; the checkpoint on disk is still the last good one
      }
    }
    return disk && this.started ? EXIT.paused : EXIT.failed;
  }

  /** Write nothing more into the run folder: it is another run's now, or nobody's. */
  private mute(): void {
    this.timeline.mute();
    this.publisher.mute();
    this.log.mute();
    this.executor.mute();
    this.opts.onDisowned?.();
  }

  /** Another runner holds the task now (3), or nobody does: the run folder was deleted (1). What was in flight was stopped. */
  private async disownedExit(): Promise<number> {
    await Promise.all([...this.inFlight].map((attempt) => attempt.ended));
    const taken = fs.existsSync(this.paths.lock);
    this.reporter.error(
      `Stopped '${this.id}': ${taken ? 'another runner holds it now' : 'its run folder was deleted'}; what this run had committed went with the folder (earlier snapshots, if any, are in ${this.paths.checkpointsDir})`,
    );
    return taken ? EXIT.locked : EXIT.failed;
  }

  dispose(): void {
    this.timeline.close();
    this.watcher.stop();
    this.executor.close();
    this.slurm?.close();
    this.publisher?.stop();
    this.log?.close();
    for (const sig of SIGNALS) process.off(sig, this.onSignal);
  }
}

/** Where a run that did not complete stopped, with its items' counts when it is a forEach step. */
function stoppedIn(unfinished: UnfinishedStep | null, batch: ItemProgress | null): RunnerState['stoppedIn'] {
  if (!unfinished) return undefined;
  const items = batch?.stepId === unfinished.id ? { done: batch.doneCount, total: batch.total, failed: batch.failedCount, running: 0, ...(batch.skippedCount ? { skipped: batch.skippedCount } : {}) } : undefined;
  return { id: unfinished.id, index: unfinished.index, ...(items ? { items } : {}) };
}
