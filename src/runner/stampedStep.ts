/**
 * A step that says its `inputs` or `outputs` (protocol/upToDate): committed as up to date when
 * none of the steps it needs ran in this run and its stamp matches, without running; otherwise
 * run with its stamp removed first (a failure or a crash leaves none) and stamped once its commit
 * is durable, with its inputs as they were when it started. Inputs are hashed without blocking:
 * the heartbeat and the control files go on meanwhile.
 */
import { needsOf } from '../protocol/graph';
import type { CompletedStep, StepDefinition } from '../protocol/schemas';
import { freshnessAsync, inputFilesAsync, removeStamp, stampKey, stampPath, writeStamp, type InputFiles } from '../protocol/upToDate';
import type { RunContext, Stop } from './context';
import { stepFiles } from './stepFiles';

export async function runStamped(ctx: RunContext, step: StepDefinition, index: number, run: () => Promise<Stop | undefined>, onUpToDate: () => void): Promise<Stop | undefined> {
  const folder = ctx.stepFolder(step);
  const done = new Map(ctx.log.current.completed.map((s) => [s.id, s]));
  const needsRan = needsOf(ctx.def.steps, index).some((n) => !done.get(n)?.upToDate);
  const fresh = needsRan ? undefined : await freshnessAsync(ctx.paths, ctx.def, step, folder, ctx.root);
  const paused: Stop = { kind: 'paused', unfinished: ctx.unfinishedOf(step.id) };
  if (fresh?.upToDate) {
    const now = new Date().toISOString();
    const { outputs, at } = fresh.stamp;
    const completed: CompletedStep = { id: step.id, index, exitCode: 0, attempts: 0, startedAt: now, endedAt: now, durationMs: 0, upToDate: at, ...(outputs ? { outputs } : {}) };
    if (!(await ctx.commitStep(completed, stepFiles(ctx.paths, step)))) return paused;
    ctx.reporter.info(`= ${step.id} (${index + 1}/${ctx.def.steps.length}) ${fresh.reason}`);
    onUpToDate();
    return undefined;
  }
  if (!ctx.tryWrite(() => removeStamp(ctx.paths, step.id), stampPath(ctx.paths, step.id))) return paused;
  let inputs: InputFiles | undefined;
  try {
    inputs = await inputFilesAsync(step, folder, ctx.root);
  } catch {
    inputs = undefined; // an input that cannot be read (gone meanwhile): the step runs, and is not stamped
  }
  const stop = await run();
  if (stop || !inputs) return stop;
  const outputs = ctx.log.current.completed.find((s) => s.id === step.id)?.outputs;
  const stamp = { v: 1 as const, key: stampKey(ctx.def, step), inputs, ...(outputs ? { outputs } : {}), at: new Date().toISOString() };
  // Not written (a full disk): the step runs again next time, which is safe.
  ctx.tryWrite(() => writeStamp(ctx.paths, step.id, stamp), stampPath(ctx.paths, step.id));
  return undefined;
}
