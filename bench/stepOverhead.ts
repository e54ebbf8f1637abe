/**
 * Benchmark 1, step overhead: a task of N trivial steps (`true`) run by `ptask run` in the
 * foreground, wall time from spawn to exit, against bench/baselineLoop.mjs spawning the same N
 * commands the same way from its own node process. Rounds alternate which goes first; the
 * figure is median(runner) / median(baseline). Also: a one-step task against one spawn, which
 * is the fixed cost of starting the runner (loading the bundle, reading files, the lock). And,
 * from one more run of each with bench/spawnTimeline.cjs preloaded, where a step's time goes:
 * the spawn() call, the child running, and the gap from one step's end to the next spawn.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log, makeWorkspace, median, QUICK, REPO, round, RUNNER, steps, timeProcess, writeTask, type BenchResult } from './lib';

const BASELINE = path.join(__dirname, 'baselineLoop.mjs');
const TIMELINE = path.join(__dirname, 'spawnTimeline.cjs');

interface Timeline {
  steps: number;
  spawnCallMs: number;
  childRunMs: number;
  betweenStepsMs: number;
  firstSpawnAtMs: number;
  afterLastStepMs: number;
  rssMiB: number;
}

/** One run of each with the spawn timeline preloaded (its numbers, not its wall time, are used). */
async function timelines(count: number): Promise<{ runner: Timeline; baseline: Timeline }> {
  const ws = makeWorkspace('timeline');
  try {
    writeTask(ws, 'trivial', steps(count, 'true'));
    const file = (who: string) => path.join(ws.scratch, `${who}.timeline.json`);
    await timeProcess(process.execPath, ['-r', TIMELINE, BASELINE, String(count), path.join(ws.scratch, 'baseline.log')], 0, REPO, { BENCH_SPAWN_TIMELINE: file('baseline') });
    // The runner's own spawn() path: with slots it spawns only its slots (side-by-side times both).
    await timeProcess(process.execPath, ['-r', TIMELINE, RUNNER, 'run', 'trivial', '--root', ws.root], 0, REPO, { BENCH_SPAWN_TIMELINE: file('runner'), PTASK_EXECUTOR: 'local' });
    const read = (who: string) => JSON.parse(fs.readFileSync(file(who), 'utf8')) as Timeline;
    return { runner: read('runner'), baseline: read('baseline') };
  } finally {
    ws.cleanup();
  }
}

const roundTimeline = (t: Timeline) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, round(v, 3)]));
const TARGET = 1.25;

async function pair(count: number, rounds: number, label: string): Promise<{ runner: number[]; baseline: number[] }> {
  const runner: number[] = [];
  const baseline: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const ws = makeWorkspace('overhead');
    writeTask(ws, 'trivial', steps(count, 'true'));
    const runBaseline = async () => baseline.push(await timeProcess(process.execPath, [BASELINE, String(count), path.join(ws.scratch, 'baseline.log')]));
    const runRunner = async () => runner.push(await timeProcess(process.execPath, [RUNNER, 'run', 'trivial', '--root', ws.root]));
    if (r % 2 === 0) {
      await runBaseline();
      await runRunner();
    } else {
      await runRunner();
      await runBaseline();
    }
    log(`${label} round ${r + 1}/${rounds}: runner ${runner[r].toFixed(0)} ms, baseline ${baseline[r].toFixed(0)} ms`);
    ws.cleanup();
  }
  return { runner, baseline };
}

export async function stepOverhead(): Promise<BenchResult> {
  const count = QUICK ? 200 : 1000;
  const rounds = QUICK ? 1 : 3;
  const startupRounds = QUICK ? 1 : 5;
  const main = await pair(count, rounds, `${count} steps`);
  const one = await pair(1, startupRounds, '1 step');
  const where = await timelines(count);

  const runnerMs = median(main.runner);
  const baselineMs = median(main.baseline);
  const ratio = runnerMs / baselineMs;
  const startupMs = median(one.runner) - median(one.baseline);
  const perStepExtra = (runnerMs - baselineMs - startupMs) / count;
  return {
    id: 'step-overhead',
    title: `${count.toLocaleString('en')} trivial steps: runner / plain spawn loop`,
    headline: `${round(ratio)}x (${round(runnerMs / 1000, 2)} s vs ${round(baselineMs / 1000, 2)} s)`,
    target: `≤ ${TARGET}x`,
    met: ratio <= TARGET,
    details: {
      steps: count,
      rounds,
      ratio: round(ratio, 3),
      runnerMs: main.runner.map((x) => round(x, 1)),
      baselineMs: main.baseline.map((x) => round(x, 1)),
      runnerMedianMs: round(runnerMs, 1),
      baselineMedianMs: round(baselineMs, 1),
      perRoundRatio: main.runner.map((x, i) => round(x / main.baseline[i], 3)),
      perStepMs: { runner: round(runnerMs / count, 3), baseline: round(baselineMs / count, 3), extra: round(perStepExtra, 3) },
      timeline: { runner: roundTimeline(where.runner), baseline: roundTimeline(where.baseline) },
      oneStep: { runnerMs: one.runner.map((x) => round(x, 1)), baselineMs: one.baseline.map((x) => round(x, 1)), extraStartupMs: round(startupMs, 1) },
    },
    notes: [
      `per step: runner ${round(runnerMs / count, 2)} ms, baseline ${round(baselineMs / count, 2)} ms, ` +
        `so ${round(perStepExtra, 2)} ms of the runner's own work a step on top of ${round(startupMs, 0)} ms more start-up (a 1-step task against 1 spawn)`,
      `where a step's time goes (ms, runner vs baseline, one instrumented run each): spawn() call ${round(where.runner.spawnCallMs)} vs ${round(where.baseline.spawnCallMs)} ` +
        `(fork + exec; RSS ${round(where.runner.rssMiB, 0)} vs ${round(where.baseline.rssMiB, 0)} MiB), child running ${round(where.runner.childRunMs)} vs ${round(where.baseline.childRunMs)}, ` +
        `one step's end to the next spawn ${round(where.runner.betweenStepsMs)} vs ${round(where.baseline.betweenStepsMs)}; ` +
        `process start to first spawn ${round(where.runner.firstSpawnAtMs, 0)} vs ${round(where.baseline.firstSpawnAtMs, 0)}`,
    ],
  };
}
