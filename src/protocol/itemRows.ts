/**
 * The items of a forEach step, one row each (index, state, attempts, error, item), read from the
 * checkpoint and the journal, never from a runner: it answers for a paused, failed or interrupted
 * task as for a running one. `ptask items` prints it; the extension picks an item from it.
 */
import * as path from 'node:path';
import { loadCheckpoint } from './checkpoint';
import type { ItemProgress } from './itemProgress';
import { readJsonSync } from './jsonFile';
import { stepLogPath, type TaskPaths } from './paths';
import { itemListSchema, type TaskDefinition } from './schemas';
import { redactor, secretValues } from './secrets';

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

