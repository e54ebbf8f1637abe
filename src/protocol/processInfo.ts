/** Is a process alive, and is it still the same process (pids are reused)? */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { promisify } from 'node:util';

export const HOST = os.hostname();

const execFileAsync = promisify(execFile);
const psArgs = (pid: number) => ['-o', 'lstart=', '-p', String(pid)];
const fromPs = (out: string) => (out.trim() ? `ps:${out.trim()}` : undefined);

/** Field 22 of /proc/<pid>/stat (starttime, in clock ticks since boot). */
function fromProcStat(stat: string): string | undefined {
  // The command name in field 2 may hold spaces and ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z') return undefined; // a zombie has ended; it waits only to be reaped
  return `proc:${fields[19]}`;
}

/** The OS's start time of a process, as an opaque string; undefined when the process is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    if (process.platform === 'linux') return fromProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return fromPs(execFileSync('ps', psArgs(pid), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return undefined;
  }
}

/** The same without blocking: the extension host asks it for every active task at every refresh. */
export async function processStartTimeAsync(pid: number): Promise<string | undefined> {
  try {
    if (process.platform === 'linux') return fromProcStat(await fs.promises.readFile(`/proc/${pid}/stat`, 'utf8'));
    return fromPs((await execFileAsync('ps', psArgs(pid), { encoding: 'utf8' })).stdout);
  } catch {
    return undefined;
  }
}

export function isPidAlive(pid: number): boolean {
  // Pids come from files: 0, 1 or a negative number would name a process group, init or every
  // process (kill -1), and whoever then stops that "process" would stop them.
  if (!Number.isSafeInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive and, when a start time was recorded, started at that time (not a reused pid). */
export function isSameProcessAlive(pid: number, startTime: string | undefined): boolean {
  return isPidAlive(pid) && (!startTime || processStartTime(pid) === startTime);
}

export async function isSameProcessAliveAsync(pid: number, startTime: string | undefined): Promise<boolean> {
  return isPidAlive(pid) && (!startTime || (await processStartTimeAsync(pid)) === startTime);
}

let ownStartTime: string | undefined;
export function ownProcessStartTime(): string {
  ownStartTime ??= processStartTime(process.pid) ?? `pid:${process.pid}`;
  return ownStartTime;
}
