/** Pause all and resume all: one global file, so that pausing every task is one atomic write. */
import { globalControlPath, listDefinitionIds } from '../protocol/paths';
import { readTaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import { refusingFileErrors, refusingFileErrorsAsync } from './checks';
import { launch, type LaunchOptions } from './launch';
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

/**
 * Turn pause-all off and resume, detached, exactly the tasks it paused (their state says pausedBy
 * "global"). Tasks paused by a person stay paused; one task that cannot resume keeps no other paused.
 */
export async function resumeAll(tasksDir: string, requestedBy: string, detach: Omit<LaunchOptions, 'paths' | 'mode'>): Promise<ResumeAllOutcome> {
  const off = refusingFileErrors('resume all', () => void requestGlobal(globalControlPath(tasksDir), 'running', requestedBy));
  if (off) return off;
  const resumed: string[] = [];
  const failed: { id: string; message: string }[] = [];
  for (const id of listDefinitionIds(tasksDir)) {
    const view = readTaskView(tasksDir, id);
    if (view.problem || view.status !== 'paused' || view.state?.pausedBy !== 'global') continue;
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
