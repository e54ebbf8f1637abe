/**
 * What does the runner want now, and why? One pure function over everything that can ask: the
 * task's control file, pause all, signals (Ctrl+C, SIGTERM, SIGHUP), a failure that matched
 * pauseOn, a file that could not be written, and the wait for an automatic resume. The runner
 * applies the answer through the transition table; nothing else decides.
 */
import type { DesiredState, RunnerState } from '../protocol/schemas';

export type PausedBy = NonNullable<RunnerState['pausedBy']>;

export interface Inputs {
  /** control.json's desired state ("running" when it holds no request newer than this run). */
  taskDesired: DesiredState;
  /** .control.json: pause all is on. */
  globalPaused: boolean;
  /** The signals received: one pauses, a second interrupts. */
  signals: 0 | 1 | 2;
  /** A file of the run could not be written: resuming would only meet the same disk. */
  diskError: boolean;
  /** A failure matched pauseOn and no newer request asked to run. */
  failureMatched: boolean;
  /** Paused by that failure, alive, waiting for its automatic resume; `resumeDue`: its time has come. */
  waiting?: { resumeDue: boolean };
}

export type Want = { want: 'run' } | { want: 'pause'; by: PausedBy } | { want: 'interrupt' } | { want: 'wait' };

/**
 * Strongest first: an interrupt (asked, or a second signal); a full disk; a person's pause; then,
 * while running, pause all, a signal, a matched failure. While waiting to resume, a signal ends the
 * wait for good, but pause all does not cut it short: at its time the task stays paused, by pause all.
 */
export function decide(i: Inputs): Want {
  if (i.taskDesired === 'interrupted' || i.signals >= 2) return { want: 'interrupt' };
  if (i.diskError) return { want: 'pause', by: 'disk' };
  if (i.taskDesired === 'paused') return { want: 'pause', by: 'user' };
  if (i.waiting) {
    if (i.signals === 1) return { want: 'pause', by: 'signal' };
    // No failure left: a resume request cleared it.
    if (i.failureMatched && !i.waiting.resumeDue) return { want: 'wait' };
    if (i.globalPaused) return { want: 'pause', by: 'global' };
    return { want: 'run' };
  }
  if (i.globalPaused) return { want: 'pause', by: 'global' };
  if (i.signals === 1) return { want: 'pause', by: 'signal' };
  if (i.failureMatched) return { want: 'pause', by: 'failure' };
  return { want: 'run' };
}
