/**
 * The one table of allowed transitions, shared by the runner, the CLI and the extension.
 * Requests come from people (CLI, extension); events come from the runner.
 */
export const TASK_STATES = ['idle', 'running', 'pausing', 'paused', 'interrupting', 'interrupted', 'completed', 'failed', 'lost'] as const;
export type TaskStatus = (typeof TASK_STATES)[number];

export const REQUESTS = ['run', 'runFresh', 'pause', 'resume', 'interrupt', 'reset'] as const;
export type Request = (typeof REQUESTS)[number];

/** `runnerError` and `writeFailed`: the runner's own way out on an unexpected error, or on a disk that fails where no pause could be waited for. */
export const EVENTS = ['finished', 'stepFailed', 'pauseReached', 'processTreeGone', 'runnerError', 'writeFailed'] as const;
export type RunnerEvent = (typeof EVENTS)[number];

type Table = Record<TaskStatus, Partial<Record<Request | RunnerEvent, TaskStatus>>>;

/** A state an active runner owns: a second runner must not start. */
export const ACTIVE_STATES: ReadonlySet<TaskStatus> = new Set(['running', 'pausing', 'interrupting']);

export const TRANSITIONS: Table = {
  idle: { run: 'running', runFresh: 'running', reset: 'idle' },
  running: { pause: 'pausing', resume: 'running', interrupt: 'interrupting', finished: 'completed', stepFailed: 'failed', pauseReached: 'paused', runnerError: 'failed', writeFailed: 'paused' },
  // Resume while pausing cancels the pause; the step in flight goes on.
  pausing: { pause: 'pausing', resume: 'running', interrupt: 'interrupting', finished: 'completed', stepFailed: 'failed', pauseReached: 'paused', runnerError: 'failed', writeFailed: 'paused' },
  // runnerError: the runner waiting to resume it met an unexpected error.
  paused: { pause: 'paused', resume: 'running', runFresh: 'running', reset: 'idle', runnerError: 'failed' },
  // The last step may end just as an interrupt arrives: then the task is complete.
  interrupting: { interrupt: 'interrupting', processTreeGone: 'interrupted', finished: 'completed', runnerError: 'failed', writeFailed: 'paused' },
  interrupted: { resume: 'running', runFresh: 'running', reset: 'idle' },
  completed: { run: 'running', runFresh: 'running', reset: 'idle' },
  failed: { resume: 'running', runFresh: 'running', reset: 'idle' },
  lost: { resume: 'running', runFresh: 'running', reset: 'idle' },
};

/**
 * A task paused by a failure under `pauseOn.autoResume` keeps its runner alive, waiting to resume
 * it at `resumeAt`: the status is "paused", but a live runner owns the task, so requests go to that
 * runner. Pause turns the wait into a plain pause (the runner exits), resume resumes at once,
 * interrupt ends the wait (interrupted: nothing is in flight); run and reset need the runner gone.
 */
export const WAITING_TRANSITIONS: Partial<Record<Request | RunnerEvent, TaskStatus>> = { pause: 'paused', resume: 'running', interrupt: 'interrupted' };

const VERBS: Record<Request | RunnerEvent, string> = {
  run: 'run',
  runFresh: 'run',
  pause: 'pause',
  resume: 'resume',
  interrupt: 'interrupt',
  reset: 'reset',
  finished: 'complete',
  stepFailed: 'fail',
  pauseReached: 'finish pausing',
  processTreeGone: 'finish interrupting',
  runnerError: 'fail',
  writeFailed: 'pause',
};

/** What to do instead, for the requests people get wrong most often. */
function hint(action: Request | RunnerEvent, from: TaskStatus, waiting: boolean): string {
  if (waiting) return ': its runner is waiting to resume it; interrupt it first';
  if (action === 'run' && (from === 'paused' || from === 'interrupted' || from === 'failed' || from === 'lost'))
    return ': resume it, or run it with --fresh to start over';
  if (action === 'run' && ACTIVE_STATES.has(from)) return ': another runner holds it';
  if (action === 'resume' && from === 'completed') return ': run it again to start a new run';
  if (action === 'resume' && from === 'idle') return ': it has not run yet; run it';
  if (action === 'reset' && ACTIVE_STATES.has(from)) return ': pause or interrupt it first';
  if ((action === 'pause' || action === 'interrupt') && from === 'lost') return ': its runner is gone; resume or reset it';
  return '';
}

export class TransitionError extends Error {
  constructor(readonly taskId: string, readonly action: Request | RunnerEvent, readonly from: TaskStatus, waiting = false) {
    super(`cannot ${VERBS[action]} '${taskId}': it is ${from}${hint(action, from, waiting)}`);
  }
}

/** The table row: a paused task whose live runner waits to resume it (`waiting`) has its own. */
const row = (from: TaskStatus, waiting: boolean) => (waiting && from === 'paused' ? WAITING_TRANSITIONS : TRANSITIONS[from]);

export function canTransition(from: TaskStatus, action: Request | RunnerEvent, waiting = false): boolean {
  return row(from, waiting)[action] !== undefined;
}

/** The next state, or a TransitionError that names the current one. */
export function transition(taskId: string, from: TaskStatus, action: Request | RunnerEvent, waiting = false): TaskStatus {
  const to = row(from, waiting)[action];
  if (to === undefined) throw new TransitionError(taskId, action, from, waiting);
  return to;
}

/** The requests a person may make in this state: drives CLI checks and the extension's menus. */
export function allowedRequests(from: TaskStatus, waiting = false): Request[] {
  return REQUESTS.filter((r) => canTransition(from, r, waiting));
}
