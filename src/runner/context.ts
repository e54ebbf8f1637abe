/** What the parts of a run share: the run itself, as its steps and items see it. */
import type { TaskPaths } from '../protocol/paths';
import type { CompletedStep, CurrentStep, StepDefinition, TaskDefinition, UnfinishedStep } from '../protocol/schemas';
import type { Redact } from '../protocol/secrets';
import type { AttemptPolicy, LoopHost } from './attemptLoop';
import type { CommitLog, StopRecord } from './commitLog';
import type { AttemptSpec, RunningAttempt } from './executor';
import type { PauseOnPolicy } from './pauseOn';
import type { Reporter } from './reporter';
import type { RunControl } from './runControl';
import type { StatePublisher } from './statePublisher';
import type { StepFiles } from './stepFiles';
import type { QueuedStep } from './stepQueue';

/** How a run ends, and what it leaves unfinished. */
export type Stop =
  | { kind: 'completed' }
  | { kind: 'failed'; unfinished: UnfinishedStep; reason: string }
  | { kind: 'paused'; unfinished: UnfinishedStep | null }
  | { kind: 'interrupted'; unfinished: UnfinishedStep | null };

/** The live part of state.json while a forEach step runs: its counts and process groups. */
export interface LiveBatch {
  counts(): { progress: { done: number; total: number }; items: { done: number; total: number; failed: number; running: number } };
  processes(): { pid: number; item: number; pidStartTime?: string }[];
}

export interface RunContext {
  readonly id: string;
  /** The workspace folder: steps' cwd is relative to it. */
  readonly root: string;
  readonly paths: TaskPaths;
  readonly def: TaskDefinition;
  readonly runId: string;
  /** The folder of a retired run's logs this run's steps make theirs from, when this runner began the run (startingPoint.ts). */
  readonly logReuse: string | undefined;
  readonly reporter: Reporter;
  /** Masks secret values in what the runner writes of the definition and the items. */
  readonly redact: Redact;
  readonly control: RunControl;
  readonly publisher: StatePublisher;
  readonly log: CommitLog;
  readonly pauseOn: PauseOnPolicy | undefined;
  readonly loopHost: LoopHost;
  /** What the checkpoint (or an earlier stop of this run) left of this step unfinished: its attempts, its saved state. */
  unfinishedOf(stepId: string): UnfinishedStep | null;
  /** The steps left unfinished now, for a snapshot. */
  stopRecord(): StopRecord;
  /** state.json's view of a step in flight (undefined: the step is not in flight). */
  currentOf(stepId: string): CurrentStep | undefined;
  setCurrent(current: CurrentStep): void;
  /** The forEach step in flight (one at a time: see scheduler.ts). */
  batch: LiveBatch | undefined;
  /** Start an attempt on the executor; it is stopped with the others on a fatal error. */
  startAttempt(spec: AttemptSpec): RunningAttempt;
  /** Attempts of this lane waiting behind a running one, and whether one more may (AttemptSpec.behind): see Executor.queue. */
  queue(lane: string, depth: number): { waiting: number; room: boolean };
  /** Nothing queued starts from now on (a failure stops the step). */
  holdQueued(): void;
  /** An attempt of this key was left by a lost runner: it is taken over when its step or item starts. */
  isAdopted(key: string): boolean;
  attemptPolicy(step: StepDefinition): AttemptPolicy;
  /** How the step's attempts go to Slurm, when it runs there; `throttle`: how many elements at once. */
  slurmSpec(step: StepDefinition, throttle: number): AttemptSpec['slurm'];
  /** The step's environment: the task's and the step's env, earlier steps' outputs, TASK_*, then `extra`. */
  stepEnv(step: StepDefinition, index: number, extra: Record<string, string>): NodeJS.ProcessEnv;
  /** Where the step runs: the task's cwd (relative to the workspace folder), then the step's own. */
  stepFolder(step: StepDefinition): string;
  /**
   * Commit a completed step; false when it could not be written (the task pauses, the step runs
   * again on resume). `endSynced`: its end record is its durable commit (stepQueue.ts), the
   * journal's line need not be synced before the next step.
   */
  commitStep(completed: CompletedStep, files: StepFiles, endSynced?: boolean): Promise<boolean>;
  /** The step's first attempt, sent ahead behind the step before it, if it was (stepQueue.ts). */
  takeQueued(stepId: string): QueuedStep | undefined;
  /** A failure matched pauseOn: pause, or fail when the automatic resumes are used up. */
  pauseOnFailure(unfinished: UnfinishedStep, reason: string): Stop;
  /** The reason to fail with when the automatic resumes are used up, else undefined (pause). */
  givenUp(reason: string): string | undefined;
  /** A step or an item was committed: a run of automatic resumes ends. */
  progressMade(): void;
  /** Run a write of the run's own files; a failure pauses the task (false). */
  tryWrite(write: () => void, file?: string): boolean;
}
