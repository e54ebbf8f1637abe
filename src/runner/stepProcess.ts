/**
 * One attempt of one step: a shell command in its own process group, its output appended to the
 * step's log, `::progress done/total` lines reported. It ends in exactly one way, the first cause
 * that happens: the command exits, the timeout fires, or the run is interrupted (abort signal).
 * On timeout and interrupt the whole group gets SIGTERM, then SIGKILL after the grace period, and
 * the attempt ends only when no process of the group is left.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { processStartTime } from '../protocol/processInfo';

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
  timeoutMs?: number;
  graceMs: number;
  interrupt: AbortSignal;
  onStart?: (pid: number, startTime: string | undefined) => void;
  onProgress?: (done: number, total: number) => void;
}

const PROGRESS = /^::progress (\d+)\/(\d+)\s*$/;
const MAX_LINE = 4096;

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** After SIGKILL, what is left can only be zombies waiting for init to reap them: stop waiting then. */
const ZOMBIE_WAIT_MS = 2000;

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
    if (killed && Date.now() >= killAt + ZOMBIE_WAIT_MS) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function runStepAttempt(opts: StepAttempt): Promise<StepEnd> {
  return new Promise((resolve) => {
    const logFd = fs.openSync(opts.logFile, 'a');
    let child;
    try {
      // stderr goes straight to the log; stdout passes through us for the progress lines.
      child = spawn('/bin/sh', ['-c', opts.command], { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', logFd] });
    } catch (err) {
      fs.closeSync(logFd);
      resolve({ kind: 'spawn-error', error: (err as Error).message });
      return;
    }
    const pgid = child.pid;
    let cause: StepEnd | undefined;
    let exit: StepEnd | undefined;
    let stdoutClosed = false;
    let timer: NodeJS.Timeout | undefined;
    let partial = '';
    let settled = false;

    const finish = () => {
      if (settled || !exit || !stdoutClosed) return;
      settled = true;
      clearTimeout(timer);
      opts.interrupt.removeEventListener('abort', onAbort);
      fs.closeSync(logFd);
      resolve(cause ?? exit);
    };
    const stop = (why: StepEnd) => {
      if (cause || exit || pgid === undefined) return;
      cause = why;
      void terminateGroup(pgid, opts.graceMs).then(() => {
        exit ??= why; // the shell was already reaped
        finish();
      });
    };
    const onAbort = () => stop({ kind: 'interrupted' });

    child.on('error', (err) => {
      exit = { kind: 'spawn-error', error: err.message };
      stdoutClosed = true;
      finish();
    });
    if (pgid === undefined) return; // 'error' follows
    opts.onStart?.(pgid, processStartTime(pgid));
    if (opts.interrupt.aborted) onAbort();
    else opts.interrupt.addEventListener('abort', onAbort);
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => stop({ kind: 'timed-out', timeoutMs: opts.timeoutMs! }), opts.timeoutMs);

    child.stdout!.on('data', (chunk: Buffer) => {
      fs.writeSync(logFd, chunk);
      if (!opts.onProgress) return;
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = (lines.pop() ?? '').slice(-MAX_LINE);
      for (const line of lines) {
        const m = PROGRESS.exec(line);
        if (m) opts.onProgress(Number(m[1]), Number(m[2]));
      }
    });
    child.stdout!.on('close', () => {
      stdoutClosed = true;
      finish();
    });
    child.on('exit', (exitCode, signal) => {
      exit = { kind: 'exited', exitCode, signal };
      // Whatever the command left running in its group goes with it: a step frees everything.
      if (!cause && groupAlive(pgid)) void terminateGroup(pgid, opts.graceMs).then(finish);
      else finish();
    });
  });
}
