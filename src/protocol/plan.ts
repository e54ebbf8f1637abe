/**
 * The plan: what a resume does with each step, and why, computed without running anything from
 * the checkpoint (the steps done, the definition they ran under) and the definition now. A done
 * step whose command, folder, environment or items changed runs again, and so does every step
 * after it (each step needs the one before it); a step not done runs; the rest stay done.
 * `ptask plan` prints it, a resume follows it, the extension shows it before re-running done steps.
 */
import { definitionSchema, publicDefinition, sameDefinition, type Checkpoint, type StepDefinition, type TaskDefinition } from './schemas';

export type StepAction = 'done' | 'run' | 'rerun';
export interface StepPlan {
  id: string;
  action: StepAction;
  reason: string;
  /** What the step does changed since the checkpoint (its own fields, or the task's): what a lost runner left of it is not taken over. */
  changed?: boolean;
}

/** What a step does: a change to any of these makes a done step run again (tuning fields do not). */
const WHAT_FIELDS: (keyof StepDefinition)[] = ['run', 'cwd', 'env', 'forEach', 'executor'];
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * `force`: keep every done step by its id whatever changed (`resume --force`). The secret values of
 * env variables are masked in the checkpoint: a changed one is not seen, and keeps its steps done.
 */
export function resumePlan(checkpoint: Pick<Checkpoint, 'completed' | 'unfinished' | 'definition' | 'definitionHash'>, def: TaskDefinition, force = false): StepPlan[] {
  const done = new Map(checkpoint.completed.map((s) => [s.id, s]));
  const parsed = definitionSchema.safeParse(checkpoint.definition);
  const before = parsed.success ? parsed.data : undefined;
  const after = publicDefinition(def);
  const unchanged = sameDefinition(checkpoint.definitionHash, def);
  const oldSteps = new Map((before?.steps ?? []).map((s) => [s.id, s]));
  // What every step sees: a change here changes them all.
  const taskChange = before && !unchanged ? (['cwd', 'env', 'executor'] as const).filter((f) => !same(before[f], after[f])) : [];
  let rerunFrom: string | undefined; // the first done step that runs again: every later step runs after it
  return after.steps.map((step): StepPlan => {
    const old = oldSteps.get(step.id);
    const fields = old && !unchanged ? WHAT_FIELDS.filter((f) => !same(old[f], step[f])) : [];
    const changed = fields.length > 0 || taskChange.length > 0 ? { changed: true } : {};
    const completed = done.get(step.id);
    if (completed) {
      const when = `done ${completed.endedAt}`;
      if (force || unchanged) return { id: step.id, action: 'done', reason: force && !unchanged ? `${when}; kept by --force` : when };
      const why = !before
        ? 'the checkpoint does not hold the definition it ran under'
        : taskChange.length
          ? `the task's ${taskChange.join(', ')} changed since it ran`
          : fields.length
            ? `its ${fields.join(', ')} changed since it ran`
            : rerunFrom
              ? `it runs after '${rerunFrom}', which runs again`
              : undefined;
      if (!why) return { id: step.id, action: 'done', reason: when };
      rerunFrom ??= step.id;
      return { id: step.id, action: 'rerun', reason: why, ...changed };
    }
    if (checkpoint.unfinished?.id === step.id) {
      const u = checkpoint.unfinished;
      return { id: step.id, action: 'run', reason: `it stopped here (${u.outcome}${u.error ? `: ${u.error}` : ''})${fields.length ? '; it runs as it is defined now' : ''}`, ...changed };
    }
    if (before && !oldSteps.has(step.id)) return { id: step.id, action: 'run', reason: 'new since the checkpoint', ...changed };
    return { id: step.id, action: 'run', reason: 'not run yet', ...changed };
  });
}

/** A run (not a resume) starts from the first step: every step runs. */
export function runPlan(def: TaskDefinition): StepPlan[] {
  return def.steps.map((s) => ({ id: s.id, action: 'run', reason: 'a run starts from the first step' }));
}

/** The done steps a plan runs again. */
export const rerunIds = (plan: StepPlan[]) => plan.filter((s) => s.action === 'rerun').map((s) => s.id);
