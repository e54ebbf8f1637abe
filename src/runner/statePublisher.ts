/**
 * state.json: the live view of a run, for the CLI, the extension and the next runner. Written
 * atomically but not fsynced (the checkpoint is the durable record), at most once per throttle
 * interval when changes come in quick succession, and every HEARTBEAT_MS so that a runner on
 * another host that stops writing comes to show as lost.
 */
import { writeJsonAtomicSync } from '../protocol/jsonFile';
import { processStartTime } from '../protocol/processInfo';
import { runningSteps, type RunnerState } from '../protocol/schemas';
import type { Redact } from '../protocol/secrets';
import { asWriteError, type WriteError } from '../protocol/writeError';

const HEARTBEAT_MS = 5000;
/**
 * Step starts closer together than this share one state.json write: the extension's debounce
 * (taskStore.ts), so none it would have shown is lost. Each write is a rename over the last,
 * which ext4 makes flush the new file (auto_da_alloc): about 1 ms, 40 of them in a 1,000-step
 * chain of trivial steps at 50 ms.
 */
export const STATE_THROTTLE_MS = 100;

export class StatePublisher {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = 0;
  private lastWrite = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Nothing more is written (the run folder is another run's now). */
  private muted = false;

  /**
   * `refresh` brings the live parts of the state up to date just before each write (the items in
   * flight, who paused); `onWriteError` hears of a write that failed; `stillOwned` is asked just
   * before each write, because most come from timers, with no look at runner.lock before them: a
   * folder deleted and made again by a new run got the old runner's state.json, and the new run
   * took itself for the successor of a lost one.
   */
  constructor(
    private readonly file: string,
    readonly state: RunnerState,
    private readonly redact: Redact,
    private readonly onWriteError: (err: WriteError) => void,
    private readonly refresh: (state: RunnerState) => void,
    private readonly stillOwned: () => boolean,
  ) {}

  /**
   * Write now, or no sooner than `minIntervalMs` after the last write: changes in quick succession
   * share one write. False when it could not be written (called from timers too: it never throws for that).
   */
  save(minIntervalMs = 0): boolean {
    if (this.muted) return false;
    const due = this.lastWrite + minIntervalMs;
    const wait = due - performance.now();
    if (wait > 0) {
      // A write already planned as soon as this one is enough. (The same sum each time: computed
      // from two readings of the clock, it differed by a rounding, and every item armed a timer.)
      if (this.timer && this.dueAt <= due) return true;
      clearTimeout(this.timer);
      this.dueAt = due;
      this.timer = setTimeout(() => this.save(), wait);
      return true;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.stillOwned()) return false;
    this.refresh(this.state);
    // Read only when written: steps that start and end between two writes never need it.
    // "gone": the step ended already, so a later process with the same pid is never taken for it.
    for (const step of runningSteps(this.state)) {
      if (step.pid && !step.pidStartTime) step.pidStartTime = processStartTime(step.pid) ?? 'gone';
      for (const group of step.processes ?? []) group.pidStartTime ??= processStartTime(group.pid) ?? 'gone';
    }
    const time = new Date().toISOString();
    this.state.updatedAt = time;
    this.state.heartbeatAt = time;
    const state = this.state.reason ? { ...this.state, reason: this.redact(this.state.reason) } : this.state;
    try {
      writeJsonAtomicSync(this.file, state);
    } catch (err) {
      const failed = asWriteError(err, this.file, true);
      if (!failed) throw err;
      this.onWriteError(failed);
      return false;
    }
    this.lastWrite = performance.now();
    return true;
  }

  startHeartbeat(): void {
    this.heartbeat = setInterval(() => this.save(), HEARTBEAT_MS);
  }

  /** From now on write nothing. */
  mute(): void {
    this.muted = true;
    this.stop();
  }

  stop(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.timer);
  }
}
