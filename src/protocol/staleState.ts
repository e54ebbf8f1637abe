/**
 * When state.json cannot be believed. It is a live view, written atomically but not fsynced: a
 * power loss can leave it missing, empty, or older than the checkpoint and journal beside it, which
 * are durable. Then the task is "lost" (resumable: the checkpoint decides what runs), never "idle"
 * (which refused resume) nor "completed" (whose next run would throw the journal's commits away).
 */
import * as fs from 'node:fs';
import type { ReadResult } from './jsonFile';
import type { TaskPaths } from './paths';
import type { RunnerState } from './schemas';

export interface CheckpointFacts {
  hasCheckpoint: boolean;
  journalBytes: number;
}

/** Only these states need the facts (a stat or two); the rest are believed as they are. */
export const needsFacts = (state: ReadResult<RunnerState>) => !state.ok || state.value.status === 'completed';

// Not through links: a journal that is a link is refused, for what it is, before anything is believed of it.
const facts = (checkpoint: fs.Stats | undefined, journal: fs.Stats | undefined): CheckpointFacts => ({
  hasCheckpoint: checkpoint?.isFile() ?? false,
  journalBytes: journal?.isFile() ? journal.size : 0,
});

export function checkpointFacts(paths: TaskPaths): CheckpointFacts {
  return facts(fs.lstatSync(paths.checkpoint, { throwIfNoEntry: false }), fs.lstatSync(paths.journal, { throwIfNoEntry: false }));
}

export async function checkpointFactsAsync(paths: TaskPaths): Promise<CheckpointFacts> {
  const none = () => undefined;
  return facts(...(await Promise.all([fs.promises.lstat(paths.checkpoint).catch(none), fs.promises.lstat(paths.journal).catch(none)])));
}

/** Why the task is lost although state.json does not say so, or undefined when it can be believed. */
export function untrustedState(state: ReadResult<RunnerState>, facts: CheckpointFacts | undefined): string | undefined {
  if (!facts) return undefined;
  if (!state.ok && state.error.code === 'missing')
    return facts.hasCheckpoint || facts.journalBytes ? 'state.json is missing beside its checkpoint (a power loss?): resume goes on from the checkpoint' : undefined;
  if (!state.ok) return `${state.error.message} (taken as lost: resume goes on from the checkpoint)`;
  // A run that ends folds its journal into its last snapshot: commits after it mean a later run.
  if (state.value.status === 'completed' && facts.journalBytes > 0)
    return 'state.json says completed, but journal.jsonl holds commits made after it (a power loss?): resume goes on from the checkpoint';
  return undefined;
}
