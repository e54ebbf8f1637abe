/**
 * `ptask items <id> <step>`: the items of a forEach step, one row each, like GNU parallel's joblog:
 * index, state, attempts, error, item. Read from the checkpoint and the journal, never from a
 * runner, so it answers for a paused, failed or interrupted task as for a running one.
 */
import * as path from 'node:path';
import { loadCheckpoint } from '../protocol/checkpoint';
import type { ItemProgress } from '../protocol/itemProgress';
import { readJsonSync } from '../protocol/jsonFile';
import { stepLogPath, type TaskPaths } from '../protocol/paths';
import { itemListSchema, type TaskDefinition } from '../protocol/schemas';
import { redactor, secretValues } from '../protocol/secrets';

export type ItemState = 'done' | 'failed' | 'skipped' | 'to run';
export interface ItemRow {
  index: number;
  item: string;
  state: ItemState;
  attempts?: number;
  error?: string;
  endedAt?: string;
}

export interface ItemsReport {
  step: string;
  total: number;
  done: number;
  failed: number;
  skipped: number;
  toRun: number;
  /** The step's log: each item's lines are prefixed "[<index>] ". */
  log: string;
  items: ItemRow[];
}

/** The report, or why there is none (a message for stderr). */
export function itemsReport(paths: TaskPaths, def: TaskDefinition, stepId: string, failedOnly: boolean): ItemsReport | { problem: string } {
  const step = def.steps.find((s) => s.id === stepId);
  if (!step) return { problem: `'${paths.id}' has no step '${stepId}' (its steps: ${def.steps.map((s) => s.id).join(', ')})` };
  if (!step.forEach) return { problem: `step '${stepId}' has no forEach: it has no items` };
  const loaded = loadCheckpoint(paths);
  if (!loaded.ok) return { problem: loaded.error.code === 'missing' ? `'${paths.id}' has not run: step '${stepId}' has no items yet` : loaded.error.message };
  const { batch, checkpoint } = loaded.value;
  const completed = checkpoint.completed.find((s) => s.id === stepId);
  if (completed) {
    const skipped = completed.skipped ?? 0;
    return { step: stepId, total: completed.items ?? 0, done: (completed.items ?? 0) - skipped, failed: 0, skipped, toRun: 0, log: stepLogPath(paths, stepId), items: [] };
  }
  if (!batch || batch.stepId !== stepId) return { problem: `step '${stepId}' has not started in this run: its items are not known yet` };
  const list = itemsOf(paths, batch);
  if (typeof list === 'string') return { problem: list };
  // Items may spell out a secret (their list is then owner-only): masked here too.
  const redact = redactor(secretValues(def));
  const items: ItemRow[] = [];
  for (let index = 0; index < batch.total; index++) {
    const failure = batch.failureOf(index);
    const state: ItemState = batch.isDone(index) ? 'done' : batch.isSkipped(index) ? 'skipped' : failure ? 'failed' : 'to run';
    if (failedOnly && state !== 'failed') continue;
    items.push({ index, item: redact(list[index] ?? ''), state, ...(failure ? { attempts: failure.attempts, error: redact(failure.error), endedAt: failure.endedAt } : {}) });
  }
  const toRun = batch.total - batch.doneCount - batch.failedCount - batch.skippedCount;
  return { step: stepId, total: batch.total, done: batch.doneCount, failed: batch.failedCount, skipped: batch.skippedCount, toRun, log: stepLogPath(paths, stepId), items };
}

function itemsOf(paths: TaskPaths, batch: ItemProgress): string[] | string {
  if (batch.loaded) return batch.items;
  const read = readJsonSync(path.join(paths.itemsDir, batch.itemsFile!), itemListSchema);
  return read.ok ? read.value : read.error.message;
}

/** The report as a table, with a header of counts and where the log is. */
export function formatItems(report: ItemsReport): string {
  const counts = `${report.step}: ${report.done}/${report.total} done${report.failed ? `, ${report.failed} failed` : ''}${report.skipped ? `, ${report.skipped} skipped` : ''}${report.toRun ? `, ${report.toRun} to run` : ''}`;
  if (!report.items.length) return `${counts}\nlog: ${report.log}`;
  const rows = report.items.map((r) => [String(r.index), r.state, r.attempts === undefined ? '' : String(r.attempts), oneLine(r.item, 60), oneLine(r.error ?? '', 80)]);
  const header = ['index', 'state', 'attempts', 'item', 'error'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [counts, line(header), ...rows.map(line), `log: ${report.log} (each item's lines start with "[<index>] ")`].join('\n');
}

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};
