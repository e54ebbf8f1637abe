/**
 * The attempts of one step or one item, until one of them settles it: success; a failure once
 * the retries are used up (each retry after a growing delay); a failure that matches pauseOn
 * (no retry: the task pauses); exit 75 while a pause is pending (it paused inside); an interrupt;
 * the runner's own Ctrl+C or hang-up, caught by an attempt as it started;
 * or a pause or an interrupt that comes during a retry delay. The timeout and the interrupt stop
 * the attempt through its executor; the first cause wins.
 */
import type { OutputWatch, PauseOnPolicy } from './pauseOn';
import { describeEnd, type AttemptEnd, type RunningAttempt } from './executor';

/** The exit code a step uses to say "I saved my state and paused" (EX_TEMPFAIL). */
export const PAUSE_EXIT_CODE = 75;

export interface AttemptPolicy {
  retries: number;
  /** The first retry's delay; each next one doubles it. */
  retryDelayMs: number;
  timeoutMs?: number;
  pauseOn?: PauseOnPolicy;
}

/** What the loop asks of the run it belongs to. */
export interface LoopHost {
  /** Aborted to interrupt every attempt in flight. */
  readonly interrupt: AbortSignal;
  /** A pause is pending: exit 75 now means "paused inside". */
  pausing(): boolean;
  /** Neither pausing nor interrupting: a retry goes on after its delay. */
  running(): boolean;
  /** The runner itself was sent this signal (Ctrl+C, a hang-up) during this run. */
  received(signal: NodeJS.Signals): boolean;
  /** Sleep, or less when the wanted state changes. */
  sleep(ms: number): Promise<void>;
  onRetry(attempt: number, reason: string, delayMs: number): void;
}

export type Settled =
  /** `synced`: its end was on disk before it was reported; `times`: its own start and end, where its executor knows them (ExecEnd). */
  | { kind: 'succeeded'; attempt: number; synced: boolean; times?: { started: number; ended: number } }
  | { kind: 'interrupted'; attempt: number }
  /** Exit 75 while a pause was pending, or `held` by the pause before it started: neither done nor failed. */
  | { kind: 'pausedInside'; attempt: number; held?: boolean }
  /** `why`: which pauseOn rule matched. */
  | { kind: 'pauseOn'; attempt: number; end: AttemptEnd; reason: string; why: string }
  | { kind: 'failed'; attempt: number; end: AttemptEnd; reason: string }
  /** A pause or an interrupt came during the delay before a retry. */
  | { kind: 'stopped'; attempt: number; end: AttemptEnd; reason: string }
  /** Queued behind another attempt, its slot did not start it (that one failed, or a hold came): it is yet to run. */
  | { kind: 'declined'; attempt: number };

/** Starts attempt `n` (1, 2, …); `watch` sees its output lines, for pauseOn. */
export type StartAttempt = (n: number, watch: OutputWatch | undefined) => RunningAttempt;

export async function runAttempts(policy: AttemptPolicy, host: LoopHost, start: StartAttempt, onEnded?: (attempt: RunningAttempt) => void): Promise<Settled> {
  for (let n = 1; ; n++) {
    const watch = policy.pauseOn?.watch();
    const end = await attemptOnce(policy.timeoutMs, host.interrupt, () => start(n, watch), onEnded);
    // An adopted attempt that ended unseen and unrecorded: it runs again, as the same attempt.
    if (end.kind === 'lost') {
      n--;
      continue;
    }
    if (end.kind === 'exited' && end.exitCode === 0) return { kind: 'succeeded', attempt: n, synced: end.synced === true, ...(end.times ? { times: end.times } : {}) };
    if (end.kind === 'declined') return { kind: 'declined', attempt: n };
    if (end.kind === 'interrupted') return { kind: 'interrupted', attempt: n };
    // Held by the pause before it started (a Slurm element): it did not run; it runs on resume.
    if (end.kind === 'held') return { kind: 'pausedInside', attempt: n, held: true };
    if (end.kind === 'exited' && end.exitCode === PAUSE_EXIT_CODE && host.pausing()) return { kind: 'pausedInside', attempt: n };
    // A terminal's Ctrl+C or hang-up reaches an attempt caught starting (a new process leaves the
    // terminal's process group only as it runs): it was stopped with the runner, it did not fail.
    if (end.kind === 'exited' && end.signal && host.received(end.signal) && !host.running()) {
      return host.pausing() ? { kind: 'pausedInside', attempt: n } : { kind: 'interrupted', attempt: n };
    }
    const reason = describeEnd(end);
    // A failure that says "wait" (a rate limit, no credit) pauses at once: retrying now would not help.
    const why = policy.pauseOn?.why(end, watch);
    if (why) return { kind: 'pauseOn', attempt: n, end, reason, why };
    if (n > policy.retries) return { kind: 'failed', attempt: n, end, reason };
    const delay = policy.retryDelayMs * 2 ** (n - 1);
    host.onRetry(n, reason, delay);
    const until = Date.now() + delay;
    while (host.running() && Date.now() < until) await host.sleep(until - Date.now());
    if (!host.running()) return { kind: 'stopped', attempt: n, end, reason };
  }
}

/** One attempt, stopped by its timeout or an interrupt, whichever comes first while its command runs. */
async function attemptOnce(timeoutMs: number | undefined, interrupt: AbortSignal, start: () => RunningAttempt, onEnded?: (attempt: RunningAttempt) => void): Promise<AttemptEnd> {
  if (interrupt.aborted) return { kind: 'interrupted' };
  const attempt = start();
  let cause: AttemptEnd | undefined;
  const stopFor = (why: AttemptEnd) => {
    if (cause || attempt.exited) return;
    cause = why;
    attempt.stop();
  };
  const onAbort = () => stopFor({ kind: 'interrupted' });
  interrupt.addEventListener('abort', onAbort);
  let timer: NodeJS.Timeout | undefined;
  // From its start: a queued attempt may wait for the one before it.
  const arm = () => (timer = setTimeout(() => stopFor({ kind: 'timed-out', timeoutMs: timeoutMs! }), timeoutMs));
  if (timeoutMs === undefined) {
    // no timer
  } else if (attempt.afterStart) attempt.afterStart(arm);
  else arm();
  try {
    const end = await attempt.ended;
    onEnded?.(attempt);
    return cause ?? end;
  } finally {
    clearTimeout(timer);
    interrupt.removeEventListener('abort', onAbort);
  }
}
