/** Pause all and resume all: one global file, so that pausing every task is one atomic write. */
import { globalControlPath, listDefinitionIds } from '../protocol/paths';
import { readTaskView, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import { refusingFileErrors, refusingFileErrorsAsync } from './checks';
import { launch, untilTaken, type LaunchOptions } from './launch';
import type { Refusal } from './outcomes';
import { requestGlobal, requestState } from './requests';

/** `notTaken`: running tasks whose runner did not take the request in time. */
export type PauseAllOutcome = { kind: 'requested'; seq: number; pausing: string[]; notTaken: string[] } | Refusal;

/** Every runner pauses at its next boundary, and no task starts, until resume all. Says which running tasks did not take it. */
export async function pauseAll(tasksDir: string, requestedBy: string, timeoutMs = 2000): Promise<PauseAllOutcome> {
  const control = refusingFileErrors('pause all', () => requestGlobal(globalControlPath(tasksDir), 'paused', requestedBy));
  if ('kind' in control) return control;
  const running = listDefinitionIds(tasksDir).flatMap((id) => {
    const view = readTaskView(tasksDir, id);
    return ACTIVE_STATES.has(view.status) && view.paths ? [view.paths] : [];
  });
  const taken = await Promise.all(running.map((paths) => untilTaken(paths, (s) => s.appliedGlobalSeq >= control.seq, timeoutMs)));
  return { kind: 'requested', seq: control.seq, pausing: running.map((p) => p.id), notTaken: running.filter((_, i) => taken[i] === 'unknown').map((p) => p.id) };
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
    if (!pausedForAllOnly(view)) continue;
    if (view.problem) {
      failed.push({ id, message: view.problem }); // it stays paused: say so, and why
      continue;
    }
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
