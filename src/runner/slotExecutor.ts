/**
 * The slot executor: attempts are forked by small long-lived supervisors, one a slot (as many as
 * attempts run at once), not by the runner. A slot (slotProgram.ts: compiled C, or Perl) is its own session, out of the
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
import { readRecordsFile, type AttemptRecord } from './attemptRecords';
import type { SlotProgram } from './slotProgram';

const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

export const NUL_IN_REQUEST = 'its command, folder or environment holds a NUL byte';

/** How a request carries its environment: whole ("="), or as changes from the request before ("+"). */
export interface RequestEnv {
  form: '=' | '+';
  entries: string[];
}

/** Every variable of an environment, as "NAME=value" (the form "=" of a request). */
export const wholeEnv = (env: NodeJS.ProcessEnv): RequestEnv => ({ form: '=', entries: Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`])) });

/**
 * An attempt as a slot reads it (slotScript.ts); undefined when a field holds a NUL byte. `lines`:
 * report its output lines; `queued`: sent while an attempt runs in the slot.
 */
export function slotRequest(spec: AttemptSpec, env: RequestEnv, lines: boolean, queued: boolean, order = nextOrder()): string | undefined {
  const gates = (spec.startsIf ?? []).map((g) => `${g.stamp} ${g.file}`).join('\n');
  const fields = [spec.record.key, String(spec.record.attempt), String(order), spec.cwd, spec.logFile, spec.logHeader, spec.logPrefix ?? '', lines ? '1' : '0', queued ? '1' : '0', spec.durableEnd ? '1' : '0', gates, spec.logReuse ?? '', env.form, spec.command, ...env.entries];
  if (fields.some((field) => field.includes('\0'))) return undefined;
  const payload = fields.join('\0');
  return `${Buffer.byteLength(payload)}\n${payload}`;
}

let lastOrder = 0;
/**
 * The order of a request among all this machine's runners (its start record carries it): an
 * attempt that runs again under the same number (it paused the task, then its step went on) is
 * told from its earlier run by it, whichever slot's records a successor reads first.
 */
export function nextOrder(): number {
  lastOrder = Math.max(Date.now() * 1000, lastOrder + 1);
  return lastOrder;
}

/** A log opened by a slot: appended to, created, never through a symbolic link. */
export const LOG_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

export class SlotExecutor implements Executor {
  private readonly slots = new Set<Slot>();
  private count = 0;

  /** `program`: what a slot made now runs (slotProgram.ts); `recordsFile(n)`: where slot n appends its records; `holdFile`: while it exists, slots start nothing queued. */
  constructor(private readonly program: () => SlotProgram, private readonly graceMs: number, private readonly recordsFile: (slot: number) => string, private readonly holdFile: string) {
    fs.rmSync(holdFile, { force: true });
  }

  start(spec: AttemptSpec): RunningAttempt {
    // Behind: the slot of its lane with the fewest sent to it (the runner asked `queue` whether one has room).
    let slot: Slot | undefined;
    if (spec.behind) for (const s of this.slots) if (s.canQueue(spec.lane, Infinity) && (!slot || s.sent < slot.sent)) slot = s;
    slot ??= [...this.slots].find((s) => s.idle);
    if (!slot) {
      const file = this.recordsFile(this.count++);
      try {
        // Not recursive: a run folder deleted under the runner is not made again here.
        fs.mkdirSync(path.dirname(file));
        syncFolder(path.dirname(path.dirname(file)));
      } catch {
        // there already; or no run folder, or a full disk: the attempts run, unrecorded
      }
      slot = new Slot(this.program(), file, this.graceMs, this.holdFile, (gone) => this.slots.delete(gone));
      // A step's end record, which its slot syncs, is its commit: its file must survive a power loss too.
      syncFolder(path.dirname(file));
      this.slots.add(slot);
    }
    return slot.run(spec);
  }

  queue(lane: string, depth: number): { waiting: number; room: boolean } {
    let waiting = 0;
    let room = false;
    for (const slot of this.slots) {
      waiting += slot.waiting(lane);
      room ||= slot.canQueue(lane, depth);
    }
    return { waiting, room };
  }

  hold(on: boolean): void {
    try {
      if (on) fs.closeSync(fs.openSync(this.holdFile, 'a'));
      else fs.rmSync(this.holdFile, { force: true });
    } catch {
      // no run folder: those queued start, and are stopped as they start (a disowned runner)
    }
  }

  /** A disowned runner stops every attempt; nothing queued should start meanwhile. */
  mute(): void {
    this.hold(true);
  }

  /** No more attempts: each slot exits once its attempts (if any) have ended. */
  close(): void {
    for (const slot of this.slots) slot.close();
    fs.rmSync(this.holdFile, { force: true });
  }
}

/** The entries of a folder (a file made in it) on disk; where that cannot be done, nothing. */
function syncFolder(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // no folder, or a file system that syncs no folders: the records are as durable as it allows
  }
}

/** One supervisor process and the attempts sent to it: the first runs, the others wait behind it. */
class Slot {
  private readonly child: ChildProcess;
  private readonly attempts: SlotAttempt[] = [];
  private pending = Buffer.alloc(0);
  private dead = false;
  /** The environment of the last request sent: the next one carries only what differs. */
  private readonly env = new Map<string, string>();
  /** Requests of this turn, not written yet. */
  private outgoing = '';

  constructor(private readonly program: SlotProgram, private readonly records: string, private readonly graceMs: number, hold: string, private readonly onGone: (slot: Slot) => void) {
    this.child = spawn(program.file, [...program.args, records, String(process.pid), String(graceMs), String(DRAIN_MS), String(LOG_FLAGS), '', hold], {
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    for (const [name, value] of Object.entries(process.env)) if (value !== undefined) this.env.set(name, value);
    this.child.stdin!.on('error', () => {}); // a slot that died: its exit says so
    this.child.stdout!.on('data', (chunk: Buffer) => this.read(chunk));
    this.child.on('error', (err) => this.gone(`could not start its supervisor (${program.name}): ${err.message}`));
    // 'close', not 'exit': the reports it wrote as it ended are read first.
    this.child.on('close', (code, signal) => this.gone(`its supervisor ended (${signal ?? `exit code ${code}`})`));
    // Who wrote the records that follow: a successor asks whether this slot still lives.
    try {
      if (this.child.pid) fs.appendFileSync(records, `slot\t${this.child.pid}\t${processStartTime(this.child.pid) ?? ''}\n`);
    } catch {
      // a full disk: the attempts run, unrecorded (a successor could not adopt them)
    }
    this.settle();
  }

  /** Attempts sent here and not yet ended. */
  get sent(): number {
    return this.attempts.length;
  }

  get idle(): boolean {
    return !this.dead && this.attempts.length === 0;
  }

  /** Attempts of this lane sent here behind the first (which runs, or is about to). */
  waiting(lane: string): number {
    let n = 0;
    for (let i = 1; i < this.attempts.length; i++) if (this.attempts[i].lane === lane) n++;
    return n;
  }

  /** Attempts of this lane run and wait here, fewer than `depth` behind the first. */
  canQueue(lane: string | undefined, depth: number): boolean {
    return !this.dead && lane !== undefined && this.attempts.length > 0 && this.attempts.length <= depth && this.attempts.every((a) => a.lane === lane);
  }

  run(spec: AttemptSpec): RunningAttempt {
    const queued = this.attempts.length > 0;
    const attempt = new SlotAttempt(spec, this.graceMs, nextOrder(), () => this.hurry());
    if (this.dead) {
      attempt.report(`F its supervisor is gone`);
      return attempt;
    }
    this.attempts.push(attempt);
    if (this.attempts.length === 1) {
      this.child.ref();
      (this.child.stdout as { ref?: () => void }).ref?.();
    }
    const env = this.changes(spec.env);
    const request = slotRequest(spec, env, Boolean(spec.onStdoutLine || spec.onStderrLine), queued, attempt.order);
    if (request === undefined) {
      // Never sent: it ends now, out of the order of the slot's reports.
      this.attempts.pop();
      attempt.report(`F ${NUL_IN_REQUEST}`);
      this.settle();
    } else {
      env.sent();
      this.send(request);
    }
    return attempt;
  }

  /**
   * The requests made in one go (the steps sent ahead together) leave in one write, of one string
   * (a corked stream wrote them with a writev of a buffer each: 40 us an item in a profile of
   * 2,000 small real items).
   */
  private send(request: string): void {
    if (this.outgoing) return void (this.outgoing += request);
    this.outgoing = request;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    if (!this.outgoing) return;
    const all = this.outgoing;
    this.outgoing = '';
    this.child.stdin!.write(all);
  }

  close(): void {
    this.flush();
    this.child.stdin!.end();
  }

  /** Have the reports it holds written now (a stop waits for an attempt's start to be heard). */
  private hurry(): void {
    if (!this.program.holdsReports || this.dead) return;
    try {
      this.child.kill('SIGUSR1');
    } catch {
      // gone: its exit says so
    }
  }

  /** What differs from the environment of the request before: NAME=value set, NAME unset; `sent()` once it went. */
  private changes(env: NodeJS.ProcessEnv): RequestEnv & { sent(): void } {
    const set: [string, string][] = [];
    const unset: string[] = [];
    let kept = 0;
    for (const name in env) {
      const value = env[name];
      if (value === undefined) continue;
      const was = this.env.get(name);
      if (was !== undefined) kept++;
      if (was !== value) set.push([name, value]);
    }
    // Something set before is not in this environment (the usual item changes none of its names).
    if (kept < this.env.size) for (const name of this.env.keys()) if (env[name] === undefined) unset.push(name);
    return {
      form: '+',
      entries: [...set.map(([name, value]) => `${name}=${value}`), ...unset],
      sent: () => {
        for (const [name, value] of set) this.env.set(name, value);
        for (const name of unset) this.env.delete(name);
      },
    };
  }

  /** Nothing in flight: the slot does not keep the runner alive. */
  private settle(): void {
    if (this.attempts.length) return;
    this.child.unref();
    (this.child.stdout as { unref?: () => void }).unref?.();
  }

  private read(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10)) {
      this.report(data.toString('utf8', 0, nl));
      data = data.subarray(nl + 1);
    }
    this.pending = Buffer.from(data);
  }

  /** A report is of the first attempt sent and not yet ended; its end makes the next the first. */
  private report(line: string): void {
    const attempt = this.attempts[0];
    if (!attempt) return;
    if (attempt.report(line)) {
      this.attempts.shift();
      this.settle();
    }
  }

  /**
   * The slot died (kill -9, the OOM killer). Its reports may not have told everything (it holds
   * them a moment): its records do. An attempt recorded ended is settled so; one recorded started
   * (or the one it ran) ends with it, its group stopped; one never started is declined.
   */
  private gone(why: string): void {
    if (this.dead) return;
    this.dead = true;
    this.onGone(this);
    const attempts = this.attempts.splice(0);
    const recorded = attempts.length ? readRecordsFile(this.records) : new Map<string, AttemptRecord>();
    for (const [i, attempt] of attempts.entries()) {
      const r = recorded.get(attempt.key);
      const mine = r && r.attempt === attempt.number && r.order === attempt.order ? r : undefined;
      if (mine?.end) attempt.endedUnheard(mine.end, mine.pgid);
      else if (mine || i === 0) attempt.supervisorGone(why, mine?.pgid);
      else attempt.report('D');
    }
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
  private onStart: (() => void)[] = [];

  /** `hurry`: asks its slot for the reports it holds (its start may be among them). */
  constructor(private readonly spec: AttemptSpec, private readonly graceMs: number, readonly order: number, private readonly hurry: () => void) {
    this.ended = new Promise((r) => (this.resolve = r));
  }

  get lane(): string | undefined {
    return this.spec.lane;
  }

  get key(): string {
    return this.spec.record.key;
  }

  get number(): number {
    return this.spec.record.attempt;
  }

  stop(): void {
    if (this.pid !== undefined) return void (this.stopping ??= terminateGroup(this.pid, this.graceMs));
    this.stopWanted = true;
    if (!this.settled) this.hurry();
  }

  afterStart(fn: () => void): void {
    if (this.pid !== undefined) fn();
    else this.onStart.push(fn);
  }

  /** A line from the slot; true when it was the attempt's last. */
  report(line: string): boolean {
    const rest = line.slice(2);
    switch (line[0]) {
      case 'S':
        this.pid = Number(rest);
        this.spec.onStarted?.(this.pid);
        for (const fn of this.onStart.splice(0)) fn();
        if (this.stopWanted) this.stop();
        return false;
      case 'O': // stdout and stderr, one stream
        (this.spec.onStdoutLine ?? this.spec.onStderrLine)?.(rest);
        return false;
      case 'L': {
        // "<errno> <message>": an error with its code, as fs would throw it, so that it is named in words.
        const [errno, ...message] = rest.split(' ');
        const error = Object.assign(new Error(message.join(' ')), { code: ERRNO_NAMES.get(Number(errno)), syscall: 'write', path: this.spec.logFile });
        if (!this.logFailed) this.spec.onLogError?.(error);
        this.logFailed = true;
        return false;
      }
      case 'Q':
        this.exited = true;
        return false;
      case 'X': {
        const [code, signal, held, synced, started, ended] = rest.split(' ');
        // Processes that left the group but held its output: found by the attempt's environment.
        if (held === '1' && this.spec.identity) stopProcesses(processesWithEnv(this.spec.identity).map((p) => p.pid), this.graceMs);
        const times = started && ended ? { times: { started: Number(started), ended: Number(ended) } } : {};
        this.settle({ kind: 'exited', exitCode: code === '' ? null : Number(code), signal: signal ? (signalName(Number(signal)) ?? null) : null, ...(synced === '1' ? { synced: true } : {}), ...times });
        return true;
      }
      case 'F':
        this.settle({ kind: 'spawn-error', error: rest });
        return true;
      case 'D':
        this.settle({ kind: 'declined' });
        return true;
    }
    return false;
  }

  /** The slot died under the attempt: its group (`pgid` as recorded, if its start was not heard) goes too; nobody would record its end. */
  supervisorGone(why: string, pgid?: number): void {
    this.pid ??= pgid;
    if (this.pid !== undefined) this.stop();
    this.settle({ kind: 'spawn-error', error: why });
  }

  /** It ended, as its slot recorded, and the slot died before it told: the end is its record's. */
  endedUnheard(end: ExecEnd, pgid?: number): void {
    this.pid ??= pgid;
    this.settle(end);
  }

  private settle(end: ExecEnd): void {
    if (this.settled) return;
    this.settled = true;
    this.exited = true;
    this.onStart = [];
    void (this.stopping ?? Promise.resolve()).then(() => this.resolve(end));
  }
}
