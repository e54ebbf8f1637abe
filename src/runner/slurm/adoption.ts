/**
 * The Slurm elements a runner before this one left (it was killed, its machine rebooted, or it
 * paused with elements held): found from the run's submissions, squeue and the elements' records.
 * Pending, held and running elements are taken over, not submitted again; ended ones are committed
 * from their records, or from Slurm's word when it ended them unrecorded (TIMEOUT, NODE_FAIL…).
 * What was cancelled unrecorded, or that Slurm no longer knows and never recorded, runs again.
 */
import * as path from 'node:path';
import { RecordsTail, type AttemptRecord } from '../attemptRecords';
import { PAUSE_EXIT_CODE } from '../attemptLoop';
import { elementOf, jobNamed, LIVE_STATES, queue } from './commands';
import type { KnownElement } from './slurmExecutor';
import { journal, readSubmissions } from './submissions';

/** Ends Slurm names that the element could not record: an attempt that failed, as Slurm says. */
const UNRECORDED_ENDS = /^(BOOT_FAIL|DEADLINE|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|TIMEOUT|FAILED)$/;

export async function findElements(dir: string): Promise<KnownElement[] | { error: string }> {
  const submissions = readSubmissions(dir);
  if (!submissions.length) return [];
  // Journaled but its id not written down: the runner died as sbatch ran. Found by its name, or it was never submitted.
  for (const submission of submissions.filter((s) => !s.jobId)) {
    const found = await jobNamed(submission.name);
    if (typeof found === 'object') return found;
    if (!found) continue;
    submission.jobId = found;
    try {
      journal(dir, `job\t${submission.seq}\t${found}`);
    } catch {
      // found again by name next time
    }
  }
  const submitted = submissions.filter((s) => s.jobId);
  const queued = await queue(submitted.map((s) => s.jobId!));
  if ('error' in queued) return queued;
  const latest = new Map<string, KnownElement>();
  for (const submission of submitted) {
    for (const [index, element] of submission.elements.entries()) {
      if (!element) continue;
      const id = `${submission.jobId}_${index}`;
      const records = new Map<string, AttemptRecord>();
      new RecordsTail(path.join(submission.folder, `${index}.tsv`)).read(records);
      const record = records.get(element.key);
      const q = elementOf(queued, id);
      const known: KnownElement = { ...element, id, folder: submission.folder, index, held: Boolean(q && q.state === 'PENDING' && /^JobHeld/.test(q.reason)) };
      if (record?.attempt === element.attempt && record.end) {
        // Exit 75 while no runner watched: it paused itself for a pause that is over now; it goes on, as the same attempt.
        const pausedItself = record.end.kind === 'exited' && record.end.exitCode === PAUSE_EXIT_CODE;
        known.end = pausedItself ? { kind: 'lost' } : record.end;
      } else if (q && UNRECORDED_ENDS.test(q.state)) known.end = { kind: 'cluster', state: q.state };
      else if (!q || !LIVE_STATES.has(q.state)) continue;
      const before = latest.get(element.key);
      if (!before || before.attempt <= element.attempt) latest.set(element.key, known);
    }
  }
  return [...latest.values()];
}
