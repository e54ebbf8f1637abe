/**
 * Benchmark 2, per-step cost as the checkpoint grows: one task of N+100 trivial steps; the cost
 * of a step is read back from the finished checkpoint (completed[].endedAt, one commit to the
 * next: spawn, wait, commit, state, control). The cost at 100 steps done (steps 101-200; steps
 * 1-100 also pay for the runner's JIT warm-up, so they are reported but not compared) against the
 * cost at N done (steps N+1..N+100). 3 runs; the median of the per-run ratios. The journal is folded into checkpoint.json now and then (compaction: an
 * O(steps done) write); the snapshots it leaves in checkpoints/ say after which step each came,
 * and the report says which windows hold one. Compactions grow further apart as the checkpoint
 * grows, so a 100-step window late in the run usually holds none and one early holds one. Hence
 * a second, amortised figure for each window: the window's steps without any compaction
 * interval, plus the cost of the last compaction before the window's end spread over the steps
 * to the next one (the run's observed next compaction, or when there is none in the run, the
 * gap since the previous one: pessimistic when they grow apart). And a third, pessimistic late
 * window: from the last compaction before it to its end, charging that whole compaction to
 * about a quarter of the steps it is amortised over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log, makeWorkspace, mean, median, QUICK, readCheckpoint, readJson, round, RUNNER, steps, timeProcess, writeTask, type BenchResult, type CheckpointFile, type CompletedStep } from './lib';

const TARGET = 1.2;
const WINDOW = 100;
/** Steps done before the early window: the first 100 also pay for the runner's JIT warm-up. */
const EARLY = 100;

interface Window {
  label: string;
  first: number;
  last: number;
  /** Mean ms a step: (end of step `last` - end of step `first - 1`) / steps. */
  meanMs: number;
  /** Median of the step-to-step intervals inside (1 ms resolution: endedAt is ISO). */
  medianMs: number;
  /** Compactions whose cost falls inside: after step k, paid in the interval up to step k+1. */
  compactionsAfterStep: number[];
  /** The mean without compaction intervals, plus the last compaction's cost spread to the next one. */
  amortisedMs: number;
  amortisedFrom?: { afterStep: number; extraMs: number; overSteps: number };
}

interface Run {
  completed: CompletedStep[];
  compactions: number[];
}

/** End of step k (1-based); "end of step 0" is the start of step 1. */
const endOf = (run: Run, k: number) => Date.parse(k === 0 ? run.completed[0].startedAt : run.completed[k - 1].endedAt);
const interval = (run: Run, k: number) => endOf(run, k) - endOf(run, k - 1);

/** What the compaction after step c added: its interval less the median of the 100 around it. */
function compactionExtra(run: Run, c: number): number {
  const around: number[] = [];
  for (let k = Math.max(1, c - 50); k <= Math.min(run.completed.length, c + 51); k++) if (!run.compactions.includes(k - 1)) around.push(interval(run, k));
  return Math.max(0, interval(run, c + 1) - median(around));
}

function windowOf(label: string, run: Run, first: number, last: number): Window {
  const intervals: number[] = [];
  const steady: number[] = [];
  for (let k = first; k <= last; k++) {
    intervals.push(interval(run, k));
    if (!run.compactions.includes(k - 1)) steady.push(interval(run, k));
  }
  const inside = run.compactions.filter((k) => k + 1 >= first && k + 1 <= last);
  const before = run.compactions.filter((k) => k + 1 <= last);
  const c = before[before.length - 1];
  let amortisedFrom: Window['amortisedFrom'];
  if (c !== undefined) {
    const next = run.compactions.find((k) => k > c);
    const previous = before.length > 1 ? before[before.length - 2] : 0;
    amortisedFrom = { afterStep: c, extraMs: round(compactionExtra(run, c), 1), overSteps: next !== undefined ? next - c : c - previous };
  }
  return {
    label,
    first,
    last,
    meanMs: round((endOf(run, last) - endOf(run, first - 1)) / (last - first + 1), 3),
    medianMs: median(intervals),
    compactionsAfterStep: inside,
    amortisedMs: round(mean(steady) + (amortisedFrom ? amortisedFrom.extraMs / amortisedFrom.overSteps : 0), 3),
    amortisedFrom,
  };
}

/** After which step each compaction snapshot was written, from checkpoints/ (the kept history). */
function compactionPoints(runDir: string): number[] {
  const dir = path.join(runDir, 'checkpoints');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).map((n) => path.join(dir, n)) : [];
  const points = new Set<number>();
  for (const file of [...files, path.join(runDir, 'checkpoint.json')]) {
    const cp = readJson<CheckpointFile>(file);
    if (cp?.reason === 'compaction') points.add(cp.completed.length);
  }
  return [...points].sort((a, b) => a - b);
}

interface RunResult {
  /** Steps 1-100, warm-up included: reported, not compared. */
  first: Window;
  early: Window;
  late: Window;
  lateWithCompaction: Window | undefined;
  compactions: number[];
  compactionMs: Record<number, number>;
  wallMs: number;
}

async function oneRun(n: number, index: number): Promise<RunResult> {
  const ws = makeWorkspace('scaling');
  const total = n + WINDOW; // n >= EARLY + WINDOW
  writeTask(ws, 'long', steps(total, 'true'));
  const wallMs = await timeProcess(process.execPath, [RUNNER, 'run', 'long', '--root', ws.root]);
  const cp = readCheckpoint(ws, 'long');
  if (!cp || cp.completed.length !== total) throw new Error(`scaling: expected ${total} completed steps, found ${cp?.completed.length}`);
  const run: Run = { completed: cp.completed, compactions: compactionPoints(ws.runDir('long')) };
  ws.cleanup();
  const early = windowOf(`steps ${EARLY + 1}-${EARLY + WINDOW}`, run, EARLY + 1, EARLY + WINDOW);
  const first = windowOf(`steps 1-${WINDOW}`, run, 1, WINDOW);
  const late = windowOf(`steps ${n + 1}-${total}`, run, n + 1, total);
  const lastCompaction = run.compactions.filter((k) => k + 1 < n + 1).pop();
  const lateWithCompaction =
    late.compactionsAfterStep.length === 0 && lastCompaction !== undefined && lastCompaction > WINDOW
      ? windowOf(`steps ${lastCompaction + 1}-${total}`, run, lastCompaction + 1, total)
      : undefined;
  const compactionMs = Object.fromEntries(run.compactions.map((c) => [c, round(compactionExtra(run, c), 1)]));
  log(
    `scaling run ${index}: ${total} steps in ${(wallMs / 1000).toFixed(1)} s; first ${first.meanMs}, early ${early.meanMs}, late ${late.meanMs} ms/step` +
      `${lateWithCompaction ? `, ${lateWithCompaction.label} ${lateWithCompaction.meanMs} ms/step` : ''}; ` +
      `compactions (after step: extra ms) ${run.compactions.map((c) => `${c}: ${compactionMs[c]}`).join(', ')}`,
  );
  return { first, early, late, lateWithCompaction, compactions: run.compactions, compactionMs, wallMs };
}

export async function scaling(): Promise<BenchResult> {
  const n = QUICK ? 1000 : 5000;
  const runs = QUICK ? 1 : 3;
  const results: RunResult[] = [];
  for (let r = 1; r <= runs; r++) results.push(await oneRun(n, r));
  const ratio = median(results.map((x) => x.late.meanMs / x.early.meanMs));
  const amortised = median(results.map((x) => x.late.amortisedMs / x.early.amortisedMs));
  const stretched = results.every((x) => x.lateWithCompaction) ? median(results.map((x) => x.lateWithCompaction!.meanMs / x.early.meanMs)) : undefined;
  const early = median(results.map((x) => x.early.meanMs));
  const late = median(results.map((x) => x.late.meanMs));
  const describe = (w: Window) =>
    `${w.label}: ${w.meanMs} ms/step (median interval ${w.medianMs} ms; ` +
    `${w.compactionsAfterStep.length ? `holds the compaction after step ${w.compactionsAfterStep.join(', ')}` : 'no compaction'}; ` +
    `amortised ${w.amortisedMs} ms/step${w.amortisedFrom ? ` with the ${w.amortisedFrom.extraMs} ms compaction after step ${w.amortisedFrom.afterStep} over ${w.amortisedFrom.overSteps} steps` : ''})`;
  const notes = results.map(
    (x, i) =>
      `run ${i + 1}: ${round(x.late.meanMs / x.early.meanMs)}x; ${describe(x.early)}; ${describe(x.late)}` +
      `${x.lateWithCompaction ? `; ${x.lateWithCompaction.label}: ${x.lateWithCompaction.meanMs} ms/step` : ''}; (warm-up: steps 1-${WINDOW} ${x.first.meanMs} ms/step)`,
  );
  notes.push(`amortised: ${round(amortised)}x${stretched !== undefined ? `; late window stretched back to the last compaction: ${round(stretched)}x` : ''}`);
  return {
    id: 'per-step-scaling',
    title: `Per-step cost at ${n.toLocaleString('en')} steps done vs at ${EARLY} (${WINDOW}-step windows)`,
    headline: `${round(ratio)}x (${round(late, 2)} vs ${round(early, 2)} ms/step; amortised ${round(amortised)}x)`,
    target: `≤ ${TARGET}x`,
    met: ratio <= TARGET && amortised <= TARGET,
    details: {
      stepsDoneAtLateWindow: n,
      runs,
      ratio: round(ratio, 3),
      amortisedRatio: round(amortised, 3),
      stretchedRatio: stretched === undefined ? null : round(stretched, 3),
      perRunRatio: results.map((x) => round(x.late.meanMs / x.early.meanMs, 3)),
      perRun: results.map((x) => ({
        wallMs: round(x.wallMs, 0),
        compactionExtraMs: x.compactionMs,
        first: x.first,
        early: x.early,
        late: x.late,
        lateWithCompaction: x.lateWithCompaction ?? null,
      })),
    },
    notes,
  };
}
