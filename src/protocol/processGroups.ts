/**
 * Process groups: every step attempt runs in its own, so that stopping a step stops everything it
 * started. Shared by the runner (which stops its attempts) and the controllers (reset stops what a
 * lost runner left running).
 */
import * as fs from 'node:fs';
import { isSameProcessAlive, processStartTime } from './processInfo';

/** Does the process group still have a member that is not a zombie? */
export function groupAlive(pgid: number): boolean {
  // Asked after every step and item: the usual answer, ESRCH, comes as an exception, whose stack
  // trace would cost more than the question.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  if (process.platform !== 'linux') return true;
  // A killed orphan stays a zombie until init reaps it, which some inits (containers, VMs) do late
  // or never; it holds nothing, so a group of zombies is gone.
  for (const name of fs.readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57) continue; // not a pid
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 4);
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    } catch {
      // exited meanwhile
    }
  }
  return false;
}

/**
 * Every process (but this one, and zombies) whose environment holds all of `entries` (e.g.
 * "TASK_PAUSE_REQUESTED=/ws/.tasks/t/pause-requested"), with its process group. A runner killed with
 * -9 cannot say which items it had just started, and a process that left its step's group cannot be
 * found by the group: both still carry the task's step environment. Linux only (elsewhere: none
 * found); processes of other users are unreadable and skipped.
 */
/**
 * Every process of a Slurm job element carries this: Slurm's to stop (scancel), never signalled
 * here, even when the compute node is this machine (a one-node cluster, a workstation).
 */
export const SLURM_ELEMENT_ENV = 'PTASK_SLURM_ELEMENT=1';

export function processesWithEnv(entries: string[]): { pid: number; pgid: number }[] {
  if (process.platform !== 'linux') return [];
  const needles = entries.map((e) => Buffer.from(`\0${e}\0`));
  const slurms = Buffer.from(`\0${SLURM_ELEMENT_ENV}\0`);
  const found: { pid: number; pgid: number }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57 || Number(name) === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${name}/environ`)]);
      if (!needles.every((n) => environ.includes(n)) || environ.includes(slurms)) continue;
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 4);
      if (fields[0] !== 'Z') found.push({ pid: Number(name), pgid: Number(fields[2]) });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

/** The process groups of the processes whose environment holds `variable`. */
export function groupsWithEnv(variable: string): number[] {
  return [...new Set(processesWithEnv([variable]).map((p) => p.pgid).filter((pgid) => pgid > 1))];
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM the group, SIGKILL what is left after the grace period; resolves when the group is empty. */
export async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const killAt = Date.now() + graceMs;
  let killed = false;
  while (groupAlive(pgid)) {
    if (!killed && Date.now() >= killAt) {
      signalGroup(pgid, 'SIGKILL');
      killed = true;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** SIGTERM each process, SIGKILL after the grace period those still there (the same processes: pids are reused); returns at once. */
export function stopProcesses(pids: number[], graceMs: number): void {
  const started = pids.map((pid) => ({ pid, startTime: processStartTime(pid) })).filter((p) => p.startTime !== undefined);
  for (const { pid } of started) signalProcess(pid, 'SIGTERM');
  if (started.length) setTimeout(() => started.forEach((p) => isSameProcessAlive(p.pid, p.startTime) && signalProcess(p.pid, 'SIGKILL')), graceMs).unref();
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}
