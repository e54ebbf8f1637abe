/**
 * Slurm's own commands, as the runner uses them: sbatch, squeue, scontrol hold/release, scancel.
 * Each is run without a shell, never blocks the runner's thread, and is given up after a bound
 * (a slurmctld that does not answer makes them retry for minutes). A failure carries Slurm's own
 * words, for a message that names the step.
 */
import { execFile } from 'node:child_process';

/** How long one command may take; squeue and sbatch retry a controller that does not answer. */
const COMMAND_MS = 60_000;

export type Result = { ok: true; stdout: string } | { ok: false; error: string };

export function slurmCommand(command: string, args: string[], timeoutMs = COMMAND_MS): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, SLURM_TIME_FORMAT: 'standard' } }, (err, stdout, stderr) => {
      if (!err) return resolve({ ok: true, stdout });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve({ ok: false, error: `${command} is not on PATH: is this a Slurm login node?` });
      const said = stderr.trim().split('\n').filter(Boolean).slice(-3).join('; ');
      resolve({ ok: false, error: said || (err.killed ? `${command} did not answer in ${timeoutMs / 1000}s` : err.message) });
    });
  });
}

/** The states in which an element may still run (squeue's job state codes); any other is an end. */
export const LIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED', 'RESV_DEL_HOLD']);

/** A job element as squeue shows it: "123_4", its state (PENDING, RUNNING, COMPLETED, TIMEOUT…) and reason. */
export interface QueuedElement {
  state: string;
  reason: string;
}

/** The elements of these jobs Slurm still knows (finished ones for MinJobAge), by "<job>_<index>". */
export async function queue(jobIds: string[]): Promise<Map<string, QueuedElement> | { error: string }> {
  const elements = new Map<string, QueuedElement>();
  if (!jobIds.length) return elements;
  const result = await slurmCommand('squeue', ['--noheader', '--array', '--states=all', `--jobs=${jobIds.join(',')}`, '--format=%i|%T|%r']);
  if (!result.ok) {
    // Every job purged (older than MinJobAge): squeue refuses the list rather than show nothing.
    if (/Invalid job id/i.test(result.error)) return elements;
    return { error: result.error };
  }
  for (const line of result.stdout.split('\n')) {
    const [id, state, reason] = line.trim().split('|');
    if (id && state) elements.set(id, { state, reason: reason ?? '' });
  }
  return elements;
}

/**
 * An element in squeue's answer. Elements an array never started are listed as one line of the
 * array's own id ("123", PENDING or CANCELLED) when squeue does not expand them: that line is theirs.
 */
export function elementOf(answer: Map<string, QueuedElement>, id: string): QueuedElement | undefined {
  return answer.get(id) ?? answer.get(id.slice(0, id.lastIndexOf('_')));
}

/** The job of this name, if Slurm knows one (a submission whose id the runner died before writing down). */
export async function jobNamed(name: string): Promise<string | undefined | { error: string }> {
  const result = await slurmCommand('squeue', ['--noheader', '--states=all', `--name=${name}`, '--format=%F']);
  if (!result.ok) return { error: result.error };
  return result.stdout.split('\n').map((l) => l.trim()).find(Boolean);
}

/** Hold, release or cancel elements or jobs ("123", "123_4"); scancel sends `signal` when given. */
export function control(action: 'hold' | 'release' | 'cancel', ids: string[], signal?: string): Promise<Result> {
  if (!ids.length) return Promise.resolve({ ok: true, stdout: '' });
  if (action === 'cancel') return slurmCommand('scancel', [...(signal ? [`--signal=${signal}`, '--full'] : []), ...ids]);
  return slurmCommand('scontrol', [action, ids.join(',')]);
}
