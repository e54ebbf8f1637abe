/**
 * Run and resume, written once for every front end. The order of the checks is the contract: a
 * refused request writes nothing. Then the desired state is written, and the runner is started
 * detached, or (ptask in the foreground) the caller runs it in its own process.
 */
import { assertRunFilesSafe } from '../protocol/paths';
import { resumability } from '../protocol/resumable';
import { readTaskView } from '../protocol/taskView';
import { ACTIVE_STATES, type Request } from '../protocol/transitions';
import { notAllowed, pausedForAll, refusingFileErrors, refusingFileErrorsAsync, unusable, type UsableView } from './checks';
import { launch, untilTaken, type LaunchOptions, type LaunchOutcome } from './launch';
import type { Refusal } from './outcomes';
import { requestState } from './requests';

export interface StartRequest {
  mode: 'run' | 'resume';
  /** run: start over from a paused, interrupted, failed or lost task. */
  fresh?: boolean;
  /** resume: go on although the definition changed since the checkpoint, every done step kept by id. */
  force?: boolean;
  /**
   * resume under a changed definition: follow its plan even where done steps run again (ptask
   * resume does; the extension asks first). Without, such a plan is refused as `changed`.
   */
  rerunDone?: boolean;
  requestedBy: string;
  /** Start a detached runner so; without, the caller runs the runner itself once the outcome is "ready". */
  detach?: Omit<LaunchOptions, 'paths' | 'mode' | 'fresh' | 'force' | 'rerunDone'>;
}

export type StartOutcome =
  /** Checked and requested: the caller runs the runner now. */
  | { kind: 'ready' }
  | LaunchOutcome
  /** A resume of a task whose runner is alive: a pending pause is cancelled (the runner took request `seq`), or nothing was needed. */
  | { kind: 'liveRunner'; status: 'running' | 'pausing' | 'interrupting'; pid?: number; seq: number }
  /** A task whose runner waits to resume it after a failure: that runner resumes it now. */
  | { kind: 'waitCut'; pid?: number; resumeAt?: string }
  | Refusal;

export async function startTask(view: UsableView, req: StartRequest): Promise<StartOutcome> {
  const checked = refusingFileErrors(req.mode, () => check(view, req));
  // A pause was pending: the runner takes the resume, or it was already writing its final pause; then it is resumed anew.
  if (checked?.kind === 'liveRunner' && checked.status === 'pausing' && (await untilTaken(view.paths, (s) => s.appliedSeq >= checked.seq)) === 'stopped')
    return startTask(readTaskView(view.paths.tasksDir, view.id) as UsableView, req);
  if (checked !== undefined) return checked;
  if (!req.detach) return { kind: 'ready' };
  const detach = req.detach;
  return refusingFileErrorsAsync(req.mode, () => launch({ ...detach, paths: view.paths, mode: req.mode, fresh: req.fresh, force: req.force, rerunDone: req.rerunDone }));
}

/** Everything before the launch: a refusal, an outcome that needs no runner, or undefined (requested; start one). */
function check(view: UsableView, req: StartRequest): StartOutcome | undefined {
  const bad = unusable(view);
  if (bad) return bad;
  const { paths } = view;
  const request: Request = req.mode === 'resume' ? 'resume' : req.fresh ? 'runFresh' : 'run';
  if (ACTIVE_STATES.has(view.status)) {
    if (req.mode === 'run') {
      const pid = view.state?.pid ?? 0;
      return { kind: 'held', holder: { by: 'runner', pid, host: view.state?.host ?? '', lockFile: paths.lock }, message: `'${view.id}' is ${view.status} (runner pid ${pid})` };
    }
    const { seq } = requestState(paths, 'running', req.requestedBy, view);
    return { kind: 'liveRunner', status: view.status as 'running' | 'pausing' | 'interrupting', pid: view.state?.pid, seq };
  }
  const refused = notAllowed(view, request);
  if (refused) return refused;
  if (view.waiting) {
    const blocked = pausedForAll(paths);
    if (blocked) return blocked;
    requestState(paths, 'running', req.requestedBy, view);
    return { kind: 'waitCut', pid: view.state?.pid, resumeAt: view.state?.resumeAt };
  }
  assertRunFilesSafe(paths);
  if (req.mode === 'resume') {
    const r = resumability(paths, view.definition!, Boolean(req.force), Boolean(req.rerunDone));
    if (!r.ok) return r.problem === 'changed' ? { kind: 'changed', file: r.file, changes: r.changes, message: r.message } : { kind: 'badFile', message: r.message };
  }
  const blocked = pausedForAll(paths);
  if (blocked) return blocked;
  requestState(paths, 'running', req.requestedBy, view);
  return undefined;
}
