/**
 * The zod schemas of every file in `.tasks/`, shared by the runner, the CLI and the extension.
 * Files written by people (definitions, control) are strict: an unknown field is a typo.
 * Files written by the tools tolerate extra fields so that an older reader survives a newer writer.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { DURATION_PATTERN } from './duration';
import { compileGlob, GlobError } from './glob';
import { graphProblems } from './graph';
import { outputPatternProblem } from './outputPattern';
import { parseRanges } from './ranges';
import { isSecretName, MASK, redactDeep, redactor, secretValues } from './secrets';

// zod/mini, imported so that esbuild keeps only what is used (34 KB instead of 700 KB with every
// locale): a smaller runner forks its steps faster and the extension activates sooner.
z.config(en());

export const TASK_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const STEP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const described = <T extends z.ZodMiniType>(schema: T, description: string) => schema.check(z.describe(description));
const optional = <T extends z.ZodMiniType>(schema: T, description?: string) => z.optional(description ? described(schema, description) : schema);
const int = () => z.int();
const count = () => z.int().check(z.nonnegative());
const isoTime = z.string().check(z.minLength(1));

const duration = z.union([
  described(z.number().check(z.nonnegative()), 'seconds'),
  z.string().check(z.regex(DURATION_PATTERN, 'a duration such as "500ms", "30s", "10m" or "2h"')),
]);
const envMap = z.record(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')), z.string());

const MAX_CONCURRENCY = 128;
/**
 * A chain longer than this is refused when read: every reader (the extension on each refresh too)
 * validates and hashes the whole definition, and 100,000 steps cost about a second each time.
 */
export const MAX_STEPS = 10_000;
const FOR_EACH_SOURCES = ['items', 'file', 'glob'] as const;

/** Why a relative path from a definition would lead out of its folder: absolute, or ".." above it. */
function leavingProblem(p: string, folder: string, dotDot: 'above' | 'any' | 'checked later' = 'above'): string | undefined {
  if (path.posix.isAbsolute(p)) return `"${p}" is absolute: it must be relative to ${folder}`;
  const normal = path.posix.normalize(p);
  const leaves = dotDot === 'any' ? p.split('/').includes('..') : dotDot === 'above' && (normal === '..' || normal.startsWith('../'));
  return leaves ? `"${p}" leads out of ${folder} ("..")` : undefined;
}

const relativePath = (folder: string, dotDot?: 'above' | 'any' | 'checked later') =>
  z.string().check(
    z.superRefine((p, ctx) => {
      const problem = leavingProblem(p, folder, dotDot);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, input: p });
    }),
  );

const globPattern = z.string().check(
  z.superRefine((pattern, ctx) => {
    try {
      compileGlob(pattern);
    } catch (err) {
      if (!(err instanceof GlobError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message, input: pattern });
    }
  }),
);

export const forEachSchema = z
  .strictObject({
    items: optional(z.array(z.union([z.string(), z.number()])), 'The items, in order.'),
    file: optional(relativePath("the step's folder", 'any').check(z.minLength(1, 'a file name')), "A file with one item a line, relative to the step's folder."),
    glob: optional(globPattern, "The files matching a pattern (*, ?, **, [a-z]), relative to the step's folder; the paths are the items."),
  })
  .check(
    z.superRefine((source, ctx) => {
      const given = FOR_EACH_SOURCES.filter((k) => source[k] !== undefined);
      if (given.length === 1) return;
      const message = given.length ? `has ${given.slice(0, -1).join(', ')} and ${given[given.length - 1]}: give one source of items` : 'give a source of items: items, file or glob';
      ctx.addIssue({ code: 'custom', message, input: source });
    }),
  );
export type ForEachSource = z.infer<typeof forEachSchema>;

/** Options sbatch sets itself, or that would break how a job finds its work: not allowed in sbatchArgs. */
const SBATCH_OWN = ['--array', '--job-name', '-J', '--output', '-o', '--error', '-e', '--open-mode', '--parsable', '--wrap', '--dependency', '-d', '--hold', '-H', '--chdir', '-D', '--export'];

/** How a step's jobs are asked of Slurm; `time` is a duration like a step's timeout ("1h", "90m"). */
export const slurmOptionsSchema = z.strictObject({
  partition: optional(z.string().check(z.regex(/^[A-Za-z0-9_.,-]+$/, 'a partition name (or several, by commas)')), 'The partition (sbatch --partition).'),
  time: optional(duration, 'Time limit of each job element, e.g. "1h" (sbatch --time); Slurm ends an element that takes longer (TIMEOUT).'),
  cpusPerTask: optional(z.int('a whole number').check(z.minimum(1, 'at least 1'), z.maximum(4096, 'at most 4096')), 'CPUs for each element (sbatch --cpus-per-task).'),
  mem: optional(z.string().check(z.regex(/^\d+[KMGT]?$/, 'a size such as "8G" or "500M"')), 'Memory for each element (sbatch --mem).'),
  gres: optional(z.string().check(z.regex(/^[A-Za-z0-9_:.,-]+$/, 'a generic resource such as "gpu:1"')), 'Generic resources for each element (sbatch --gres).'),
  sbatchArgs: optional(
    z.array(
      z.string().check(
        z.regex(/^-/, 'an sbatch option, such as "--account=x"'),
        z.refine((arg) => !SBATCH_OWN.includes(arg.split('=')[0]), { message: `an option ptask sets itself (${SBATCH_OWN.filter((o) => o.startsWith('--')).join(', ')})` }),
      ),
    ),
    'More sbatch options, each one argument ("--account=x", "--qos=low").',
  ),
});
export type SlurmOptions = z.infer<typeof slurmOptionsSchema>;
export const EXECUTORS = ['local', 'slurm'] as const;
const executor = optional(z.enum(EXECUTORS), 'Where the step runs: "local" (this machine, the default) or "slurm" (as Slurm jobs; a forEach step is one job array).');

export const stepSchema = z.strictObject({
  id: z.string().check(z.regex(STEP_ID_PATTERN, 'a step id: letters, digits, ".", "_" or "-", at most 64, starting with a letter or digit')),
  name: optional(z.string(), 'A label for people; the id is used when absent.'),
  run: described(z.string().check(z.minLength(1, 'a shell command')), "Shell command, run with /bin/sh -c in the step's cwd."),
  // ".." is checked with the task's cwd, in the definition.
  cwd: optional(relativePath("the task's cwd", 'checked later'), "Folder to run in, relative to the task's cwd."),
  env: optional(envMap, 'Environment variables added for this step.'),
  timeout: optional(duration, 'Longest time one attempt may take, e.g. "10m".'),
  retries: optional(z.int().check(z.minimum(0), z.maximum(100)), 'Extra attempts after a failure (default 0).'),
  retryDelay: optional(duration, 'Delay before the first retry (default "1s"); doubles at each retry.'),
  forEach: optional(forEachSchema, 'Run the step once per item, with ITEM and ITEM_INDEX in its environment.'),
  concurrency: optional(
    z.int('a whole number').check(z.minimum(1, 'at least 1'), z.maximum(MAX_CONCURRENCY, `at most ${MAX_CONCURRENCY}`)),
    'How many items run at once (default 1); needs forEach.',
  ),
  continueOnError: optional(z.boolean(), 'Run the other items when one fails; the step still fails at the end, and resume retries just the failed items. Needs forEach.'),
  allowEmpty: optional(z.boolean(), 'Let the step complete when its forEach finds no items (default false: no items fails the step, saying why). Needs forEach.'),
  executor,
  slurm: optional(slurmOptionsSchema, "Slurm options for this step, over the task's."),
  needs: optional(
    z.array(z.string().check(z.minLength(1, 'a step id'))),
    'The steps this one needs: it runs once they are all done. Without it, a step needs the one before it; [] needs none.',
  ),
  inputs: optional(
    z.array(globPattern.check(z.minLength(1, 'a file or a pattern'), z.superRefine((p, ctx) => { const problem = leavingProblem(p, "the step's folder", 'any'); if (problem) ctx.addIssue({ code: 'custom', message: problem, input: p }); }))),
    "Files the step reads (paths or patterns, relative to its folder): while their contents, its command and its environment are unchanged since it last succeeded, and its outputs exist, it is up to date and does not run again.",
  ),
  outputs: optional(
    z.array(relativePath("the step's folder", 'any').check(z.minLength(1, 'a path'))),
    "Files or folders the step makes (relative to its folder): it is up to date only while they all exist.",
  ),
}).check(
  z.superRefine((step, ctx) => {
    if (step.forEach) return;
    for (const key of ['concurrency', 'continueOnError', 'allowEmpty'] as const)
      if (step[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies only to a step with forEach`, input: step[key] });
  }),
);

const outputPattern = z.string().check(
  z.minLength(1, 'a text or a /regular expression/'),
  z.superRefine((pattern, ctx) => {
    const problem = outputPatternProblem(pattern);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: pattern });
  }),
);

/** How Slurm may end a job element without the element saying how (see squeue's job states). */
export const SLURM_END_STATES = ['BOOT_FAIL', 'CANCELLED', 'DEADLINE', 'FAILED', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'TIMEOUT'] as const;

export const pauseOnSchema = z
  .strictObject({
    exitCodes: optional(z.array(z.int().check(z.minimum(1, 'an exit code of a failure (1-255)'), z.maximum(255, 'an exit code (1-255)'))), 'Exit codes that pause the task instead of failing it.'),
    outputMatches: optional(
      z.array(outputPattern),
      'A failed attempt whose output (stdout or stderr) has a line containing one of these (case-insensitive) or matching a /regular expression/ pauses the task.',
    ),
    slurmStates: optional(
      z.array(z.enum(SLURM_END_STATES)),
      'Slurm ends that pause the task instead of failing it, e.g. ["PREEMPTED", "NODE_FAIL"] (a job element Slurm ended before it could say how).',
    ),
    autoResume: optional(
      z.strictObject({
        after: described(duration, 'Wait before the first automatic resume, e.g. "5m".'),
        backoff: optional(z.number().check(z.minimum(1, 'at least 1'), z.maximum(100, 'at most 100')), 'Each further wait is this many times longer (default 2).'),
        maxAttempts: optional(z.int().check(z.minimum(1, 'at least 1'), z.maximum(1000, 'at most 1000')), 'Automatic resumes without progress before the task fails (default 5).'),
      }),
      'Resume by itself after a growing delay.',
    ),
  })
  .check(
    z.superRefine((pauseOn, ctx) => {
      if (!pauseOn.exitCodes?.length && !pauseOn.outputMatches?.length && !pauseOn.slurmStates?.length)
        ctx.addIssue({ code: 'custom', message: 'say which failures pause the task: exitCodes, outputMatches, slurmStates or several', input: pauseOn });
    }),
  );
export type PauseOn = z.infer<typeof pauseOnSchema>;

export const definitionSchema = z
  .strictObject({
    $schema: optional(z.string()),
    name: optional(z.string(), 'A label for people; the file name is the task id.'),
    description: optional(z.string()),
    cwd: optional(relativePath('the workspace folder'), 'Folder the steps run in, relative to the workspace folder (default ".").'),
    env: optional(envMap, 'Environment variables added for every step.'),
    steps: z.array(stepSchema).check(
      z.minLength(1, 'a task needs at least one step'),
      z.maxLength(MAX_STEPS, {
        error: (issue) => `too many steps (${(issue.input as unknown[]).length}; at most ${MAX_STEPS}): a step with forEach runs one command for many items`,
      }),
    ),
    pauseOn: optional(pauseOnSchema, 'Failures that pause the task instead of failing it (a rate limit, an API out of credit).'),
    executor,
    slurm: optional(slurmOptionsSchema, 'Slurm options for every step that runs on Slurm.'),
    concurrency: optional(
      z.int('a whole number').check(z.minimum(1, 'at least 1'), z.maximum(MAX_CONCURRENCY, `at most ${MAX_CONCURRENCY}`)),
      'How many steps run at once, of those whose needs are done (default 1).',
    ),
  })
  .check(
    z.superRefine((def, ctx) => {
      const seen = new Map<string, number>();
      def.steps.forEach((step, index) => {
        // Case-insensitive: step ids name log files, and macOS and Windows file systems ignore case.
        const key = step.id.toLowerCase();
        const first = seen.get(key);
        if (first !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['steps', index, 'id'], message: `duplicate step id "${step.id}" (also steps[${first}])`, input: step.id });
        } else seen.set(key, index);
        // Each cwd alone stays inside; together they must too ("sub" then "../..").
        if (step.cwd !== undefined && !path.posix.isAbsolute(step.cwd)) {
          const problem = leavingProblem(path.posix.join(def.cwd ?? '.', step.cwd), 'the workspace folder');
          if (problem) ctx.addIssue({ code: 'custom', path: ['steps', index, 'cwd'], message: `${problem}, with the task's cwd ${JSON.stringify(def.cwd ?? '.')}`, input: step.cwd });
        }
      });
      if (seen.size === def.steps.length)
        for (const problem of graphProblems(def.steps)) ctx.addIssue({ code: 'custom', path: ['steps', problem.index, 'needs'], message: problem.message, input: def.steps[problem.index].needs });
    }),
  );

export type TaskDefinition = z.infer<typeof definitionSchema>;
export type StepDefinition = z.infer<typeof stepSchema>;

/** The states a runner writes; "idle" (no run yet) and "lost" (runner gone) are derived by readers. */
export const RUNNER_STATES = ['running', 'pausing', 'paused', 'interrupting', 'interrupted', 'completed', 'failed'] as const;
export type RunnerStatus = (typeof RUNNER_STATES)[number];

export const progressSchema = z.object({ done: count(), total: count() });

/** A process group of the step in flight: the next runner stops it if this one dies. */
/** `startedAt`: when the item started (ms since the epoch), for the picture of the run. */
const processSchema = z.object({ pid: int(), pidStartTime: optional(z.string()), item: optional(count()), startedAt: optional(z.number()) });

const itemCountsSchema = z.object({ done: count(), total: count(), failed: count(), running: count(), skipped: optional(count()) });

/** One Slurm job (an array) of the step in flight: its elements by state; `reason`, why some wait (squeue's). */
export const slurmJobSchema = z.object({ jobId: z.string(), step: z.string(), pending: count(), running: count(), held: count(), reason: optional(z.string()) });
export type SlurmJobView = z.infer<typeof slurmJobSchema>;

const currentStepSchema = z.object({
  id: z.string(),
  index: count(),
  attempt: z.int().check(z.positive()),
  startedAt: isoTime,
  pid: optional(int()),
  pidStartTime: optional(z.string()),
  progress: optional(progressSchema),
  /** A forEach step: its items, and the process group of each item in flight. */
  items: optional(itemCountsSchema),
  processes: optional(z.array(processSchema)),
});
export type CurrentStep = z.infer<typeof currentStepSchema>;

export const stateSchema = z.looseObject({
  v: z.literal(1),
  taskId: z.string(),
  runId: z.string(),
  status: z.enum(RUNNER_STATES),
  pid: int(),
  host: z.string(),
  startedAt: isoTime,
  updatedAt: isoTime,
  heartbeatAt: isoTime,
  stepsTotal: count(),
  stepsDone: count(),
  /** A step in flight (the first defined, when the graph runs several at once: the others are in alsoRunning). */
  currentStep: z.nullable(currentStepSchema),
  alsoRunning: optional(z.array(currentStepSchema)),
  appliedSeq: count(),
  appliedGlobalSeq: count(),
  /** "failure": a failure matched pauseOn; "disk": a file of the run could not be written (a full disk). */
  pausedBy: optional(z.enum(['user', 'global', 'signal', 'step', 'failure', 'disk'])),
  reason: optional(z.string()),
  /** Paused by a failure under pauseOn.autoResume: when it resumes (by its live runner, or whoever honours it if that runner died). */
  resumeAt: optional(isoTime),
  /** Which automatic resume resumeAt is, of how many. */
  autoResume: optional(z.object({ attempt: z.int().check(z.positive()), maxAttempts: z.int().check(z.positive()) })),
  endedAt: optional(isoTime),
  /** The hash of the definition this runner runs (its frozen copy): an edit meanwhile takes effect on the next run. */
  definitionHash: optional(z.string()),
  /** Attempts this runner took over from the lost runner before it: still running then, or ended while no runner watched. */
  adopted: optional(z.object({ running: count(), ended: count() })),
  /** The step a run that did not complete stopped in, and a forEach step's items then: shown while no runner runs. */
  stoppedIn: optional(z.object({ id: z.string(), index: count(), items: optional(itemCountsSchema) })),
  /** The Slurm jobs of the step in flight, as squeue last showed them. */
  slurm: optional(z.array(slurmJobSchema)),
});
export type RunnerState = z.infer<typeof stateSchema>;

/** Every step in flight, in the order they are defined. */
export const runningSteps = (state: Pick<RunnerState, 'currentStep' | 'alsoRunning'> | undefined): CurrentStep[] =>
  state?.currentStep ? [state.currentStep, ...(state.alsoRunning ?? [])] : [];

export const DESIRED_STATES = ['running', 'paused', 'interrupted'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

export const controlSchema = z.strictObject({
  v: z.literal(1),
  seq: count(),
  desired: z.enum(DESIRED_STATES),
  requestedAt: isoTime,
  requestedBy: z.string(),
});
export type Control = z.infer<typeof controlSchema>;

export const globalControlSchema = z.strictObject({
  v: z.literal(1),
  seq: count(),
  desired: z.enum(['running', 'paused']),
  requestedAt: isoTime,
  requestedBy: z.string(),
});
export type GlobalControl = z.infer<typeof globalControlSchema>;

export const lockSchema = z.strictObject({
  v: z.literal(1),
  pid: z.int().check(z.positive()),
  /** The process's start time as the OS reports it: tells a live owner from a reused pid. */
  startTime: z.string(),
  host: z.string(),
  acquiredAt: isoTime,
  /** "edit": a controller changing an item of the run (skip-item, retry-item). */
  purpose: z.enum(['run', 'reset', 'edit']),
});
export type RunnerLock = z.infer<typeof lockSchema>;

export const completedStepSchema = z.object({
  id: z.string(),
  index: count(),
  exitCode: int(),
  /** 0 for a step found up to date: it did not run. */
  attempts: count(),
  startedAt: isoTime,
  endedAt: isoTime,
  durationMs: z.number().check(z.nonnegative()),
  outputs: optional(z.record(z.string(), z.unknown())),
  /** Not run: its command, environment and inputs were as when it last succeeded, and its outputs there (the time of that success). */
  upToDate: optional(isoTime),
  /** A forEach step: how many items it ran. */
  items: optional(count()),
  /** Of them, how many a person skipped (`ptask skip-item`): not run, yet the step completed. */
  skipped: optional(count()),
});
export type CompletedStep = z.infer<typeof completedStepSchema>;

export const STOP_OUTCOMES = ['interrupted', 'paused', 'failed', 'timed-out'] as const;

/** The step that was started but did not complete: what resume runs again. */
export const unfinishedStepSchema = z.object({
  id: z.string(),
  index: count(),
  attempts: count(),
  startedAt: optional(isoTime),
  endedAt: optional(isoTime),
  outcome: z.enum(STOP_OUTCOMES),
  exitCode: optional(z.nullable(int())),
  signal: optional(z.nullable(z.string())),
  error: optional(z.string()),
  /** The step's own saved progress (TASK_STEP_STATE): parsed JSON, or raw text when not JSON. */
  state: optional(z.unknown()),
  stateText: optional(z.string()),
  /** A state too big to copy into every snapshot: kept by reference, in its file under steps/ (this many bytes). */
  stateBytes: optional(count()),
});
export type UnfinishedStep = z.infer<typeof unfinishedStepSchema>;

const savedStateSchema = z.object({ state: optional(z.unknown()), stateText: optional(z.string()), stateBytes: optional(count()) });

export const failedItemSchema = z.object({ index: count(), item: z.string(), attempts: count(), error: z.string(), endedAt: optional(isoTime) });
export type FailedItem = z.infer<typeof failedItemSchema>;

/**
 * A forEach step in progress: its item list, resolved when the step first started and frozen
 * here, the items done (index ranges, "0-99,120") and the items that failed. Resume runs the rest.
 */
export const batchSchema = z
  .object({
    stepId: z.string(),
    /** The definition's forEach this list was resolved from. */
    source: z.unknown(),
    resolvedAt: isoTime,
    total: count(),
    done: z.string(),
    failed: z.array(failedItemSchema),
    /** Items a person skipped (`ptask skip-item`), as ranges: they count as settled, not done. */
    skipped: optional(z.string()),
    /** TASK_STEP_STATE of items that stopped part way (paused, interrupted), by index. */
    states: optional(z.record(z.string(), savedStateSchema)),
    /** The list, when it is small; a large one is in items/<itemsFile>, frozen once, so that snapshots stay small. */
    items: optional(z.array(z.string())),
    itemsFile: optional(z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.json$/, 'a file name in the run folder\'s items/'))),
  })
  .check(
    z.superRefine((batch, ctx) => {
      if ((batch.items === undefined) === (batch.itemsFile === undefined)) ctx.addIssue({ code: 'custom', path: ['items'], message: 'needs either items or itemsFile', input: batch.items });
      if (batch.items && batch.total !== batch.items.length) ctx.addIssue({ code: 'custom', path: ['total'], message: `is ${batch.total} but there are ${batch.items.length} items`, input: batch.total });
      for (const key of ['done', 'skipped'] as const) {
        try {
          if (batch[key] !== undefined) parseRanges(batch[key], batch.total);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: [key], message: (err as Error).message, input: batch[key] });
        }
      }
      for (const [i, f] of batch.failed.entries())
        if (f.index >= batch.total) ctx.addIssue({ code: 'custom', path: ['failed', i, 'index'], message: 'is beyond the last item', input: f.index });
    }),
  );
export type BatchCheckpoint = z.infer<typeof batchSchema>;

/** items/<step>.json: a frozen item list too large for the snapshots. */
export const itemListSchema = z.array(z.string());

/** Why the task paused on a failure (pauseOn), and where its automatic resumes stand. */
export const failurePauseSchema = z.object({
  reason: z.string(),
  at: isoTime,
  /** Automatic resumes already made without progress since; the resume of this pause is the next. */
  autoResumes: count(),
  resumeAt: optional(isoTime),
});
export type FailurePause = z.infer<typeof failurePauseSchema>;

/** `definition-changed`: a resume goes on under a changed definition (forced, or tuned); written before any step runs. */
export const CHECKPOINT_REASONS = ['started', 'items-resolved', 'compaction', 'paused', 'interrupted', 'completed', 'failed', 'definition-changed'] as const;

export const checkpointSchema = z.object({
  v: z.literal(1),
  taskId: z.string(),
  runId: z.string(),
  reason: z.enum(CHECKPOINT_REASONS),
  writtenAt: isoTime,
  definitionHash: z.string(),
  /** The definition this run started from, secret-looking env values masked: lets resume say what changed. */
  definition: z.unknown(),
  /** Journal entries up to this sequence number are folded into this document. */
  journalSeq: count(),
  completed: z.array(completedStepSchema),
  unfinished: z.nullable(unfinishedStepSchema),
  /** Other steps a graph left unfinished at once (unfinished is the first, or the one the run stopped for). */
  alsoUnfinished: optional(z.array(unfinishedStepSchema)),
  failurePause: optional(failurePauseSchema),
  batch: optional(z.nullable(batchSchema)),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

/** Every step a checkpoint leaves unfinished. */
export const unfinishedSteps = (cp: Pick<Checkpoint, 'unfinished' | 'alsoUnfinished'>): UnfinishedStep[] => (cp.unfinished ? [cp.unfinished, ...(cp.alsoUnfinished ?? [])] : []);

const seq = z.int().check(z.positive());
export const journalEntrySchema = z.discriminatedUnion('type', [
  z.object({ seq, type: z.literal('step-completed'), step: completedStepSchema }),
  z.object({ seq, type: z.literal('item-done'), stepId: z.string(), index: count() }),
  z.object({ seq, type: z.literal('item-failed'), stepId: z.string(), index: count(), attempts: count(), error: z.string(), endedAt: isoTime }),
  /** Written by a controller while no runner runs (`ptask skip-item`, `retry-item`): skipped, or to run again from its first attempt. */
  z.object({ seq, type: z.literal('item-skipped'), stepId: z.string(), index: count(), by: z.string(), at: isoTime }),
  z.object({ seq, type: z.literal('item-reset'), stepId: z.string(), index: count(), by: z.string(), at: isoTime }),
]);
export type JournalEntry = z.infer<typeof journalEntrySchema>;
type WithoutSeq<T> = T extends unknown ? Omit<T, 'seq'> : never;
/** An entry as the writer is given it, before it is numbered. */
export type JournalRecord = WithoutSeq<JournalEntry>;

function maskEnv(env: Record<string, string> | undefined) {
  if (!env) return env;
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, isSecretName(k) ? MASK : v]));
}

/**
 * The definition as it may be written to disk by the tools: secret-looking env values masked, and
 * masked too wherever else they appear (a `run` line that spells one out).
 */
export function publicDefinition(def: TaskDefinition): TaskDefinition {
  const masked = { ...def, env: maskEnv(def.env), steps: def.steps.map((s) => ({ ...s, env: maskEnv(s.env) })) };
  return redactDeep(masked, redactor(secretValues(def)));
}

/**
 * How a step runs, not what it does: a change to these takes effect on resume, without `--force`.
 * (Tuning a step that failed for want of retries or time is the usual reason to resume it; on
 * Slurm, for want of memory or time: `slurm`, the task's too.)
 */
export const TUNING_FIELDS = ['concurrency', 'timeout', 'retries', 'retryDelay', 'slurm'] as const;

/**
 * A stable hash of what the definition does: labels, `$schema`, key order and the tuning fields do
 * not count. "v2:" tells it from the hashes of earlier versions, which counted the tuning fields.
 */
export function definitionHash(def: TaskDefinition): string {
  return `v2:${hashOf(def, TUNING_FIELDS)}`;
}

/** Is `stored` (a checkpoint's) the hash of `def`? Hashes written before v2 are compared as they were made. */
export function sameDefinition(stored: string, def: TaskDefinition): boolean {
  return stored === (stored.startsWith('v2:') ? definitionHash(def) : hashOf(def, []));
}

function hashOf(def: TaskDefinition, ignored: readonly string[]): string {
  const { $schema: _schema, name: _name, description: _description, ...all } = def;
  const rest = Object.fromEntries(Object.entries(all).filter(([key]) => !ignored.includes(key))) as typeof all;
  const steps = rest.steps.map(({ name: _stepName, ...step }) => Object.fromEntries(Object.entries(step).filter(([key]) => !ignored.includes(key))));
  return createHash('sha256').update(stableStringify({ ...rest, steps })).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted: equal values give equal text. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
