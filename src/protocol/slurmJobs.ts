/**
 * The Slurm jobs a run submitted, as its journal (<run>/slurm/submissions.tsv) names them: for a
 * reset or a new run, which cancel what the forgotten run left in Slurm's queue (held by its pause,
 * or pending when its runner died).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The ids of the jobs whose submission the run wrote down. */
export function submittedJobIds(slurmDir: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(slurmDir, 'submissions.tsv'), 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  lines.pop(); // empty, or cut short by a crash
  return lines.flatMap((line) => {
    const [kind, , id] = line.split('\t');
    return kind === 'job' && /^\d+$/.test(id ?? '') ? [id] : [];
  });
}

/** Cancel the run's jobs; what Slurm says (no scancel, jobs long gone) changes nothing: the run is forgotten either way. */
export function cancelSubmittedJobs(slurmDir: string): void {
  const ids = submittedJobIds(slurmDir);
  if (ids.length) spawnSync('scancel', ids, { stdio: 'ignore', timeout: 30_000 });
}
