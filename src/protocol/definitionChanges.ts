/** What changed in a definition since a checkpoint was written, in words a person can act on. */
import type { StepDefinition, TaskDefinition } from './schemas';

const STEP_FIELDS: (keyof StepDefinition)[] = ['run', 'cwd', 'env', 'timeout', 'retries', 'retryDelay', 'forEach', 'concurrency', 'continueOnError', 'allowEmpty'];
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export function describeChanges(before: TaskDefinition, after: TaskDefinition): string[] {
  const changes: string[] = [];
  if (!same(before.cwd, after.cwd)) changes.push(`cwd changed from ${JSON.stringify(before.cwd ?? '.')} to ${JSON.stringify(after.cwd ?? '.')}`);
  if (!same(before.env, after.env)) changes.push('env changed');
  if (!same(before.pauseOn, after.pauseOn)) changes.push('pauseOn changed');
  const oldSteps = new Map(before.steps.map((s, i) => [s.id, { s, i }]));
  const newIds = new Set(after.steps.map((s) => s.id));
  for (const [i, step] of after.steps.entries()) {
    const old = oldSteps.get(step.id);
    if (!old) {
      changes.push(`step "${step.id}" was added`);
      continue;
    }
    const fields = STEP_FIELDS.filter((f) => !same(old.s[f], step[f]));
    if (fields.length) changes.push(`step "${step.id}" changed its ${fields.join(', ')}`);
    if (old.i !== i) changes.push(`step "${step.id}" moved from position ${old.i + 1} to ${i + 1}`);
  }
  for (const step of before.steps) if (!newIds.has(step.id)) changes.push(`step "${step.id}" was removed`);
  // Called only when the hashes differ: masked secrets compare equal here, so that is what changed.
  if (!changes.length) changes.push('the value of a secret env variable changed');
  return changes;
}
