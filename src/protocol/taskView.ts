/**
 * What a reader (CLI, extension) knows of a task from its files alone: its definition, the
 * runner's state, the desired state, and the derived status, "lost" included.
 */
import * as fs from 'node:fs';
import { quotable, readJson, readJsonSync, type ReadResult } from './jsonFile';
import { lockHolderState, lockHolderStateAsync, readRunnerLock, readRunnerLockAsync, type LockHolderState } from './lock';
import { assertTaskPathsSafe, PathError, taskIdProblem, taskPaths, type TaskPaths } from './paths';
import { controlSchema, definitionSchema, sameDefinition, stateSchema, type Control, type RunnerLock, type RunnerState, type TaskDefinition } from './schemas';
import { checkpointFacts, checkpointFactsAsync, needsFacts, untrustedState, type CheckpointFacts } from './staleState';
import { ACTIVE_STATES, type TaskStatus } from './transitions';

/** A runner on another host cannot be checked by pid: its heartbeat older than this means lost. */
export const HEARTBEAT_STALE_MS = 30_000;

export interface TaskView {
  id: string;
  paths?: TaskPaths;
  definition?: TaskDefinition;
  /** Why the definition (or its id, or its path) is unusable: file and reason. */
  problem?: string;
  /** The definition file is missing or invalid (a `problem` too): a live runner goes on with the copy it started from. */
  definitionProblem?: string;
  /** A live runner runs another definition than the file's now: the edit takes effect on the next run. */
  definitionChanged?: boolean;
  state?: RunnerState;
  /** state.json or control.json exists but is damaged. */
  fileProblems: string[];
  /** control.json exists but is damaged: no request can be numbered after it. */
  controlProblem?: string;
  control?: Control;
  status: TaskStatus;
  /** Why the status is "lost". */
  lostReason?: string;
  /**
   * Paused by a failure (pauseOn.autoResume) and its runner is alive, waiting to resume it at
   * `state.resumeAt`: requests go to that runner (see WAITING_TRANSITIONS). A task paused with a
   * resumeAt and no live runner (it died while waiting) is resumed by whoever honours resumeAt.
   */
  waiting?: boolean;
}

/** Its definition broke or went while its runner runs: that runner goes on with its own copy, and still takes pause and interrupt. */
export function runsOnRegardless(view: TaskView): boolean {
  return view.definitionProblem !== undefined && view.problem === view.definitionProblem && (ACTIVE_STATES.has(view.status) || Boolean(view.waiting));
}

/** The task's view from its files (sync: for the CLI). */
export function readTaskView(tasksDir: string, id: string, now = Date.now()): TaskView {
  const view = startView(tasksDir, id);
  if (!view.paths || view.problem) return view;
  const def = readJsonSync(view.paths.definition, definitionSchema);
  if (!fs.existsSync(view.paths.runDir)) return finishView(view, def);
  const state = readJsonSync(view.paths.state, stateSchema);
  const facts = needsFacts(state) ? checkpointFacts(view.paths) : undefined;
  return finishView(view, def, state, readJsonSync(view.paths.control, controlSchema), readRunner(view.paths, state), now, facts);
}

/** The same without blocking: for the extension host. */
export async function readTaskViewAsync(tasksDir: string, id: string, now = Date.now()): Promise<TaskView> {
  const view = startView(tasksDir, id);
  if (!view.paths || view.problem) return view;
  const { paths } = view;
  const [def, state, control] = await Promise.all([readJson(paths.definition, definitionSchema), readJson(paths.state, stateSchema), readJson(paths.control, controlSchema)]);
  const facts = needsFacts(state) ? await checkpointFactsAsync(paths) : undefined;
  return finishView(view, def, state, control, await readRunnerAsync(paths, state), now, facts);
}

/** runner.lock and the state of its holder: what tells a live runner from a lost one. */
interface Runner {
  lock?: RunnerLock;
  holder?: LockHolderState;
}

/** Only an active task, or a paused one that may be waiting to resume, needs its runner checked. */
function needsRunner(state: ReadResult<RunnerState>): boolean {
  return state.ok && (ACTIVE_STATES.has(state.value.status) || (state.value.status === 'paused' && !!state.value.resumeAt));
}

function readRunner(paths: TaskPaths, state: ReadResult<RunnerState>): Runner {
  const lock = needsRunner(state) ? readRunnerLock(paths.lock) : undefined;
  return { lock, holder: lock && lockHolderState(lock) };
}

// Every refresh of the extension reads every active task: no sync file read or `ps` here.
async function readRunnerAsync(paths: TaskPaths, state: ReadResult<RunnerState>): Promise<Runner> {
  const lock = needsRunner(state) ? await readRunnerLockAsync(paths.lock) : undefined;
  return { lock, holder: lock && (await lockHolderStateAsync(lock)) };
}

function startView(tasksDir: string, id: string): TaskView {
  const idProblem = taskIdProblem(id);
  if (idProblem) return { id, problem: `${id}.json: ${idProblem}`, status: 'idle', fileProblems: [] };
  const view: TaskView = { id, paths: taskPaths(tasksDir, id), status: 'idle', fileProblems: [] };
  try {
    assertTaskPathsSafe(view.paths!);
  } catch (err) {
    if (!(err instanceof PathError)) throw err;
    view.problem = err.message;
  }
  return view;
}

function finishView(view: TaskView, def: ReadResult<TaskDefinition>, state?: ReadResult<RunnerState>, control?: ReadResult<Control>, runner: Runner = {}, now = Date.now(), facts?: CheckpointFacts): TaskView {
  if (def.ok) view.definition = def.value;
  else view.problem = view.definitionProblem = def.error.message;
  if (state?.ok) view.state = state.value;
  else if (state && state.error.code !== 'missing') view.fileProblems.push(state.error.message);
  if (control?.ok) view.control = control.value;
  else if (control && control.error.code !== 'missing') {
    view.controlProblem = control.error.message;
    view.fileProblems.push(control.error.message);
  }
  if (view.state) {
    view.status = view.state.status;
    if (ACTIVE_STATES.has(view.status)) {
      const lostReason = whyLost(view.state, runner, now);
      if (lostReason) {
        view.status = 'lost';
        view.lostReason = lostReason;
      }
    }
    if (view.status === 'paused' && view.state.resumeAt) view.waiting = runnerAlive(view.state, runner, now);
  }
  const live = ACTIVE_STATES.has(view.status) || view.waiting;
  if (live && def.ok && view.state?.definitionHash) view.definitionChanged = !sameDefinition(view.state.definitionHash, def.value);
  const untrusted = state && untrustedState(state, facts);
  if (untrusted) {
    view.status = 'lost';
    view.lostReason = untrusted;
  }
  return view;
}

/** Does the runner that wrote this state still hold the task? */
function runnerAlive(state: RunnerState, { lock, holder }: Runner, now: number): boolean {
  if (!lock || lock.pid !== state.pid || lock.host !== state.host) return false;
  return holder === 'alive' || (holder === 'elsewhere' && now - Date.parse(state.heartbeatAt) <= HEARTBEAT_STALE_MS);
}

function whyLost(state: RunnerState, { lock, holder }: Runner, now: number): string | undefined {
  if (!lock) return `its runner (pid ${state.pid}) is gone: no runner.lock`;
  // Stale first: a runner killed after it took the lock and before it wrote state.json is lost too.
  if (holder === 'stale') return `its runner (pid ${lock.pid}) is no longer running`;
  if (lock.pid !== state.pid && lock.purpose === 'run') return undefined; // a new runner has just taken over
  if (holder === 'elsewhere' && now - Date.parse(state.heartbeatAt) > HEARTBEAT_STALE_MS)
    return `its runner on ${quotable(lock.host, 100)} has not written a heartbeat since ${quotable(state.heartbeatAt, 100)}`;
  return undefined;
}

/** The JSON object of `ptask status --json` and of each entry of `ptask list --json`. */
export interface TaskSummary {
  id: string;
  name?: string;
  status: TaskStatus;
  valid: boolean;
  error?: string;
  problems?: string[];
  runId?: string;
  stepsDone: number;
  stepsTotal: number;
  currentStep: RunnerState['currentStep'];
  /** The other steps in flight, when a graph runs several at once. */
  alsoRunning?: RunnerState['alsoRunning'];
  progress?: { done: number; total: number };
  /** A forEach step in flight: its items done, total, failed and running. */
  items?: NonNullable<RunnerState['currentStep']>['items'];
  desired?: Control['desired'];
  requestedSeq?: number;
  appliedSeq?: number;
  pausedBy?: RunnerState['pausedBy'];
  reason?: string;
  /** Paused by a failure under pauseOn.autoResume: when it resumes. */
  resumeAt?: string;
  autoResume?: RunnerState['autoResume'];
  /** Its runner is alive, waiting to resume it at resumeAt. */
  waiting?: boolean;
  /** The definition file changed (or broke, `error`) since its live runner started: it takes effect on the next run. */
  definitionChanged?: boolean;
  /** This run took over attempts a lost runner left. */
  adopted?: RunnerState['adopted'];
  /** The Slurm jobs of the step in flight, or held by the pause. */
  slurm?: RunnerState['slurm'];
  /** The step a run that did not complete stopped in. */
  stoppedIn?: string;
  /** `ptask status --json` of a task stopped in a forEach step: its failed items. */
  failedItems?: { index: number; item: string; attempts: number; error: string }[];
  pid?: number;
  startedAt?: string;
  updatedAt?: string;
  endedAt?: string;
}

export function summarize(view: TaskView): TaskSummary {
  const s = view.state;
  const active = s && (view.status === 'running' || view.status === 'pausing' || view.status === 'interrupting');
  return {
    id: view.id,
    name: view.definition?.name,
    status: view.status,
    valid: !view.problem,
    error: view.problem,
    problems: view.fileProblems.length ? view.fileProblems : undefined,
    runId: s?.runId,
    stepsDone: s?.stepsDone ?? 0,
    stepsTotal: view.definition?.steps.length ?? s?.stepsTotal ?? 0,
    currentStep: active ? s.currentStep : null,
    alsoRunning: active && s.alsoRunning?.length ? s.alsoRunning : undefined,
    progress: active ? (s.currentStep?.progress ?? undefined) : undefined,
    // Paused, failed or interrupted in a forEach step: its items as the run left them.
    items: active ? (s.currentStep?.items ?? undefined) : s?.stoppedIn?.items,
    desired: view.control?.desired,
    requestedSeq: view.control?.seq,
    appliedSeq: s?.appliedSeq,
    pausedBy: s?.pausedBy,
    reason: view.lostReason ?? s?.reason,
    resumeAt: view.status === 'paused' ? s?.resumeAt : undefined,
    autoResume: view.status === 'paused' ? s?.autoResume : undefined,
    waiting: view.waiting,
    definitionChanged: view.definitionChanged || undefined,
    adopted: s?.adopted,
    slurm: s?.slurm,
    stoppedIn: active ? undefined : s?.stoppedIn?.id,
    pid: active || view.waiting ? s?.pid : undefined,
    startedAt: s?.startedAt,
    updatedAt: s?.updatedAt,
    endedAt: s?.endedAt,
  };
}

/** A Slurm job in words: "job 123 (step items): 4 running, 46 pending (JobArrayTaskLimit)". */
export function describeSlurmJob(job: NonNullable<RunnerState['slurm']>[number]): string {
  const parts = [job.running && `${job.running} running`, job.pending && `${job.pending} pending${job.reason ? ` (${job.reason})` : ''}`, job.held && `${job.held} held by the pause`].filter(Boolean);
  return `job ${job.jobId} (step ${job.step}): ${parts.join(', ') || 'no element left'}`;
}
