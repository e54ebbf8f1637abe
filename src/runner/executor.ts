/**
 * Where attempts run. An executor starts an attempt (a step, or one item of a forEach step),
 * stops it on request, and reports its end; the runner decides what runs and commits what ended.
 * The slot executor hands each attempt to a supervisor that records it in the run folder, so that
 * it outlives the runner; the local executor forks it from the runner. `record` is what a later
 * runner finds an attempt again by (the seam for a cluster's executor too: Slurm jobs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { SlurmOptions } from '../protocol/schemas';

const SIGNAL_NAMES = new Map(Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
/** A signal's name from its number (a slot reports numbers). */
export const signalName = (n: number): NodeJS.Signals | undefined => SIGNAL_NAMES.get(n);

/** How long an attempt's output may go on after its shell and its group are gone. */
export const DRAIN_MS = 250;

export interface AttemptSpec {
  command: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** What the attempt is, in its supervisor's records: the step (or "<step>#<item index>") and the attempt's number. */
  record: { key: string; attempt: number };
  /** Its process group exists (at once for the local executor, a moment later for a slot). */
  onStarted?: (pid: number) => void;
  /** It ended, having run `ms` since it started (not called for one that never started). */
  onEnded?: (ms: number) => void;
  /** The attempt's first line in the log (its number, its start): every attempt leaves one. */
  logHeader: string;
  /**
   * A log of a retired run (startingPoint.ts) that becomes this attempt's log when it has none yet,
   * emptied: no file made, none freed. Only for a log no other attempt writes at the same time.
   */
  logReuse?: string;
  /** Log line by line, each with this prefix: the items of a forEach step share one log. */
  logPrefix?: string;
  /** Each line of stdout, and of stderr, a last line without "\n" included; only asked for when wanted. */
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** The log could not be written (a full disk): the attempt goes on, its output no longer logged. Called once. */
  onLogError?: (err: Error) => void;
  /**
   * Environment entries ("NAME=value") that every process of this attempt inherits, and no other
   * process does: those that left its process group are found by them.
   */
  identity?: string[];
  /** The lane it runs in (the items of a step): an attempt queued `behind` waits only behind one of its lane. */
  lane?: string;
  /**
   * Queue it behind a running attempt of its lane (the runner asked Executor.canQueue): it starts
   * the moment that one ends, as xargs starts the next item, rather than a round trip later.
   */
  behind?: boolean;
  /**
   * Its end is recorded durably (synced) before it is reported, and before anything queued behind
   * it starts: the record is then the step's durable commit (ExecEnd `synced`).
   */
  durableEnd?: boolean;
  /**
   * Queued: it starts only if each of these files is as stamped (fileStamp) when the attempt
   * before it ends; else it is declined. A step queued behind the one before it is gated on that
   * one's outputs file (still absent) and the control files (unwritten since).
   */
  startsIf?: { file: string; stamp: string }[];
  /** Run it as a Slurm job element instead (slurm/slurmExecutor.ts); `throttle`: elements of the step at once. */
  slurm?: { stepId: string; options: SlurmOptions; throttle: number };
}

/**
 * What a slot compares a file with before it starts an attempt queued behind another: "<inode>:
 * <size>:<mtime in s>", or "-" when there is no file. Control files are replaced whole (a new
 * inode), so any write shows.
 */
export function fileStamp(file: string): string {
  try {
    const s = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
    return s ? stampOfStat(s) : '-';
  } catch {
    return '-';
  }
}

export const stampOfStat = (s: fs.BigIntStats): string => `${s.ino}:${s.size}:${s.mtimeNs / 1_000_000_000n}`;

/** How an attempt's command ended, as the executor saw it. */
export type ExecEnd =
  /**
   * `synced`: its end record was on disk before it was reported (AttemptSpec.durableEnd). `times`:
   * when it started and ended (ms since 1970), from an executor that may tell of its start only
   * with its end.
   */
  | { kind: 'exited'; exitCode: number | null; signal: NodeJS.Signals | null; synced?: boolean; times?: { started: number; ended: number } }
  | { kind: 'spawn-error'; error: string }
  /** An adopted attempt whose processes are gone and whose end nobody recorded (or that paused itself): it runs again. */
  | { kind: 'lost' }
  /** A Slurm element a pause held before it started: neither run nor failed; a resume releases it. */
  | { kind: 'held' }
  /** Slurm ended the element before it could say how (a time limit, a node lost, a cancel); `said`: Slurm's words. */
  | { kind: 'cluster'; state: string; said?: string }
  /** A queued attempt its slot did not start: the one before it failed, or a hold came first. It did not run. */
  | { kind: 'declined' };

export interface RunningAttempt {
  /** Its process group; undefined until it has started, or when it could not start. */
  readonly pid: number | undefined;
  /** Its command has exited: stopping it now only frees what it left behind. */
  readonly exited: boolean;
  /** Resolves once, when the attempt has ended and nothing it started is left. */
  readonly ended: Promise<ExecEnd>;
  /** Stop it: SIGTERM to everything it runs, SIGKILL after the grace period. Idempotent. */
  stop(): void;
  /** Call `fn` once it has started (at once if it has; never if it does not start): a queued attempt starts later. */
  afterStart?(fn: () => void): void;
}

export interface Executor {
  start(spec: AttemptSpec): RunningAttempt;
  /**
   * The queues of a lane: how many of its attempts wait behind a running one (sent, not yet their
   * slot's first), and whether one more can be queued (`behind`): one runs with fewer than `depth`
   * waiting behind it.
   */
  queue?(lane: string, depth: number): { waiting: number; room: boolean };
  /** While on, nothing queued starts (a pause, an interrupt, a stop): each ends 'declined'. */
  hold?(on: boolean): void;
  /** The run folder is another run's now: write nothing more there. */
  mute(): void;
  /** No more attempts will start. */
  close(): void;
}

/** How an attempt ended: as its executor saw it, or stopped by the runner (a timeout, an interrupt). */
export type AttemptEnd = ExecEnd | { kind: 'timed-out'; timeoutMs: number } | { kind: 'interrupted' };

export function describeEnd(end: AttemptEnd): string {
  switch (end.kind) {
    case 'exited':
      return end.signal ? `killed by ${end.signal}` : `exit code ${end.exitCode}`;
    case 'timed-out':
      return `timed out after ${end.timeoutMs}ms`;
    case 'spawn-error':
      return `could not start: ${end.error}`;
    case 'interrupted':
      return 'interrupted';
    case 'lost':
      return 'ended while no runner watched, its end not recorded';
    case 'held':
      return 'held by a pause before it started';
    case 'cluster':
      return `Slurm ended it: ${end.state}${end.said ? ` (${end.said})` : ''}`;
    case 'declined':
      return 'not started: queued behind an attempt that did not succeed, or held';
  }
}
