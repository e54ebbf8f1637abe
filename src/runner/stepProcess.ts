/**
 * One attempt of one step: a shell command in its own process group, its output appended to the
 * step's log, `::progress done/total` lines reported. It ends in exactly one way, the first cause
 * that happens: the command exits, the timeout fires, or the run is interrupted (abort signal).
 * On timeout and interrupt the whole group gets SIGTERM, then SIGKILL after the grace period, and
 * the attempt ends only when no process of the group is left.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export type StepEnd =
  | { kind: 'exited'; exitCode: number | null; signal: NodeJS.Signals | null }
  | { kind: 'timed-out'; timeoutMs: number }
  | { kind: 'interrupted' }
  | { kind: 'spawn-error'; error: string };

export interface StepAttempt {
  command: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** Written before the attempt's first output: a step that prints nothing costs no file. */
  logHeader: string;
  timeoutMs?: number;
  graceMs: number;
  interrupt: AbortSignal;
  onStart?: (pid: number) => void;
  onProgress?: (done: number, total: number) => void;
}

const PROGRESS = /^::progress (\d+)\/(\d+)\s*$/;
const MAX_LINE = 4096;

/** Does the process group still have a member that is not a zombie? */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
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

export function runStepAttempt(opts: StepAttempt): Promise<StepEnd> {
  return new Promise((resolve) => {
    let logFd: number | undefined;
    const log = (chunk: Buffer) => {
      if (logFd === undefined) {
        logFd = fs.openSync(opts.logFile, 'a');
        fs.writeSync(logFd, opts.logHeader);
      }
      fs.writeSync(logFd, chunk);
    };
    let child;
    try {
      child = spawn('/bin/sh', ['-c', opts.command], { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ kind: 'spawn-error', error: (err as Error).message });
      return;
    }
    const pgid = child.pid;
    let cause: StepEnd | undefined;
    let exit: StepEnd | undefined;
    let openStreams = 2;
    /** Set while the group is being stopped: the attempt ends only when it is gone. */
    let terminating: Promise<void> | undefined;
    let groupGone = false;
    let timer: NodeJS.Timeout | undefined;
    let partial = '';
    let settled = false;

    const finish = () => {
      if (settled || !exit || openStreams > 0 || (terminating && !groupGone)) return;
      settled = true;
      clearTimeout(timer);
      opts.interrupt.removeEventListener('abort', onAbort);
      if (logFd !== undefined) fs.closeSync(logFd);
      resolve(cause ?? exit);
    };
    const terminate = () => {
      terminating ??= terminateGroup(pgid!, opts.graceMs).then(() => {
        groupGone = true;
        exit ??= cause; // the shell was already reaped
        finish();
      });
    };
    const stop = (why: StepEnd) => {
      if (cause || exit || pgid === undefined) return;
      cause = why;
      terminate();
    };
    const onAbort = () => stop({ kind: 'interrupted' });

    child.on('error', (err) => {
      exit = { kind: 'spawn-error', error: err.message };
      openStreams = 0;
      finish();
    });
    if (pgid === undefined) return; // 'error' follows
    opts.onStart?.(pgid);
    if (opts.interrupt.aborted) onAbort();
    else opts.interrupt.addEventListener('abort', onAbort);
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => stop({ kind: 'timed-out', timeoutMs: opts.timeoutMs! }), opts.timeoutMs);

    child.stdout!.on('data', (chunk: Buffer) => {
      log(chunk);
      if (!opts.onProgress) return;
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = (lines.pop() ?? '').slice(-MAX_LINE);
      for (const line of lines) {
        const m = PROGRESS.exec(line);
        if (m) opts.onProgress(Number(m[1]), Number(m[2]));
      }
    });
    child.stderr!.on('data', log);
    for (const stream of [child.stdout!, child.stderr!])
      stream.on('close', () => {
        openStreams--;
        finish();
      });
    child.on('exit', (exitCode, signal) => {
      exit = { kind: 'exited', exitCode, signal };
      // Whatever the command left running in its group goes with it: a step frees everything.
      if (!terminating && groupAlive(pgid)) terminate();
      finish();
    });
  });
}
