/**
 * The one owner of a run's status. It gathers what asks for a change (the control files, signals,
 * a failure that matched pauseOn, a file that could not be written), asks `decide` what the
 * runner wants, and moves the status through the transition table. Whoever learns something new
 * tells it here; sleepers (retry delays, the wait to resume) wake to look again.
 */
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import type { TaskPaths } from '../protocol/paths';
import type { RunnerState } from '../protocol/schemas';
import { ACTIVE_STATES, canTransition, transition, type Request, type RunnerEvent, type TaskStatus } from '../protocol/transitions';
import { asWriteError, type WriteError } from '../protocol/writeError';
import { ControlCache, readControlFiles } from './controlFiles';
import { decide, type PausedBy, type Want } from './decide';
import type { Reporter } from './reporter';

/** setTimeout's longest delay; longer waits (an automatic resume days away) sleep again. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long a look at the control files stands at a boundary (lookIfStale). */
export const LOOK_MS = 5;

export class RunControl {
  private current: TaskStatus;
  /** Why the task is pausing or paused. */
  pausedBy: PausedBy | undefined;
  /** Paused by a failure, alive, waiting to resume by itself (pauseOn.autoResume). */
  waiting = false;
  /** Aborted to interrupt every attempt in flight. */
  private readonly interruption = new AbortController();
  readonly interrupt = this.interruption.signal;
  /** A file of the run could not be written (a full disk): the task pauses, this is why. */
  writeError: WriteError | undefined;
  /** A failure matched pauseOn: the task pauses, unless a newer request (seq) asks it to run. */
  matchedFailure: { reason: string; seq: number } | undefined;

  private readonly cache = new ControlCache();
  /** When look() last read the control files (performance.now()). */
  private lookedAt = -Infinity;
  private readonly reported = new Set<string>();
  private readonly wakers = new Set<() => void>();
  /** Control requests up to this seq were applied by an earlier runner. */
  private startSeq = 0;
  private taskDesired: 'running' | 'paused' | 'interrupted' = 'running';
  private globalPaused = false;
  private signals: 0 | 1 | 2 = 0;
  /** runner.lock is no longer this runner's (its run folder was deleted, maybe a new run started): nothing more is written. */
  disowned = false;
  /** Told of each new status (a pause holds what waits in Slurm's queue). */
  onMove: ((status: TaskStatus) => void) | undefined;

  constructor(
    private readonly id: string,
    private readonly paths: TaskPaths,
    private readonly state: RunnerState,
    private readonly reporter: Reporter,
    private readonly save: () => void,
    initial: TaskStatus,
    private readonly ownership: { readonly held: boolean },
    private readonly onDisowned: () => void,
  ) {
    this.current = initial;
    this.startSeq = state.appliedSeq;
    // Each attempt in flight listens for the interrupt: a Slurm step has every item in flight.
    setMaxListeners(Infinity, this.interrupt);
  }

  get status(): TaskStatus {
    return this.current;
  }

  get running(): boolean {
    return this.current === 'running';
  }

  get pausing(): boolean {
    return this.current === 'pausing';
  }

  /** The status changes here only, through the transition table. */
  move(action: Request | RunnerEvent): void {
    const before = this.current;
    this.current = transition(this.id, this.current, action, this.waiting);
    this.state.status = this.current as RunnerState['status'];
    if (this.current !== before) this.onMove?.(this.current);
  }

  /** What the runner wants now; `resumeDue` while waiting to resume: has its time come? */
  want(resumeDue = false): Want {
    return decide({
      taskDesired: this.taskDesired,
      globalPaused: this.globalPaused,
      signals: this.signals,
      diskError: this.writeError !== undefined,
      failureMatched: this.matchedFailure !== undefined,
      waiting: this.waiting ? { resumeDue } : undefined,
    });
  }

  /** The control file as look() last found it, before reading it (fileStamp's form); undefined before it looked. */
  stampOf(file: string): string | undefined {
    return this.cache.stampOf(file);
  }

  /**
   * At a boundary (a step or an item starts): look, unless a look did in the last LOOK_MS. The
   * files are watched and polled as well, so a request is seen at most that much later than by a
   * look at every boundary: three stats, which a chain of trivial steps paid a thousand times.
   */
  lookIfStale(): void {
    if (performance.now() - this.lookedAt >= LOOK_MS) this.look();
  }

  /** Read the control files (cached: parsed again only when changed), then act on what is wanted. */
  look(): void {
    if (!ACTIVE_STATES.has(this.current) && !this.waiting) return;
    if (this.disowned) return;
    if (!this.ownership.held) return this.disown();
    this.lookedAt = performance.now();
    const control = readControlFiles(this.paths, this.cache);
    for (const problem of control.problems) {
      if (this.reported.has(problem.message)) continue;
      this.reported.add(problem.message);
      this.reporter.error(`${problem.message} (ignored until fixed)`);
    }
    let changed = false;
    const { task, global } = control;
    if (task && task.seq > this.state.appliedSeq) {
      this.state.appliedSeq = task.seq;
      changed = true;
    }
    if (global && global.seq !== this.state.appliedGlobalSeq) {
      this.state.appliedGlobalSeq = global.seq;
      changed = true;
    }
    this.taskDesired = task && task.seq > this.startSeq ? task.desired : 'running';
    this.globalPaused = global?.desired === 'paused';
    // A request to run newer than the failure (a resume) overrides the pause it asked for.
    if (this.matchedFailure && task && task.seq > this.matchedFailure.seq && task.desired === 'running') this.matchedFailure = undefined;
    if (this.apply() || changed) this.save();
  }

  /** Before a write no look came just before (a timer's): is runner.lock still this runner's? If not, it is disowned now. */
  holds(): boolean {
    if (!this.disowned && !this.ownership.held) this.disown();
    return !this.disowned;
  }

  /** Move between running, pausing and interrupting as wanted; true when something changed. While waiting, the wait decides. */
  private apply(): boolean {
    let changed = false;
    // Only a live run moves (a write that fails as the run ends, or while it waits, changes no status).
    const want = this.waiting || !ACTIVE_STATES.has(this.current) ? undefined : this.want();
    if (want?.want === 'interrupt' && this.current !== 'interrupting') {
      this.move('interrupt');
      this.interruption.abort();
      changed = true;
    } else if (want?.want === 'pause' && this.current === 'running') {
      this.move('pause');
      this.pausedBy = want.by;
      this.markPauseRequested(want.by);
      changed = true;
    } else if (want?.want === 'pause' && this.current === 'pausing' && want.by !== this.pausedBy) {
      // Paused for another reason now (a person paused a task that pause-all or a failure paused).
      this.pausedBy = want.by;
      changed = true;
    } else if (want?.want === 'run' && this.current === 'pausing') {
      this.move('resume');
      this.pausedBy = undefined;
      if (!this.disowned) fs.rmSync(this.paths.pauseRequested, { force: true });
      changed = true;
    }
    for (const wake of [...this.wakers]) wake();
    return changed;
  }

  /**
   * The lock is gone or another's: stop everything in flight and write nothing more, not even
   * state.json (the folder it would land in belongs to another run now, or to nobody).
   */
  private disown(): void {
    this.disowned = true;
    this.onDisowned();
    this.reporter.error(`Stopping '${this.id}': its run folder was deleted or taken over while it ran (${this.paths.lock} is no longer this runner's); nothing more is written there`);
    this.waiting = false;
    if (canTransition(this.current, 'interrupt')) this.move('interrupt');
    this.interruption.abort();
    for (const wake of [...this.wakers]) wake();
  }

  /** Ctrl+C, SIGTERM, SIGHUP: the first pauses, a second interrupts. */
  signalled(): void {
    if (this.signals >= 1) this.reporter.info('Interrupting: the step in flight is being stopped');
    else this.reporter.info(this.waiting ? 'Pausing: no automatic resume' : 'Pausing after the step in flight (press Ctrl+C again to interrupt)');
    this.signals = this.signals >= 1 ? 2 : 1;
    this.look();
  }

  /**
   * A file of the run could not be written (a full disk, a read-only mount): the task pauses after
   * the step or items in flight, and stays paused whatever is asked but an interrupt; what was
   * committed stays committed. The first error is the reason.
   */
  cannotWrite(err: WriteError): void {
    if (this.writeError) return;
    this.writeError = err;
    this.reporter.error(`${err.message}: pausing '${this.id}'`);
    this.apply();
  }

  /** A failure matched pauseOn: the task pauses (the step or items in flight end first). */
  failureMatched(reason: string): void {
    if (this.matchedFailure) return;
    this.look(); // requests already written count as made before the failure
    this.matchedFailure = { reason, seq: this.state.appliedSeq };
    this.reporter.info(`⏸ pausing (pauseOn): ${reason}`);
    this.look();
  }

  /** TASK_PAUSE_REQUESTED: steps that look at it pause inside; the pause happens without it too. */
  private markPauseRequested(by: PausedBy): void {
    if (this.disowned) return;
    try {
      fs.writeFileSync(this.paths.pauseRequested, `${new Date().toISOString()} ${by}\n`);
    } catch (err) {
      const failed = asWriteError(err, this.paths.pauseRequested, true);
      if (!failed) throw err;
      if (by !== 'disk') this.cannotWrite(failed);
    }
  }

  /** Sleep for `ms` (or the longest timer there is), or until something changes what is wanted. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
      this.wakers.add(done);
    });
  }

  /**
   * The way out on an unexpected error (`runnerError`) or a disk that failed where none was expected
   * (`writeFailed`): nothing more starts, sleepers wake to a stopped run, attempts to an interrupt.
   */
  halt(event: 'runnerError' | 'writeFailed'): void {
    this.waiting = false;
    if (canTransition(this.current, event)) this.move(event);
    this.pausedBy = event === 'writeFailed' ? 'disk' : undefined;
    this.interruption.abort();
    for (const wake of [...this.wakers]) wake();
  }
}
