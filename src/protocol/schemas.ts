/**
 * The zod schemas of every file in `.tasks/`, shared by the runner, the CLI and the extension.
 * Files written by people (definitions, control) are strict: an unknown field is a typo.
 * Files written by the tools tolerate extra fields so that an older reader survives a newer writer.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { DURATION_PATTERN } from './duration';

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

export const stepSchema = z.strictObject({
  id: z.string().check(z.regex(STEP_ID_PATTERN, 'a step id: letters, digits, ".", "_" or "-", at most 64, starting with a letter or digit')),
  name: optional(z.string(), 'A label for people; the id is used when absent.'),
  run: described(z.string().check(z.minLength(1, 'a shell command')), "Shell command, run with /bin/sh -c in the step's cwd."),
  cwd: optional(z.string(), "Folder to run in, relative to the task's cwd."),
  env: optional(envMap, 'Environment variables added for this step.'),
  timeout: optional(duration, 'Longest time one attempt may take, e.g. "10m".'),
  retries: optional(z.int().check(z.minimum(0), z.maximum(100)), 'Extra attempts after a failure (default 0).'),
  retryDelay: optional(duration, 'Delay before the first retry (default "1s"); doubles at each retry.'),
});

export const definitionSchema = z
  .strictObject({
    $schema: optional(z.string()),
    name: optional(z.string(), 'A label for people; the file name is the task id.'),
    description: optional(z.string()),
    cwd: optional(z.string(), 'Folder the steps run in, relative to the workspace folder (default ".").'),
    env: optional(envMap, 'Environment variables added for every step.'),
    steps: z.array(stepSchema).check(z.minLength(1, 'a task needs at least one step')),
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
      });
    }),
  );

export type TaskDefinition = z.infer<typeof definitionSchema>;
export type StepDefinition = z.infer<typeof stepSchema>;

/** The states a runner writes; "idle" (no run yet) and "lost" (runner gone) are derived by readers. */
export const RUNNER_STATES = ['running', 'pausing', 'paused', 'interrupting', 'interrupted', 'completed', 'failed'] as const;
export type RunnerStatus = (typeof RUNNER_STATES)[number];

export const progressSchema = z.object({ done: count(), total: count() });

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
  currentStep: z.nullable(
    z.object({
      id: z.string(),
      index: count(),
      attempt: z.int().check(z.positive()),
      startedAt: isoTime,
      pid: optional(int()),
      pidStartTime: optional(z.string()),
      progress: optional(progressSchema),
    }),
  ),
  appliedSeq: count(),
  appliedGlobalSeq: count(),
  pausedBy: optional(z.enum(['user', 'global', 'signal', 'step'])),
  reason: optional(z.string()),
  endedAt: optional(isoTime),
});
export type RunnerState = z.infer<typeof stateSchema>;

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
  purpose: z.enum(['run', 'reset']),
});
export type RunnerLock = z.infer<typeof lockSchema>;

export const completedStepSchema = z.object({
  id: z.string(),
  index: count(),
  exitCode: int(),
  attempts: z.int().check(z.positive()),
  startedAt: isoTime,
  endedAt: isoTime,
  durationMs: z.number().check(z.nonnegative()),
  outputs: optional(z.record(z.string(), z.unknown())),
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
});
export type UnfinishedStep = z.infer<typeof unfinishedStepSchema>;

export const CHECKPOINT_REASONS = ['started', 'compaction', 'paused', 'interrupted', 'completed', 'failed'] as const;

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
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

export const journalEntrySchema = z.object({
  seq: z.int().check(z.positive()),
  type: z.literal('step-completed'),
  step: completedStepSchema,
});
export type JournalEntry = z.infer<typeof journalEntrySchema>;

const SECRET_NAME = /TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL/i;
export const isSecretName = (name: string) => SECRET_NAME.test(name);

function maskEnv(env: Record<string, string> | undefined) {
  if (!env) return env;
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, isSecretName(k) ? '***' : v]));
}

/** The definition as it may be written to disk by the tools: secret-looking env values masked. */
export function publicDefinition(def: TaskDefinition): TaskDefinition {
  return { ...def, env: maskEnv(def.env), steps: def.steps.map((s) => ({ ...s, env: maskEnv(s.env) })) };
}

/** A stable hash of what the definition does: labels, `$schema` and key order do not count. */
export function definitionHash(def: TaskDefinition): string {
  const { $schema: _schema, name: _name, description: _description, ...rest } = def;
  const steps = rest.steps.map(({ name: _stepName, ...step }) => step);
  return createHash('sha256').update(stableStringify({ ...rest, steps })).digest('hex').slice(0, 16);
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
