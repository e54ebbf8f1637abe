/** Pause all and resume all: one global file, so that pausing every task is one atomic write. */
import { globalControlPath, listDefinitionIds } from '../protocol/paths';
import { readTaskView, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import { refusingFileErrors, refusingFileErrorsAsync } from './checks';
import { launch, untilTaken, type LaunchOptions } from './launch';
import type { Refusal } from './outcomes';
import { requestGlobal, requestState } from './requests';

export type PauseAllOutcome = { kind: 'requested'; seq: number; pausing: string[] } | Refusal;

/** Every runner pauses at its next boundary, and no task starts, until resume all. */
export function pauseAll(tasksDir: string, requestedBy: string): PauseAllOutcome {
  return refusingFileErrors('pause all', () => {
    const control = requestGlobal(globalControlPath(tasksDir), 'paused', requestedBy);
    const pausing = listDefinitionIds(tasksDir).filter((id) => ACTIVE_STATES.has(readTaskView(tasksDir, id).status));
    return { kind: 'requested' as const, seq: control.seq, pausing };
  });
}

export type ResumeAllOutcome = { kind: 'resumed'; resumed: string[]; failed: { id: string; message: string }[] } | Refusal;

/** Paused by pause-all, and no person has asked to pause it since (a pause of a task pause-all paused makes it theirs). */
const pausedForAllOnly = (view: TaskView) => view.state?.pausedBy === 'global' && !(view.control?.desired === 'paused' && view.control.seq > view.state.appliedSeq);

/**
 * Turn pause-all off and resume, detached, exactly the tasks it paused (their state says pausedBy
 * "global"), those still pausing too. Tasks paused by a person stay paused; one task that cannot
 * resume keeps no other paused.
 */
export async function resumeAll(tasksDir: string, requestedBy: string, detach: Omit<LaunchOptions, 'paths' | 'mode'>): Promise<ResumeAllOutcome> {
  const off = refusingFileErrors('resume all', () => requestGlobal(globalControlPath(tasksDir), 'running', requestedBy));
  if ('kind' in off) return off;
  const resumed: string[] = [];
  const failed: { id: string; message: string }[] = [];
  for (const id of listDefinitionIds(tasksDir)) {
    let view = readTaskView(tasksDir, id);
    if (view.problem || !pausedForAllOnly(view)) continue;
    // Still pausing: its runner sees pause-all off and goes on, unless it was writing its final pause.
    if (view.status === 'pausing' && (await untilTaken(view.paths!, (s) => s.appliedGlobalSeq >= off.seq)) !== 'stopped') {
      resumed.push(id);
      continue;
    }
    view = readTaskView(tasksDir, id);
    if (view.status !== 'paused' || !pausedForAllOnly(view)) continue;
    const launched = await refusingFileErrorsAsync('resume', async () => {
      requestState(view.paths!, 'running', requestedBy, view);
      return launch({ ...detach, paths: view.paths!, mode: 'resume' });
    });
    // Held by a runner: another resume got there first, which is what was asked.
    if (launched.kind === 'started' || (launched.kind === 'held' && launched.holder.by === 'runner') || (launched.kind === 'ended' && launched.exitCode === 0)) resumed.push(id);
    else failed.push({ id, message: launched.kind === 'ended' ? launched.output : launched.message });
  }
  return { kind: 'resumed', resumed, failed };
}
