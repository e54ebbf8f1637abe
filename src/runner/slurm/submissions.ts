/**
 * What a run asked of Slurm, in its run folder (slurm/), so that a successor finds every job again:
 *   submissions.tsv          "submit <seq> <job name>" before sbatch, "job <seq> <job id>" after it
 *   <seq>/elements.tsv       "<array index> <key> <attempt>": what each element of the array runs
 *   <seq>/job.sh             the batch script; <seq>/<index>.req its request (the slot protocol)
 *   <seq>/<index>.tsv        the element's records (start, group, end), written on the compute node
 *   <seq>/<index>.slurm.out  what Slurm itself said of the element (a cancel, a time limit)
 * The journal is synced before sbatch runs: a runner killed between the two leaves the job's name,
 * by which its successor finds the job instead of submitting it again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Submission {
  seq: number;
  name: string;
  jobId?: string;
  /** By array index. */
  elements: { key: string; attempt: number }[];
  folder: string;
}

export const journalPath = (dir: string) => path.join(dir, 'submissions.tsv');

/** Append a line and sync it: the intent must be on disk before Slurm hears of it. */
export function journal(dir: string, line: string): void {
  const fd = fs.openSync(journalPath(dir), 'a');
  try {
    fs.writeSync(fd, `${line}\n`);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every submission of the run, oldest first (a cut last line is ignored). */
export function readSubmissions(dir: string): Submission[] {
  let text: string;
  try {
    text = fs.readFileSync(journalPath(dir), 'utf8');
  } catch {
    return [];
  }
  const bySeq = new Map<number, Submission>();
  const lines = text.split('\n');
  lines.pop();
  for (const line of lines) {
    const [kind, seqText, value] = line.split('\t');
    const seq = Number(seqText);
    if (!Number.isSafeInteger(seq) || !value) continue;
    if (kind === 'submit') {
      const folder = path.join(dir, String(seq));
      bySeq.set(seq, { seq, name: value, elements: readElements(folder), folder });
    } else if (kind === 'job' && bySeq.has(seq)) bySeq.get(seq)!.jobId = value;
  }
  return [...bySeq.values()];
}

function readElements(folder: string): Submission['elements'] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(folder, 'elements.tsv'), 'utf8');
  } catch {
    return [];
  }
  const elements: Submission['elements'] = [];
  for (const line of text.split('\n')) {
    const [index, key, attempt] = line.split('\t');
    if (key && Number.isSafeInteger(Number(index)) && Number.isSafeInteger(Number(attempt))) elements[Number(index)] = { key, attempt: Number(attempt) };
  }
  return elements;
}

/** Quoted for /bin/sh. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
