/**
 * The local executor: each attempt is `/bin/sh -c <command>` in its own process group, its
 * output appended to the step's log after a header line (written even when it prints nothing). When the shell exits, whatever it left running in its group
 * is stopped too (a step frees everything it started), and the attempt ends when the group is
 * empty and its output drained. A process that left the group (`setsid cmd &`) but holds the
 * attempt's output would keep it open for ever: after DRAIN_MS the output is no longer read, and the
 * processes that carry the attempt's environment (`spec.identity`) are stopped. One that let go of
 * the output too (a daemon) escapes.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { groupAlive, processesWithEnv, stopProcesses, terminateGroup } from '../protocol/processGroups';
import { DRAIN_MS, type AttemptSpec, type ExecEnd, type Executor, type RunningAttempt } from './executor';
import { LineSplitter } from './lines';

/** Append, create, and never through a symbolic link: a log must not land outside the run folder. */
const LOG_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

export class LocalExecutor implements Executor {
  /** Logs are no longer written (the run folder is another run's now). */
  private readonly logs = { muted: false };

  constructor(private readonly graceMs: number) {}

  mute(): void {
    this.logs.muted = true;
  }

  close(): void {}

  start(spec: AttemptSpec): RunningAttempt {
    const log = new StepLog(spec, this.logs);
    log.write(''); // every attempt leaves its header, even one that prints nothing
    let child;
    try {
      child = spawn('/bin/sh', ['-c', spec.command], { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      log.write(`could not start: ${(err as Error).message}\n`);
      log.close();
      return { pid: undefined, exited: true, ended: Promise.resolve({ kind: 'spawn-error', error: (err as Error).message }), stop: () => {} };
    }
    const pgid = child.pid;
    let exit: ExecEnd | undefined;
    let openStreams = 2;
    /** Set while the group is being stopped: the attempt ends only when it is gone. */
    let terminating: Promise<void> | undefined;
    let groupGone = false;
    let resolveEnded!: (end: ExecEnd) => void;
    const ended = new Promise<ExecEnd>((resolve) => (resolveEnded = resolve));
    let settled = false;
    let drain: NodeJS.Timeout | undefined;

    const finish = () => {
      if (settled || !exit || openStreams > 0 || (terminating && !groupGone)) return;
      settled = true;
      clearTimeout(drain);
      log.close();
      resolveEnded(exit);
    };
    /** The shell and its group are gone, but the output is still open: held by a process that left the group. */
    const drainThenCutOff = () => {
      if (settled || drain || !exit || openStreams === 0 || (terminating && !groupGone)) return;
      drain = setTimeout(() => {
        if (spec.identity) stopProcesses(processesWithEnv(spec.identity).map((p) => p.pid), this.graceMs);
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, DRAIN_MS);
    };
    const terminate = () => {
      if (pgid === undefined) return;
      terminating ??= terminateGroup(pgid, this.graceMs).then(() => {
        groupGone = true;
        // The shell was already reaped, or its exit is lost with the group: it ended by the stop.
        exit ??= { kind: 'exited', exitCode: null, signal: 'SIGTERM' };
        finish();
        drainThenCutOff();
      });
    };

    child.on('error', (err) => {
      exit = { kind: 'spawn-error', error: err.message };
      openStreams = 0;
      finish();
    });
    if (pgid !== undefined) {
      attach(child.stdout!, spec.onStdoutLine, spec.logPrefix, log, finishStream);
      attach(child.stderr!, spec.onStderrLine, spec.logPrefix, log, finishStream);
      child.on('exit', (exitCode, signal) => {
        exit = { kind: 'exited', exitCode, signal };
        // Whatever the command left running in its group goes with it: a step frees everything.
        if (!terminating && groupAlive(pgid)) terminate();
        finish();
        drainThenCutOff();
      });
    }
    if (pgid !== undefined) spec.onStarted?.(pgid);
    function finishStream() {
      openStreams--;
      finish();
    }
    return {
      pid: pgid,
      get exited() {
        return exit !== undefined;
      },
      ended,
      stop: terminate,
    };
  }
}

/** The step's log, opened with the attempt's header. A write that fails stops the logging, not the step. */
class StepLog {
  private fd: number | undefined;
  private failed = false;

  constructor(private readonly spec: AttemptSpec, private readonly logs: { muted: boolean }) {}

  write(data: Buffer | string): void {
    if (this.failed || this.logs.muted) return;
    try {
      if (this.fd === undefined) {
        if (this.spec.logReuse) reuseLog(this.spec.logReuse, this.spec.logFile);
        this.fd = fs.openSync(this.spec.logFile, LOG_FLAGS, 0o644);
        fs.writeSync(this.fd, this.spec.logHeader);
      }
      if (typeof data === 'string') {
        if (data) fs.writeSync(this.fd, data);
      } else fs.writeSync(this.fd, data);
    } catch (err) {
      this.failed = true;
      this.spec.onLogError?.(err as Error);
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A retired run's log made this attempt's, as a slot does (slotNative.ts): only a plain file in no other place, emptied first. */
function reuseLog(reuse: string, log: string): void {
  let fd: number;
  try {
    fd = fs.openSync(reuse, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return; // none to reuse: the log is made
  }
  try {
    const s = fs.fstatSync(fd);
    if (!s.isFile() || s.nlink !== 1) return;
    fs.ftruncateSync(fd, 0);
    fs.linkSync(reuse, log);
    fs.unlinkSync(reuse);
  } catch {
    // the log is there already, or this file system has no links: it is opened, or made, as usual
  } finally {
    fs.closeSync(fd);
  }
}

function attach(stream: Readable, onLine: ((line: string) => void) | undefined, prefix: string | undefined, log: StepLog, onClose: () => void): void {
  let prefixed = '';
  const wantsLines = prefix !== undefined || onLine !== undefined;
  // Made at the first output: most items print nothing.
  let lines: LineSplitter | undefined;
  // One write a chunk, however many lines it holds.
  const flushPrefixed = () => {
    if (prefixed) log.write(prefixed);
    prefixed = '';
  };
  stream.on('data', (chunk: Buffer) => {
    if (prefix === undefined) log.write(chunk);
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
    onClose();
  });
}
