/**
 * One attempt of one step (or of one item of a forEach step): a shell command in its own process
 * group, its output appended to the step's log, its lines handed to whoever wants them. It ends in
 * exactly one way, the first cause that happens: the command exits, the timeout fires, or the run
 * is interrupted (abort signal).
 * On timeout and interrupt the whole group gets SIGTERM, then SIGKILL after the grace period, and
 * the attempt ends only when no process of the group is left.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

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
  /** Log line by line, each with this prefix: the items of a forEach step share one log. */
  logPrefix?: string;
  timeoutMs?: number;
  graceMs: number;
  interrupt: AbortSignal;
  onStart?: (pid: number) => void;
  /** Each line of stdout, and of stderr, a last line without "\n" included; only asked for when wanted. */
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /**
   * The log could not be written (a full disk): the attempt goes on, its output no longer logged.
   * Called once.
   */
  onLogError?: (err: Error) => void;
}

/** Append, create, and never through a symbolic link: a log must not land outside the run folder. */
const LOG_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

const PROGRESS = /^::progress (\d+)\/(\d+)\s*$/;
/** Longer lines are handed on in pieces: memory stays bounded whatever a step prints. */
const MAX_LINE = 4096;

/** `::progress <done>/<total>`, or undefined. */
export function parseProgress(line: string): { done: number; total: number } | undefined {
  const m = PROGRESS.exec(line);
  return m ? { done: Number(m[1]), total: Number(m[2]) } : undefined;
}

/** Splits a byte stream into lines, UTF-8 safe across chunks, without a trailing "\r". */
class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    const text = this.partial + this.decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.emit(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.slice(start);
    while (this.partial.length > MAX_LINE) {
      this.onLine(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
  }

  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.emit(rest);
  }

  private emit(line: string): void {
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}

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
 * The process groups of every process whose environment holds `variable` (e.g.
 * "TASK_PAUSE_REQUESTED=/ws/.tasks/t/pause-requested"). A runner killed with -9 cannot say which
 * items it had just started; their processes still carry the task's step environment. Linux only
 * (elsewhere: none found); processes of other users are unreadable and skipped.
 */
export function groupsWithEnv(variable: string): number[] {
  if (process.platform !== 'linux') return [];
  const needle = Buffer.from(`\0${variable}\0`);
  const groups = new Set<number>();
  for (const name of fs.readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57 || Number(name) === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${name}/environ`)]);
      if (!environ.includes(needle)) continue;
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 4);
      const pgid = Number(fields[2]);
      if (fields[0] !== 'Z' && pgid > 1) groups.add(pgid);
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return [...groups];
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
  if (opts.interrupt.aborted) return Promise.resolve({ kind: 'interrupted' });
  return new Promise((resolve) => {
    let logFd: number | undefined;
    let logFailed = false;
    // A write that fails stops the logging, not the step: the runner hears of it and decides.
    const log = (data: Buffer | string) => {
      if (logFailed) return;
      try {
        if (logFd === undefined) {
          logFd = fs.openSync(opts.logFile, LOG_FLAGS, 0o644);
          fs.writeSync(logFd, opts.logHeader);
        }
        if (typeof data === 'string') fs.writeSync(logFd, data);
        else fs.writeSync(logFd, data);
      } catch (err) {
        logFailed = true;
        opts.onLogError?.(err as Error);
      }
    };
    const logText = log;
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
    opts.interrupt.addEventListener('abort', onAbort);
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => stop({ kind: 'timed-out', timeoutMs: opts.timeoutMs! }), opts.timeoutMs);

    const attach = (stream: Readable, onLine: ((line: string) => void) | undefined) => {
      const prefix = opts.logPrefix;
      let prefixed = '';
      const wantsLines = prefix !== undefined || onLine !== undefined;
      // Made at the first output: most items print nothing.
      let lines: LineSplitter | undefined;
      // One write a chunk, however many lines it holds.
      const flushPrefixed = () => {
        if (prefixed) logText(prefixed);
        prefixed = '';
      };
      stream.on('data', (chunk: Buffer) => {
        if (prefix === undefined) log(chunk);
        if (wantsLines) {
          lines ??= new LineSplitter((line) => {
            if (prefix !== undefined) prefixed += `${prefix}${line}\n`;
            onLine?.(line);
          });
          lines.push(chunk);
          flushPrefixed();
        }
      });
      stream.on('close', () => {
        lines?.end();
        flushPrefixed();
        openStreams--;
        finish();
      });
    };
    attach(child.stdout!, opts.onStdoutLine);
    attach(child.stderr!, opts.onStderrLine);
    child.on('exit', (exitCode, signal) => {
      exit = { kind: 'exited', exitCode, signal };
      // Whatever the command left running in its group goes with it: a step frees everything.
      if (!terminating && groupAlive(pgid)) terminate();
      finish();
    });
  });
}
