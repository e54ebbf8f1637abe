/**
 * One item of the forEach step a run stopped in, changed by a person while no runner runs: skip it
 * (its input went away; the step can complete without it) or run it again from its first attempt
 * (a done item whose output was bad; a failed one whose retries are used up). Written as a journal
 * line under the task's lock, which the next runner folds in as it would its own commits.
 */
import * as fs from 'node:fs';
import { loadCheckpoint } from '../protocol/checkpoint';
import { describeHolder, holderOf } from '../protocol/holder';
import { acquireLock } from '../protocol/lock';
import { assertRunFilesSafe } from '../protocol/paths';
import type { JournalRecord } from '../protocol/schemas';
import { ACTIVE_STATES } from '../protocol/transitions';
import { refusingFileErrors, unusable, type UsableView } from './checks';
import type { Refusal } from './outcomes';

export type ItemEdit = 'skip' | 'retry';
export type ItemEditOutcome = { kind: 'edited'; edit: ItemEdit; stepId: string; index: number; item: string; was: 'to run' | 'done' | 'failed' | 'skipped' } | Refusal;

export function editItem(view: UsableView, stepId: string, index: number, edit: ItemEdit, requestedBy: string): ItemEditOutcome {
  return refusingFileErrors(`${edit} an item`, () => {
    const refused = unusable(view, false);
    if (refused) return refused;
    if (ACTIVE_STATES.has(view.status) || view.waiting)
      return notApplicable(`'${view.id}' is ${view.waiting ? 'waiting to resume' : view.status}: pause or interrupt it first, then change its items`);
    const { paths } = view;
    assertRunFilesSafe(paths);
    const lock = acquireLock(paths.lock, 'edit');
    if (!lock.acquired) {
      const holder = holderOf(lock.holder, paths.lock);
      return { kind: 'held' as const, holder, message: describeHolder(view.id, holder) };
    }
    try {
      const loaded = loadCheckpoint(paths);
      if (!loaded.ok) {
        if (loaded.error.code === 'missing') return notApplicable(`'${view.id}' has not run: it has no items yet`);
        throw loaded.error;
      }
      const { batch, checkpoint, lastSeq, tornTail } = loaded.value;
      if (checkpoint.completed.some((s) => s.id === stepId)) return notApplicable(`step '${stepId}' of '${view.id}' completed: its items are settled (run the task with --fresh to run them again)`);
      if (!batch || batch.stepId !== stepId)
        return notApplicable(`step '${stepId}' is not the forEach step '${view.id}' stopped in${batch ? ` (that is '${batch.stepId}')` : ''}`);
      if (!Number.isSafeInteger(index) || index < 0 || index >= batch.total) return notApplicable(`step '${stepId}' has items 0 to ${batch.total - 1}: there is no item ${index}`);
      // A line cut short by a crash ends the journal: one appended after it would make it unreadable.
      if (tornTail) return notApplicable(`${paths.journal} ends in a line cut short by a crash: resume the task once (it mends it), then change its items`);
      const was = batch.isDone(index) ? 'done' : batch.isSkipped(index) ? 'skipped' : batch.failureOf(index) ? 'failed' : 'to run';
      if (edit === 'skip' && (was === 'done' || was === 'skipped')) return notApplicable(`item ${index} of step '${stepId}' is ${was} already`);
      if (edit === 'retry' && was === 'to run') return notApplicable(`item ${index} of step '${stepId}' has not run yet: resume runs it`);
      const at = new Date().toISOString();
      const record: JournalRecord = { type: edit === 'skip' ? 'item-skipped' : 'item-reset', stepId, index, by: requestedBy, at };
      appendDurably(paths.journal, `${JSON.stringify({ seq: lastSeq + 1, ...record })}\n`);
      return { kind: 'edited' as const, edit, stepId, index, item: batch.itemAt(index), was };
    } finally {
      lock.release();
    }
  });
}

function notApplicable(message: string): Refusal {
  return { kind: 'notApplicable', message };
}

/** One write of the whole line, then fsync: a runner that starts next reads it, a crash cannot half-write it. */
function appendDurably(file: string, line: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
  try {
    fs.writeSync(fd, line);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
