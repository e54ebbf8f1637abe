/**
 * The slot executor: attempts are forked by small long-lived supervisors, one a slot (as many as
 * attempts run at once), not by the runner. A slot (slotScript.ts) is its own session, out of the
 * terminal's reach; for each attempt it forks `/bin/sh -c <command>` in a new process group,
 * writes the output to the log itself, stops what the shell left in its group, and records the
 * attempt's start, group and end in the run folder's attempts/ before it tells the runner. So an
 * attempt neither dies with its runner nor goes unrecorded: a successor adopts it
 * (attemptRecords.ts). And the runner's thread never forks: on small items a fork from Node
 * (1.5 ms, blocking) cost more than the item.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { processesWithEnv, stopProcesses, terminateGroup } from '../protocol/processGroups';
import { processStartTime } from '../protocol/processInfo';
import { DRAIN_MS, signalName, type AttemptSpec, type ExecEnd, type Executor, type RunningAttempt } from './executor';
import { SLOT_SCRIPT } from './slotScript';

const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** Is there a `perl` to run slots with? Looked for on PATH, once a runner. */
export function slotsAvailable(): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    try {
      if (dir) {
        fs.accessSync(path.join(dir, 'perl'), fs.constants.X_OK);
        return true;
      }
    } catch {
      // not here
    }
  }
  return false;
}

export const NUL_IN_REQUEST = 'its command, folder or environment holds a NUL byte';

/** An attempt as a slot reads it (slotScript.ts); undefined when a field holds a NUL byte. `lines`: report its output lines. */
export function slotRequest(spec: AttemptSpec, lines: boolean): string | undefined {
  const env = Object.entries(spec.env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
  const fields = [spec.record.key, String(spec.record.attempt), spec.cwd, spec.logFile, spec.logHeader, spec.logPrefix ?? '', lines ? '1' : '0', spec.command, ...env];
  if (fields.some((field) => field.includes('\0'))) return undefined;
  const payload = fields.join('\0');
  return `${Buffer.byteLength(payload)}\n${payload}`;
}

export class SlotExecutor implements Executor {
  private readonly idle: Slot[] = [];
  private readonly slots = new Set<Slot>();
  private count = 0;

  /** `recordsFile(n)`: where slot n appends its records. */
  constructor(private readonly graceMs: number, private readonly recordsFile: (slot: number) => string) {}

  start(spec: AttemptSpec): RunningAttempt {
    let slot = this.idle.pop();
    if (!slot) {
      const file = this.recordsFile(this.count++);
      try {
        // Not recursive: a run folder deleted under the runner is not made again here.
        fs.mkdirSync(path.dirname(file));
      } catch {
        // there already; or no run folder, or a full disk: the attempts run, unrecorded
      }
      slot = new Slot(file, this.graceMs, (gone) => {
        this.slots.delete(gone);
        const at = this.idle.indexOf(gone);
        if (at >= 0) this.idle.splice(at, 1);
      });
      this.slots.add(slot);
    }
    const chosen = slot;
    return chosen.run(spec, () => this.idle.push(chosen));
  }

  /** Nothing to do: a disowned runner stops every attempt, and a slot opened its log before. */
  mute(): void {}

  /** No more attempts: each slot exits once its attempt (if any) has ended. */
  close(): void {
    for (const slot of this.slots) slot.close();
  }
}

/** One supervisor process and the attempt it runs, if any. */
class Slot {
  private readonly child: ChildProcess;
  private current: SlotAttempt | undefined;
  private pending = Buffer.alloc(0);
  private dead = false;

  constructor(records: string, private readonly graceMs: number, private readonly onGone: (slot: Slot) => void) {
    this.child = spawn('perl', ['-e', SLOT_SCRIPT, records, String(process.pid), String(graceMs), String(DRAIN_MS)], {
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.child.stdin!.on('error', () => {}); // a slot that died: its exit says so
    this.child.stdout!.on('data', (chunk: Buffer) => this.read(chunk));
    this.child.on('error', (err) => this.gone(`could not start its supervisor (perl): ${err.message}`));
    this.child.on('exit', (code, signal) => this.gone(`its supervisor ended (${signal ?? `exit code ${code}`})`));
    // Who wrote the records that follow: a successor asks whether this slot still lives.
    try {
      if (this.child.pid) fs.appendFileSync(records, `slot\t${this.child.pid}\t${processStartTime(this.child.pid) ?? ''}\n`);
    } catch {
      // a full disk: the attempts run, unrecorded (a successor could not adopt them)
    }
    this.idle();
  }

  run(spec: AttemptSpec, onFree: () => void): RunningAttempt {
    const attempt = new SlotAttempt(spec, this.graceMs, () => {
      this.current = undefined;
      this.idle();
      if (!this.dead) onFree();
    });
    if (this.dead) {
      attempt.report(`F its supervisor is gone`);
      return attempt;
    }
    this.current = attempt;
    this.child.ref();
    (this.child.stdout as { ref?: () => void }).ref?.();
    const request = slotRequest(spec, Boolean(spec.onStdoutLine || spec.onStderrLine));
    if (request === undefined) attempt.report(`F ${NUL_IN_REQUEST}`);
    else this.child.stdin!.write(request);
    return attempt;
  }

  close(): void {
    this.child.stdin!.end();
  }

  /** Nothing in flight: the slot does not keep the runner alive. */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as { unref?: () => void }).unref?.();
  }

  private read(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10)) {
      this.current?.report(data.toString('utf8', 0, nl));
      data = data.subarray(nl + 1);
    }
    this.pending = Buffer.from(data);
  }

  private gone(why: string): void {
    if (this.dead) return;
    this.dead = true;
    this.onGone(this);
    this.current?.supervisorGone(why);
  }
}

class SlotAttempt implements RunningAttempt {
  pid: number | undefined;
  exited = false;
  readonly ended: Promise<ExecEnd>;
  private resolve!: (end: ExecEnd) => void;
  private stopping: Promise<void> | undefined;
  private stopWanted = false;
  private logFailed = false;
  private settled = false;

  constructor(private readonly spec: AttemptSpec, private readonly graceMs: number, private readonly onSettled: () => void) {
    this.ended = new Promise((r) => (this.resolve = r));
  }

  stop(): void {
    if (this.pid === undefined) this.stopWanted = true;
    else this.stopping ??= terminateGroup(this.pid, this.graceMs);
  }

  /** A line from the slot. */
  report(line: string): void {
    const rest = line.slice(2);
    switch (line[0]) {
      case 'S':
        this.pid = Number(rest);
        this.spec.onStarted?.(this.pid);
        if (this.stopWanted) this.stop();
        return;
      case 'O': // stdout and stderr, one stream
        return (this.spec.onStdoutLine ?? this.spec.onStderrLine)?.(rest);
      case 'L': {
        // "<errno> <message>": an error with its code, as fs would throw it, so that it is named in words.
        const [errno, ...message] = rest.split(' ');
        const error = Object.assign(new Error(message.join(' ')), { code: ERRNO_NAMES.get(Number(errno)), syscall: 'write', path: this.spec.logFile });
        if (!this.logFailed) this.spec.onLogError?.(error);
        this.logFailed = true;
        return;
      }
      case 'Q':
        this.exited = true;
        return;
      case 'X': {
        const [code, signal, held] = rest.split(' ');
        // Processes that left the group but held its output: found by the attempt's environment.
        if (held === '1' && this.spec.identity) stopProcesses(processesWithEnv(this.spec.identity).map((p) => p.pid), this.graceMs);
        return this.settle({ kind: 'exited', exitCode: code === '' ? null : Number(code), signal: signal ? (signalName(Number(signal)) ?? null) : null });
      }
      case 'F':
        return this.settle({ kind: 'spawn-error', error: rest });
    }
  }

  /** The slot died under the attempt: its group goes too (nobody would record its end). */
  supervisorGone(why: string): void {
    if (this.pid !== undefined) this.stop();
    this.settle({ kind: 'spawn-error', error: why });
  }

  private settle(end: ExecEnd): void {
    if (this.settled) return;
    this.settled = true;
    this.exited = true;
    void (this.stopping ?? Promise.resolve()).then(() => {
      this.onSettled();
      this.resolve(end);
    });
  }
}
