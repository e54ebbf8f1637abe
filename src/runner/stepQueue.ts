/**
 * A chain's next steps, sent ahead to the slot of the step running now, so that each starts the
 * moment the one before it ends, as make starts its next recipe, and not a report, a commit and
 * a request later. Without it a 1,000-step chain of trivial steps spent two thirds of its time
 * between steps.
 *
 * What the runner would decide between the steps, the slot checks (slotScript.ts): the step
 * before succeeded, it wrote no outputs (the next one's environment would lack them: its outputs
 * file is still absent), no control file was written since (a pause, an interrupt, any request),
 * and the hold file is absent. Otherwise the slot declines the step and what is queued behind it,
 * and each starts the usual way when its turn comes. Every step's end is synced by its slot
 * before the next one starts: that record is the step's durable commit (a resume after a power
 * loss commits the step from it), and the journal's line follows in the group commit.
 *
 * Only plain steps are queued: not a forEach, Slurm or stamped step, not one left unfinished or
 * adopted, and only where the scheduler says the step is the one that follows (scheduler.ts
 * `successor`): a chain, or a graph where one step follows another. Each chain in flight has a lane
 * of its own (at concurrency 2, two chains run side by side, each with its steps sent ahead to its
 * slot), named after the attempt it began behind. A lane whose slot declined what it queued sends
 * nothing more (no slot of it is busy: `room` is false) and ends once the declined are taken; a
 * declined step, and a retry, start again in a lane of their own, so nothing is ever queued behind
 * them ahead of the steps declined with them.
 */
import type { StepDefinition } from '../protocol/schemas';
import { type AttemptSpec, type ExecEnd, type RunningAttempt } from './executor';
import type { PlannedStep, Scheduler } from './scheduler';

/**
 * The lane of a chain that begins with this attempt of a step (no step id has a "#": never an
 * item's lane). Each attempt has its own: a retry of the step a lane began behind is not that
 * lane, or the lane would queue its next steps behind the retry, ahead of those its slot declined.
 */
export const chainLane = (stepId: string, attempt: number) => `#chain ${stepId} ${attempt}`;
/**
 * Steps sent ahead of the one running. A slot in C starts the next one's shell while one runs when
 * that one was sent already, and holds its reports until half of what waited has started, steps'
 * ends too: the runner hears of several at once, and sends more together while the other half
 * runs. On 1,000 trivial steps (each its end reported at once), with two sent ahead 45% of the
 * steps found their shell started, with four 74%, with sixteen 93%. With the half rule, 32 ahead
 * wake the runner every 16 steps or so: its CPU for the chain 474-525 ms against 489-581 with 16.
 */
export const QUEUE_AHEAD = 32;
/** Lines a queued step printed before its turn, kept for pauseOn and ::progress; the oldest go first. */
const MAX_EARLY_LINES = 1000;

/** A step sent ahead: its attempt, and its output lines until its step takes it. */
export class QueuedStep {
  readonly attempt: RunningAttempt;
  /** Whether its slot started it (true) or declined it (false); resolves once it is known. */
  readonly started: Promise<boolean>;
  private readonly early: string[] = [];
  private onLine: ((line: string) => void) | undefined;
  private onStarted: ((pid: number) => void) | undefined;

  /** `gates`: the files its slot checks before it starts it; `lane`: its chain's. */
  constructor(readonly step: StepDefinition, readonly lane: string, gates: Gate[], spec: AttemptSpec, start: (spec: AttemptSpec) => RunningAttempt) {
    let known!: (started: boolean) => void;
    this.started = new Promise((resolve) => (known = resolve));
    const line = (text: string) => {
      if (this.onLine) return this.onLine(text);
      if (this.early.push(text) > MAX_EARLY_LINES) this.early.shift();
    };
    this.attempt = start({
      ...spec,
      lane,
      behind: true,
      startsIf: gates,
      onStdoutLine: line,
      onStderrLine: line,
      onStarted: (pid) => {
        known(true);
        this.onStarted?.(pid);
      },
    });
    // Ended without a start: declined (or its slot could not take it, which counts as an attempt that failed to start).
    void this.attempt.ended.then((end) => known(end.kind !== 'declined'));
  }

  /** Its step begins: the lines so far are handed on, and the rest as they come. */
  take(onLine: (line: string) => void, onStarted: (pid: number) => void): RunningAttempt {
    this.onLine = onLine;
    this.onStarted = onStarted;
    for (const text of this.early.splice(0)) onLine(text);
    if (this.attempt.pid !== undefined) onStarted(this.attempt.pid);
    return this.attempt;
  }
}

/**
 * The queued attempt, or, once its slot declined it, the same attempt started now (`start`),
 * unless the run is no longer running: then it ends 'held', not run (it runs on resume).
 */
export function startIfDeclined(queued: RunningAttempt, start: () => RunningAttempt, running: () => boolean): RunningAttempt {
  let current = queued;
  let stopWanted = false;
  const onStart: (() => void)[] = [];
  const ended = queued.ended.then((end): ExecEnd | Promise<ExecEnd> => {
    if (end.kind !== 'declined') return end;
    if (stopWanted || !running()) return { kind: 'held' };
    current = start();
    for (const fn of onStart) current.afterStart ? current.afterStart(fn) : fn();
    return current.ended;
  });
  return {
    get pid() {
      return current.pid;
    },
    // Declined and not yet started again: not exited (a stop asked now must reach the one started).
    get exited() {
      return current === queued ? queued.exited && queued.pid !== undefined : current.exited;
    },
    ended,
    stop() {
      stopWanted = true;
      current.stop();
    },
    afterStart(fn: () => void) {
      onStart.push(fn);
      if (current.afterStart) current.afterStart(fn);
    },
  };
}

type Gate = NonNullable<AttemptSpec['startsIf']>[number];

/** What the queue asks of its run. */
export interface AheadHost {
  /** The run is running: neither pausing nor stopping. */
  running(): boolean;
  /** A slot runs a step of this lane and has room behind it. */
  room(lane: string): boolean;
  /** The step may be sent ahead: a plain step, not left unfinished, not adopted. */
  queueable(step: StepDefinition): boolean;
  /** The lane of the attempt of this step started now (chainLane), if it started one in a slot. */
  laneOf(step: StepDefinition): string | undefined;
  /** Its outputs file (TASK_STEP_OUTPUT), which the step after it is gated on. */
  outputsFile(step: StepDefinition): string;
  /** The control files' stamps as the runner last looked at them, before it read them: the queued steps are gated on them. */
  controlStamps(): Gate[];
  /** The attempt as the step would start it (its first: only a step's first attempt is queued). */
  spec(step: StepDefinition, index: number): AttemptSpec;
  start(spec: AttemptSpec): RunningAttempt;
}

/** One chain's steps sent ahead, in the order they will run, behind the step of it that runs. */
interface Lane {
  readonly name: string;
  /** The step the first queued one follows: it runs, or ran (the last one taken, or the one the lane began behind). */
  behind: StepDefinition;
  readonly queued: QueuedStep[];
}

/** The steps sent ahead, a lane for each chain in flight. */
export class StepsAhead {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly host: AheadHost) {}

  /**
   * `started`: the steps started now. Each that is not of a lane begins one; each lane is sent the
   * steps that follow what it has queued (or the step it is behind), up to QUEUE_AHEAD. A lane
   * with nothing queued, not begun now, ends: the step it is behind may be done.
   */
  fill(scheduler: Scheduler, started: PlannedStep[]): void {
    for (const lane of this.lanes.values()) if (!lane.queued.length && !started.some((s) => s.step === lane.behind)) this.lanes.delete(lane.name);
    for (const { step } of started) {
      const ofLane = [...this.lanes.values()].some((lane) => lane.behind === step || lane.queued[0]?.step === step);
      const name = ofLane ? undefined : this.host.laneOf(step);
      if (name) this.lanes.set(name, { name, behind: step, queued: [] });
    }
    let stamps: Gate[] | undefined;
    for (const lane of this.lanes.values()) {
      let after = lane.queued.at(-1)?.step ?? lane.behind;
      while (lane.queued.length < QUEUE_AHEAD && this.host.running() && this.host.room(lane.name)) {
        const next = scheduler.successor(after.id);
        if (!next || !this.host.queueable(next.step)) break;
        // Its environment is the one it would have if the steps before it, not committed yet, write
        // no outputs: the slot checks that the one just before it did not (its outputs file is still
        // absent); each one before that was checked as its successor started, and the slot
        // declines all that is queued behind a step it declined.
        stamps ??= this.host.controlStamps();
        const gates = [...stamps, { file: this.host.outputsFile(after), stamp: '-' }];
        if (gates.some((g) => g.file.includes('\n'))) break;
        lane.queued.push(new QueuedStep(next.step, lane.name, gates, this.host.spec(next.step, next.index), (spec) => this.host.start(spec)));
        after = next.step;
      }
    }
  }

  /** The queued attempt of this step, when it is the next one queued in its lane. */
  take(stepId: string): QueuedStep | undefined {
    for (const lane of this.lanes.values()) {
      if (lane.queued[0]?.step.id !== stepId) continue;
      const first = lane.queued.shift()!;
      lane.behind = first.step;
      return first;
    }
    return undefined;
  }

  /**
   * The first queued step of each lane that the scheduler lets start now (the step before it
   * completed): its slot starts it the moment that one ends, so it goes before any other ready
   * step, which would find no free place.
   */
  takeReady(scheduler: Scheduler): PlannedStep[] {
    const out: PlannedStep[] = [];
    for (const lane of this.lanes.values()) {
      const planned = lane.queued[0] && scheduler.take(lane.queued[0].step.id);
      if (planned) out.push(planned);
    }
    return out;
  }

  /**
   * The run stops starting steps (a pause, an interrupt, a failure), but a slot may have started
   * the next queued step already: that one is in flight, and finishes (or, on an interrupt, is
   * stopped) as any other. Returns it when its step may run now (the scheduler takes it). One
   * whose step before did not complete here (the journal could not take its commit; its synced
   * end record is its commit all the same) is waited for, and left to the next runner with its
   * own record. What was declined is dropped. A lane behind a step still in flight (`inFlight`)
   * waits for that step's end.
   */
  async startedAnyway(scheduler: Scheduler, interrupting: boolean, inFlight: (stepId: string) => boolean): Promise<PlannedStep | undefined> {
    for (const lane of this.lanes.values()) {
      if (inFlight(lane.behind.id)) continue;
      while (lane.queued.length) {
        const first = lane.queued[0];
        if (!(await first.started)) {
          await this.end(lane);
          break;
        }
        const planned = interrupting ? undefined : scheduler.take(first.step.id);
        if (planned) return planned;
        lane.queued.shift();
        if (interrupting) first.attempt.stop();
        await first.attempt.ended;
      }
      this.lanes.delete(lane.name);
    }
    return undefined;
  }

  /** Nothing more runs from the queue: what is left is stopped (it was declined, or is held) and waited for. */
  async clear(): Promise<void> {
    await Promise.all([...this.lanes.values()].map((lane) => this.end(lane)));
  }

  private async end(lane: Lane): Promise<void> {
    this.lanes.delete(lane.name);
    const left = lane.queued.splice(0);
    for (const q of left) q.attempt.stop();
    await Promise.all(left.map((q) => q.attempt.ended));
  }
}
