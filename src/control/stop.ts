/** Pause and interrupt: the desired state written, and (for those who wait) the moment it took effect. */
import { readTaskView, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import { notAllowed, refusingFileErrors, unusable, type UsableView } from './checks';
import { waitFor } from './launch';
import type { Refusal } from './outcomes';
import { requestState } from './requests';

export type StopOutcome =
  /** Written: the runner acts on it at its next look (`waiting`: it was waiting to resume, and stops waiting). */
  | { kind: 'requested'; seq: number; waiting: boolean }
  /** Paused or interrupting already: nothing to write. */
  | { kind: 'already'; status: TaskView['status'] }
  /** Paused by pause-all: now it is a person's pause too, and resume-all leaves it paused. */
  | { kind: 'ownPause'; seq: number }
  | Refusal;

export function stopTask(view: UsableView, request: 'pause' | 'interrupt', requestedBy: string): StopOutcome {
  return refusingFileErrors(request, () => {
    // The runner runs the copy it started from: a definition broken meanwhile does not keep it from being paused.
    const refused = unusable(view, false) ?? notAllowed(view, request);
    if (refused) return refused;
    const waiting = Boolean(view.waiting);
    if (request === 'pause' && view.status === 'paused' && !waiting && view.state?.pausedBy === 'global')
      return { kind: 'ownPause' as const, seq: requestState(view.paths, 'paused', requestedBy, view).seq };
    if ((view.status === 'paused' && !waiting) || view.status === 'interrupting') return { kind: 'already', status: view.status };
    const control = requestState(view.paths, request === 'pause' ? 'paused' : 'interrupted', requestedBy, view);
    return { kind: 'requested', seq: control.seq, waiting };
  });
}

/** Wait until the task's runner has stopped (any end: paused, interrupted, completed, failed, lost); undefined on timeout. */
export function waitUntilStopped(tasksDir: string, id: string, timeoutMs: number): Promise<TaskView | undefined> {
  return waitFor(() => {
    const now = readTaskView(tasksDir, id);
    return !ACTIVE_STATES.has(now.status) && !now.waiting && now;
  }, timeoutMs);
}
