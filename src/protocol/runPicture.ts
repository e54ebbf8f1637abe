/**
 * The picture of a run, as data: a row per step (in graph order), under a forEach step as many
 * lanes as its items ran at once, a bar per attempt (retries and failures marked), the runners'
 * lives (the gaps between them are pauses, or crashes when a runner left no `stop`), and the
 * steps in flight now. Built from the run's timeline, its checkpoint and its state; the webview
 * only draws it. Pure, so that it is tested without a VS Code.
 */
import { graphOrder } from './graph';
import type { Checkpoint, RunnerState, TaskDefinition } from './schemas';
import { runningSteps } from './schemas';
import type { TimelineLine } from './timeline';

export type BarKind = 'ok' | 'failed' | 'stopped' | 'paused' | 'running' | 'upToDate';

export interface PictureBar {
  row: number;
  start: number;
  end: number;
  kind: BarKind;
  step: string;
  item?: number;
  /** The attempt's number: above 1, a retry. */
  n: number;
  said?: string;
  /** A forEach step's own bar: the span of its items, not an attempt. */
  span?: true;
}

export interface PictureRow {
  step: string;
  /** The step's own row, or one lane of its items. */
  lane: number | 'step';
}

export interface RunLife {
  start: number;
  end: number;
  /** How it stopped; 'lost' when it left no stop (killed, or its machine went down); 'running' for the live one. */
  how: 'completed' | 'failed' | 'paused' | 'interrupted' | 'lost' | 'running';
}

export interface RunPicture {
  id: string;
  status: string;
  now: number;
  start: number;
  end: number;
  rows: PictureRow[];
  bars: PictureBar[];
  runs: RunLife[];
  /** Per step: its bars' count, and (a forEach step) the distinct items drawn. */
  counts: { steps: number; items: number; attempts: number };
}

export function runPicture(id: string, def: TaskDefinition, timeline: TimelineLine[], checkpoint: Pick<Checkpoint, 'completed'> | undefined, state: RunnerState | undefined, status: string, now = Date.now()): RunPicture {
  const order = graphOrder(def.steps).map((i) => def.steps[i]);
  const runs: RunLife[] = [];
  const byStep = new Map<string, { step: PictureBar[]; items: PictureBar[] }>(order.map((s) => [s.id, { step: [], items: [] }]));
  for (const line of timeline) {
    if (line.t === 'runner') {
      const open = runs[runs.length - 1];
      if (open && open.how === 'running') open.how = 'lost';
      runs.push({ start: line.at, end: line.at, how: 'running' });
    } else if (line.t === 'stop') {
      const open = runs[runs.length - 1];
      if (open) Object.assign(open, { end: line.at, how: line.how });
    } else if (line.t === 'attempt') {
      const entry = byStep.get(line.step);
      if (!entry) continue; // a step no longer defined
      const bar: PictureBar = { row: -1, start: line.start, end: Math.max(line.end, line.start), kind: line.how, step: line.step, n: line.n, ...(line.item !== undefined ? { item: line.item } : {}), ...(line.said ? { said: line.said } : {}) };
      (line.item === undefined ? entry.step : entry.items).push(bar);
      const open = runs[runs.length - 1];
      if (open) open.end = Math.max(open.end, bar.end);
    } else {
      byStep.get(line.step)?.step.push({ row: -1, start: line.at, end: line.at, kind: 'upToDate', step: line.step, n: 0 });
    }
  }
  // The live runner goes on to now; a runner the state says is gone, with no stop, was lost.
  const last = runs[runs.length - 1];
  const live = status === 'running' || status === 'pausing' || status === 'interrupting';
  if (last?.how === 'running') {
    if (live) last.end = now;
    else last.how = 'lost';
  }
  // The steps in flight, and a forEach step's items in flight: a bar from their start to now.
  if (live)
    for (const s of runningSteps(state)) {
      const entry = byStep.get(s.id);
      if (!entry) continue;
      if (!def.steps.find((d) => d.id === s.id)?.forEach) entry.step.push({ row: -1, start: Date.parse(s.startedAt), end: now, kind: 'running', step: s.id, n: s.attempt });
      for (const p of s.processes ?? []) if (p.item !== undefined && p.startedAt !== undefined) entry.items.push({ row: -1, start: p.startedAt, end: now, kind: 'running', step: s.id, item: p.item, n: 1 });
    }
  // A forEach step's own bar spans its items; its items go into lanes, each where the last one ended (interval partitioning).
  const rows: PictureRow[] = [];
  const bars: PictureBar[] = [];
  const items = new Set<string>();
  for (const step of order) {
    const entry = byStep.get(step.id)!;
    const stepRow = rows.push({ step: step.id, lane: 'step' }) - 1;
    const done = checkpoint?.completed.find((c) => c.id === step.id);
    if (step.forEach && entry.items.length) {
      const { start, end } = span(entry.items);
      bars.push({ row: stepRow, start, end, kind: done ? 'ok' : live && runningSteps(state).some((s) => s.id === step.id) ? 'running' : 'paused', step: step.id, n: 1, span: true });
    }
    for (const bar of entry.step) {
      bar.row = stepRow;
      bars.push(bar);
    }
    const laneEnds: number[] = [];
    const laneRows: number[] = [];
    for (const bar of [...entry.items].sort((a, b) => a.start - b.start || a.end - b.end)) {
      let lane = laneEnds.findIndex((e) => e <= bar.start);
      if (lane < 0) {
        lane = laneEnds.length;
        laneEnds.push(bar.end);
        laneRows.push(rows.push({ step: step.id, lane }) - 1);
      } else laneEnds[lane] = bar.end;
      bar.row = laneRows[lane];
      bars.push(bar);
      items.add(`${step.id}#${bar.item}`);
    }
  }
  const all = span([...bars, ...runs]);
  return {
    id,
    status,
    now,
    start: Number.isFinite(all.start) ? all.start : now,
    end: Number.isFinite(all.end) ? all.end : now,
    rows,
    bars,
    runs,
    counts: { steps: order.filter((s) => bars.some((b) => b.step === s.id && b.item === undefined)).length, items: items.size, attempts: bars.filter((b) => b.kind !== 'upToDate' && !b.span).length },
  };
}

/** The earliest start and the latest end (a loop: 20,000 bars are too many arguments for Math.min). */
function span(xs: readonly { start: number; end: number }[]): { start: number; end: number } {
  let start = Infinity;
  let end = -Infinity;
  for (const x of xs) {
    if (x.start < start) start = x.start;
    if (x.end > end) end = x.end;
  }
  return { start, end };
}

export const BAR_KINDS: readonly BarKind[] = ['ok', 'failed', 'stopped', 'paused', 'running', 'upToDate'];

/** The picture as it is posted to the webview: the bars in columns of typed arrays (20,000 objects cost far more to send). */
export interface EncodedPicture extends Omit<RunPicture, 'bars'> {
  steps: string[];
  bars: { count: number; row: Int32Array; start: Float64Array; end: Float64Array; kind: Uint8Array; n: Int32Array; item: Int32Array; step: Int32Array; span: Uint8Array; said: Record<number, string> };
}

/** media/runPicture.js reads it back into bars. */
export function encodePicture(p: RunPicture): EncodedPicture {
  const steps: string[] = [];
  const stepIndex = new Map<string, number>();
  const count = p.bars.length;
  const cols = { count, row: new Int32Array(count), start: new Float64Array(count), end: new Float64Array(count), kind: new Uint8Array(count), n: new Int32Array(count), item: new Int32Array(count), step: new Int32Array(count), span: new Uint8Array(count), said: {} as Record<number, string> };
  p.bars.forEach((b, i) => {
    let s = stepIndex.get(b.step);
    if (s === undefined) stepIndex.set(b.step, (s = steps.push(b.step) - 1));
    cols.row[i] = b.row;
    cols.start[i] = b.start;
    cols.end[i] = b.end;
    cols.kind[i] = BAR_KINDS.indexOf(b.kind);
    cols.n[i] = b.n;
    cols.item[i] = b.item ?? -1;
    cols.step[i] = s;
    cols.span[i] = b.span ? 1 : 0;
    if (b.said) cols.said[i] = b.said;
  });
  return { ...p, steps, bars: cols };
}
