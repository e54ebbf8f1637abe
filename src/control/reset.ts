/**
 * Reset: forget a task's progress. State, control, checkpoint, journal, logs, step files and stamps go;
 * the last checkpoint stays in checkpoints/ (a reset can be undone by hand). The lock is held
 * meanwhile, so no runner can start in between.
 */
import * as fs from 'node:fs';
import { keepPrevious } from '../protocol/checkpoint';
import { describeHolder, holderOf } from '../protocol/holder';
import { acquireLock } from '../protocol/lock';
import { assertRunFilesSafe } from '../protocol/paths';
import { groupsWithEnv, signalGroup } from '../protocol/processGroups';
import { cancelSubmittedJobs } from '../protocol/slurmJobs';
import { notAllowed, refusingFileErrors, unusable, type UsableView } from './checks';
import type { Refusal } from './outcomes';

export type ResetOutcome = { kind: 'reset' } | { kind: 'nothing' } | Refusal;

export function resetTask(view: UsableView): ResetOutcome {
  return refusingFileErrors('reset', () => {
    const refused = unusable(view, false) ?? notAllowed(view, 'reset');
    if (refused) return refused;
    const { paths } = view;
    if (!fs.existsSync(paths.runDir)) return { kind: 'nothing' as const };
    assertRunFilesSafe(paths); // reset removes and prunes: never through a link
    const lock = acquireLock(paths.lock, 'reset');
    if (!lock.acquired) {
      const holder = holderOf(lock.holder, paths.lock);
      return { kind: 'held' as const, holder, message: describeHolder(view.id, holder) };
    }
    try {
      // The step a killed runner left running belongs to the run being forgotten: stop it (SIGTERM;
      // the next run also stops what is left, after the grace period, before it runs anything).
      if (view.status === 'lost') for (const pgid of groupsWithEnv(`TASK_PAUSE_REQUESTED=${paths.pauseRequested}`)) signalGroup(pgid, 'SIGTERM');
      // So are its Slurm jobs still in the queue (held by its pause, or left by a lost runner).
      cancelSubmittedJobs(paths.slurmDir);
      fs.rmSync(paths.slurmDir, { recursive: true, force: true });
      keepPrevious(paths, true); // with the journal folded in: a reset can be undone by hand
      for (const file of [paths.checkpoint, paths.journal, paths.state, paths.control, paths.pauseRequested, paths.timeline]) fs.rmSync(file, { force: true });
      for (const dir of [paths.stepsDir, paths.logsDir, paths.itemsDir, paths.stampsDir]) fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      lock.release();
    }
    return { kind: 'reset' as const };
  });
}
