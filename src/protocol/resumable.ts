/**
 * Can a task be resumed from its checkpoint? Asked by the controllers before they write anything
 * (so that a refused resume changes no file) and by the runner again under the lock.
 */
import * as fs from 'node:fs';
import { loadCheckpoint, type LoadedCheckpoint } from './checkpoint';
import { describeChanges } from './definitionChanges';
import type { TaskPaths } from './paths';
import { definitionSchema, publicDefinition, sameDefinition, type TaskDefinition } from './schemas';

export type Resumability =
  /** `loaded` is undefined when there is no checkpoint yet; `changes` are those that `force` let through. */
  | { ok: true; loaded: LoadedCheckpoint | undefined; changes: string[] }
  | { ok: false; problem: 'damaged'; file: string; message: string }
  | { ok: false; problem: 'changed'; file: string; changes: string[]; message: string };

export function resumability(paths: TaskPaths, def: TaskDefinition, force: boolean): Resumability {
  const loaded = loadCheckpoint(paths);
  if (!loaded.ok) {
    if (loaded.error.code === 'missing' && !fs.existsSync(paths.journal)) return { ok: true, loaded: undefined, changes: [] };
    const message =
      `${loaded.error.message}\nThe runner will not resume from a damaged checkpoint. Earlier snapshots are in ${paths.checkpointsDir}: ` +
      `copy one over checkpoint.json to resume from it, or reset the task to start over.`;
    return { ok: false, problem: 'damaged', file: loaded.error.file, message };
  }
  const { checkpoint } = loaded.value;
  if (sameDefinition(checkpoint.definitionHash, def)) return { ok: true, loaded: loaded.value, changes: [] };
  const before = definitionSchema.safeParse(checkpoint.definition);
  const changes = before.success ? describeChanges(before.data, publicDefinition(def)) : ['the checkpoint does not hold the earlier definition'];
  if (force) return { ok: true, loaded: loaded.value, changes };
  const message =
    `${paths.definition}: changed since the checkpoint was written:\n  - ${changes.join('\n  - ')}\n` +
    `Resume with --force to go on anyway: completed steps are matched by id and skipped, the rest run.`;
  return { ok: false, problem: 'changed', file: paths.definition, changes, message };
}
