/** A plain step: its attempts, then its commit (outputs handed on, its state file gone), or why the run stops here. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompletedStep, StepDefinition, UnfinishedStep } from '../protocol/schemas';
import { PAUSE_EXIT_CODE, runAttempts } from './attemptLoop';
import type { RunContext, Stop } from './context';
import { parseProgress } from './lines';
import type { AttemptSpec } from './executor';
import { STATE_THROTTLE_MS } from './statePublisher';
import { chainLane, startIfDeclined } from './stepQueue';
import { readOutputs, readStepState, removeIfThere, restoreStepState, stepFiles } from './stepFiles';

/** An attempt of a plain step as it is started, or sent ahead (stepQueue.ts); `startedAt` is in its log header. */
export function stepAttemptSpec(ctx: RunContext, step: StepDefinition, index: number, attempt: number, startedAt: string): AttemptSpec {
  const files = stepFiles(ctx.paths, step);
  const slurm = ctx.slurmSpec(step, 1);
  return {
    command: step.run,
    cwd: ctx.stepFolder(step),
    env: ctx.stepEnv(step, index, { TASK_STEP_ATTEMPT: String(attempt), TASK_STEP_OUTPUT: files.output, TASK_STEP_STATE: files.state }),
    logFile: files.log,
    ...(ctx.logReuse ? { logReuse: path.join(ctx.logReuse, path.basename(files.log)) } : {}),
    logHeader: `=== ${step.id} attempt ${attempt} · ${startedAt} · run ${ctx.runId} ===\n`,
    identity: [`TASK_PAUSE_REQUESTED=${ctx.paths.pauseRequested}`, `TASK_STEP_ID=${step.id}`],
    record: { key: step.id, attempt },
    slurm,
    // In a slot, the step after it may be queued behind it and start as it ends: its end is then durable first.
    ...(slurm ? {} : { lane: chainLane(step.id, attempt), durableEnd: true }),
  };
}

/** Runs a step through its attempts; a Stop when the run ends here, undefined when it completed. */
export async function runStep(ctx: RunContext, step: StepDefinition, index: number): Promise<Stop | undefined> {
  const files = stepFiles(ctx.paths, step);
  const previous = ctx.unfinishedOf(step.id);
  if (previous && !fs.existsSync(files.state) && !ctx.tryWrite(() => restoreStepState(files.state, previous), files.state)) return { kind: 'paused', unfinished: previous };
  const startedAt = new Date().toISOString();
  const began = performance.now();
  const policy = ctx.attemptPolicy(step);
  const host = { ...ctx.loopHost, onRetry: (n: number, reason: string, delay: number) => ctx.reporter.info(`↻ ${step.id}: ${reason}; retrying in ${delay}ms (${n}/${policy.retries} retries used)`) };
  // Attempts count across runs: a resume after a failure or an interrupt goes on from there.
  const before = previous?.attempts ?? 0;
  const settled = await runAttempts(policy, host, (n, watch) => {
    const attempt = before + n;
    // Sent ahead behind the step before it (stepQueue.ts): its first attempt may have started already.
    const queued = n === 1 ? ctx.takeQueued(step.id) : undefined;
    // An adopted attempt's output is its own: it may have written it already (a queued one's was removed as it was sent).
    if (!queued && !ctx.isAdopted(step.id)) removeIfThere(files.output);
    const attemptStart = new Date().toISOString();
    ctx.setCurrent({ id: step.id, index, attempt, startedAt: attemptStart });
    const onLine = (line: string) => {
      watch?.onLine(line);
      const progress = parseProgress(line);
      const current = progress && ctx.currentOf(step.id);
      if (!current) return;
      ctx.setCurrent({ ...current, progress });
      ctx.publisher.save(STATE_THROTTLE_MS);
    };
    // With its pid, so that the next runner can stop it if this one is killed.
    const onStarted = (pid: number) => {
      const current = ctx.currentOf(step.id);
      if (current?.attempt !== attempt) return;
      ctx.setCurrent({ ...current, pid });
      ctx.publisher.save(STATE_THROTTLE_MS);
    };
    // ::progress counts on stdout and stderr alike (a slot hands both on as one stream).
    const start = () => ctx.startAttempt({ ...stepAttemptSpec(ctx, step, index, attempt, attemptStart), onStarted, onStdoutLine: onLine, onStderrLine: onLine });
    // Sent to an idle slot: never declined (a slot declines only what was queued behind another).
    if (!queued) return start();
    // Declined by its slot (the step before wrote outputs, a control file was written): it starts
    // now, with the environment as it is now; or, when the run is no longer running, on resume.
    // Declined for a control file written since it was sent: the runner has not looked since, maybe.
    // Started again in a lane of its own (chainLane), not its queue's: the steps declined behind it
    // are still in that queue, and what the queue sent next would be queued behind this one, before them.
    return startIfDeclined(queued.take(onLine, onStarted), start, () => (ctx.control.look(), ctx.control.running));
  });
  const attempts = before + settled.attempt;
  const unfinished = (outcome: UnfinishedStep['outcome'], extra: Partial<UnfinishedStep> = {}): UnfinishedStep => ({
    id: step.id,
    index,
    attempts,
    startedAt,
    endedAt: new Date().toISOString(),
    outcome,
    ...extra,
    ...readStepState(files.state, previous),
  });
  const failed = (record: UnfinishedStep, reason: string): Stop => ({ kind: 'failed', unfinished: record, reason: `step '${step.id}' failed: ${reason}` });

  switch (settled.kind) {
    case 'interrupted':
      return { kind: 'interrupted', unfinished: unfinished('interrupted') };
    case 'pausedInside':
      // The step saw TASK_PAUSE_REQUESTED, saved its state and stopped: paused inside the step.
      return { kind: 'paused', unfinished: unfinished('paused', settled.held ? {} : { exitCode: PAUSE_EXIT_CODE }) };
    case 'succeeded': {
      const outputs = readOutputs(files.output);
      if (typeof outputs === 'string') return failed(unfinished('failed', { exitCode: 0, error: outputs }), outputs);
      // A step that ran once, sent ahead to its slot, may be heard of with its end, up to 50 ms
      // later (reports are held): its slot's times are its own, not when the runner got to it.
      const own = settled.attempt === 1 ? settled.times : undefined;
      const completed: CompletedStep = {
        id: step.id,
        index,
        exitCode: 0,
        attempts,
        startedAt: own ? new Date(own.started).toISOString() : startedAt,
        endedAt: new Date(own?.ended ?? Date.now()).toISOString(),
        durationMs: own ? own.ended - own.started : Math.round(performance.now() - began),
        ...(outputs ? { outputs } : {}),
      };
      // Its slot synced its end record: with no outputs (which only the journal holds), that record is its durable commit.
      if (!(await ctx.commitStep(completed, files, settled.synced && !outputs))) {
        const why = ctx.log.failure?.message ?? 'its commit could not be written';
        return { kind: 'paused', unfinished: unfinished('paused', { exitCode: 0, error: `it completed, but ${why}: it runs again on resume` }) };
      }
      ctx.reporter.info(`✓ ${step.id} (${index + 1}/${ctx.def.steps.length}) in ${completed.durationMs}ms`);
      return undefined;
    }
    case 'declined':
      throw new Error(`step '${step.id}' was declined when sent to an idle slot, which declines only what was queued`);
    default: {
      const { end, reason } = settled;
      const outcome = end.kind === 'timed-out' ? 'timed-out' : 'failed';
      const exit = { exitCode: end.kind === 'exited' ? end.exitCode : null, signal: end.kind === 'exited' ? end.signal : null };
      if (settled.kind === 'pauseOn') {
        const why = `step '${step.id}' failed: ${reason}; ${settled.why}`;
        return ctx.pauseOnFailure(unfinished(outcome, { ...exit, error: why }), why);
      }
      if (settled.kind === 'failed') return failed(unfinished(outcome, { ...exit, error: reason }), reason);
      // A pause or an interrupt came during the retry delay: the step runs again on resume.
      const left = unfinished(outcome, { ...exit, error: reason });
      return ctx.control.pausing ? { kind: 'paused', unfinished: left } : { kind: 'interrupted', unfinished: left };
    }
  }
}
