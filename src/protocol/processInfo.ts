/** Is a process alive, and is it still the same process (pids are reused)? */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

export const HOST = os.hostname();

/** The OS's start time of a process, as an opaque string; undefined when the process is gone. */
export function processStartTime(pid: number): string | undefined {
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Field 22 (starttime, in clock ticks since boot); the command name in field 2 may hold spaces and ")".
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') return undefined; // a zombie has ended; it waits only to be reaped
      return `proc:${fields[19]}`;
    } catch {
      return undefined;
    }
  }
  try {
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return out ? `ps:${out}` : undefined;
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
  if (!isPidAlive(pid)) return false;
  if (!startTime) return true;
  const now = processStartTime(pid);
  return now === undefined ? false : now === startTime;
}

let ownStartTime: string | undefined;
export function ownProcessStartTime(): string {
  ownStartTime ??= processStartTime(process.pid) ?? `pid:${process.pid}`;
  return ownStartTime;
}
