/**
 * Benchmark 3, pause latency: how long after the step in flight ends the task is paused on disk.
 * Each trial starts a runner (`ptask run`, then `ptask resume`) on a task whose steps sleep 200 ms
 * and then write their own end time (`date +%s%N`) just before they exit. Once state.json shows
 * the trial's step running, the bench writes control.json {desired: "paused"} as `ptask pause`
 * does, 10-60 ms later (always while the step runs), then watches state.json (fs.watch plus a
 * 1 ms poll) until it says "paused" with the request's seq applied. Latency = that moment - the
 * step's end (or the control write, were it later). It is split at the checkpoint's endedAt of
 * the step (when the runner saw the step end) into "noticing the end" and "committing and
 * writing the pause".
 */
import * as path from 'node:path';
import {
  between,
  distribution,
  endStampCommand,
  expectExit,
  log,
  makeWorkspace,
  QUICK,
  readCheckpoint,
  readStamp,
  readState,
  round,
  sleep,
  startRunner,
  waitFor,
  writeControl,
  writeTask,
  type BenchResult,
} from './lib';

const TARGET_P99_MS = 50;
const STEP_MS = 200;

export async function pauseLatency(): Promise<BenchResult> {
  const trials = QUICK ? 10 : 50;
  const ws = makeWorkspace('pause');
  const id = 'pausable';
  const stamp = (step: string) => path.join(ws.scratch, `${step}.end`);
  writeTask(
    ws,
    id,
    Array.from({ length: trials + 1 }, (_, i) => ({ id: `s${i + 1}`, run: `sleep ${STEP_MS / 1000}; ${endStampCommand(path.join(ws.scratch, '$TASK_STEP_ID.end'))}` })),
  );
  const latencies: number[] = [];
  const noticing: number[] = [];
  const committing: number[] = [];
  const toExit: number[] = [];
  const gaps: number[] = [];
  let lateWrites = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const step = `s${t + 1}`;
      const runner = startRunner(ws, t === 0 ? 'run' : 'resume', id);
      await waitFor(() => (readState(ws, id)?.currentStep?.id === step ? true : undefined), { timeoutMs: 10_000, watchDir: ws.runDir(id), intervalMs: 2, what: `step ${step} to start` });
      await sleep(between(10, 60));
      const control = writeControl(ws, id, 'paused');
      const paused = await waitFor(
        () => {
          const s = readState(ws, id);
          return s?.status === 'paused' && s.appliedSeq >= control.seq ? s : undefined;
        },
        { timeoutMs: 10_000, watchDir: ws.runDir(id), what: `'${id}' to be paused` },
      );
      const exit = await expectExit(runner, 2, `pause trial ${t + 1}`);
      await control.synced;
      gaps.push(paused.gapMs);
      const stepEnd = readStamp(stamp(step));
      const committed = readCheckpoint(ws, id)?.completed.find((c) => c.id === step);
      if (stepEnd === undefined || !committed) throw new Error(`pause trial ${t + 1}: step ${step} did not complete before the pause (end stamp ${stepEnd}, committed ${Boolean(committed)})`);
      if (control.at > stepEnd) lateWrites++;
      const from = Math.max(stepEnd, control.at);
      latencies.push(paused.at - from);
      // endedAt has 1 ms resolution: the split is approximate, the total is not.
      const seenEnd = Date.parse(committed.endedAt);
      noticing.push(seenEnd - stepEnd);
      committing.push(paused.at - seenEnd);
      toExit.push(exit.at - from);
    }
  } finally {
    ws.cleanup();
  }
  const d = distribution(latencies);
  log(`pause: p50 ${d.p50} ms, p99 ${d.p99} ms over ${trials} trials`);
  return {
    id: 'pause-latency',
    title: `Pause latency after the step in flight ends (${trials} trials)`,
    headline: `p50 ${d.p50} ms, p99 ${d.p99} ms`,
    target: `p99 ≤ ${TARGET_P99_MS} ms`,
    met: d.p99 <= TARGET_P99_MS,
    details: {
      trials,
      stepMs: STEP_MS,
      latencyMs: d,
      stepEndToRunnerEndedAtMs: distribution(noticing),
      runnerEndedAtToPausedMs: distribution(committing),
      stepEndToRunnerExitMs: distribution(toExit),
      controlWrittenAfterStepEnd: lateWrites,
      detectionGapMs: distribution(gaps),
    },
    notes: [
      `split at the checkpoint's endedAt (1 ms resolution): runner notices the step's end p50 ${round(distribution(noticing).p50, 1)} / p99 ${round(distribution(noticing).p99, 1)} ms, ` +
        `then commit + pause written p50 ${round(distribution(committing).p50, 1)} / p99 ${round(distribution(committing).p99, 1)} ms; ` +
        `runner process gone p50 ${distribution(toExit).p50} ms after the step's end; ` +
        `detection resolution (time between the last two polls) p99 ${distribution(gaps).p99} ms`,
    ],
  };
}
