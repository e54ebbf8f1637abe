/**
 * Can a task be resumed from its checkpoint? Asked by the controllers before they write anything
 * (so that a refused resume changes no file) and by the runner again under the lock.
 */
import * as fs from 'node:fs';
import { loadCheckpoint, type LoadedCheckpoint } from './checkpoint';
import { describeChanges } from './definitionChanges';
import type { TaskPaths } from './paths';
import { resumePlan, runPlan, type StepPlan, type UpToDate } from './plan';
import { definitionSchema, publicDefinition, sameDefinition, type TaskDefinition } from './schemas';

export type Resumability =
  /**
   * `loaded` is undefined when there is no checkpoint yet; `changes`, what changed since it (that
   * `force` let through, or that the plan follows); `plan`, what the resume does with each step.
   */
  | { ok: true; loaded: LoadedCheckpoint | undefined; changes: string[]; plan: StepPlan[] }
  | { ok: false; problem: 'damaged'; file: string; message: string }
  | { ok: false; problem: 'changed'; file: string; changes: string[]; message: string };

/**
 * `force`: keep every done step by id whatever changed. Otherwise a changed definition is resumed
 * by its plan: done steps that changed run again with those after them; `rerunDone` false refuses
 * such a plan instead (a resume nobody is there to confirm: resume all, an automatic resume).
 */
export function resumability(paths: TaskPaths, def: TaskDefinition, force: boolean, rerunDone = true, upToDate?: UpToDate): Resumability {
  const loaded = loadCheckpoint(paths);
  if (!loaded.ok) {
    if (loaded.error.code === 'missing' && !fs.existsSync(paths.journal)) return { ok: true, loaded: undefined, changes: [], plan: runPlan(def, upToDate) };
    const message =
      `${loaded.error.message}\nThe runner will not resume from a damaged checkpoint. Earlier snapshots are in ${paths.checkpointsDir}: ` +
      `copy one over checkpoint.json to resume from it, or reset the task to start over.`;
    return { ok: false, problem: 'damaged', file: loaded.error.file, message };
  }
  const { checkpoint } = loaded.value;
  const plan = resumePlan(checkpoint, def, force, upToDate);
  if (sameDefinition(checkpoint.definitionHash, def)) return { ok: true, loaded: loaded.value, changes: [], plan };
  const before = definitionSchema.safeParse(checkpoint.definition);
  const changes = before.success ? describeChanges(before.data, publicDefinition(def)) : ['the checkpoint does not hold the earlier definition'];
  const rerun = plan.filter((s) => s.action === 'rerun');
  if (force || rerunDone || !rerun.length) return { ok: true, loaded: loaded.value, changes, plan };
  const message =
    `${paths.definition}: changed since the checkpoint was written, so that done steps would run again:\n` +
    rerun.map((s) => `  - ${s.id}: ${s.reason}\n`).join('') +
    `Resume it yourself to follow this plan (ptask plan ${paths.id} shows it), or with --force to keep every done step.`;
  return { ok: false, problem: 'changed', file: paths.definition, changes: rerun.map((s) => `step "${s.id}" runs again: ${s.reason}`), message };
}
