/**
 * The plan: what a resume does with each step, and why, computed without running anything from
 * the checkpoint (the steps done, the definition they ran under) and the definition now. A done
 * step whose command, folder, environment, needs or items changed runs again, and so does every
 * step that needs it, directly or through others (protocol/graph: a step without `needs` needs
 * the one before it); a step not done runs, or waits for the steps it needs; the rest stay done.
 * A step with `inputs`/`outputs` that is up to date (protocol/upToDate) is kept as done, unless
 * a step it needs runs. `ptask plan` prints it, a resume follows it, the extension shows it
 * before re-running done steps.
 */
import { graphOrder, needsOf } from './graph';
import { definitionSchema, publicDefinition, sameDefinition, unfinishedSteps, type Checkpoint, type StepDefinition, type TaskDefinition } from './schemas';

export type StepAction = 'done' | 'run' | 'rerun';
export interface StepPlan {
  id: string;
  action: StepAction;
  reason: string;
  /** What the step does changed since the checkpoint (its own fields, or the task's): what a lost runner left of it is not taken over. */
  changed?: boolean;
}

/** Is a step up to date now (its inputs unchanged, its outputs there), and why (not)? Undefined for a step that says no inputs or outputs. */
export type UpToDate = (step: StepDefinition, index: number) => { upToDate: boolean; reason: string } | undefined;

/** What a step does: a change to any of these makes a done step run again (tuning fields do not). */
const WHAT_FIELDS: (keyof StepDefinition)[] = ['run', 'cwd', 'env', 'needs', 'forEach', 'executor'];
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const quoted = (ids: readonly string[]) => ids.map((id) => `'${id}'`).join(', ');

/**
 * `force`: keep every done step by its id whatever changed (`resume --force`). The secret values of
 * env variables are masked in the checkpoint: a changed one is not seen, and keeps its steps done.
 * Steps come in an order that respects the graph (a chain's own order).
 */
export function resumePlan(
  checkpoint: Pick<Checkpoint, 'completed' | 'unfinished' | 'alsoUnfinished' | 'definition' | 'definitionHash'>,
  def: TaskDefinition,
  force = false,
  upToDate?: UpToDate,
): StepPlan[] {
  const done = new Map(checkpoint.completed.map((s) => [s.id, s]));
  const stoppedIn = new Map(unfinishedSteps(checkpoint).map((u) => [u.id, u]));
  const parsed = definitionSchema.safeParse(checkpoint.definition);
  const before = parsed.success ? parsed.data : undefined;
  const after = publicDefinition(def);
  const unchanged = sameDefinition(checkpoint.definitionHash, def);
  const oldSteps = new Map((before?.steps ?? []).map((s) => [s.id, s]));
  // What every step sees: a change here changes them all.
  const taskChange = before && !unchanged ? (['cwd', 'env', 'executor'] as const).filter((f) => !same(before[f], after[f])) : [];
  const plans = new Map<string, StepPlan>();
  const order = graphOrder(after.steps);
  for (const index of order) {
    const step = after.steps[index];
    const needs = needsOf(after.steps, index);
    const old = oldSteps.get(step.id);
    const fields = old && !unchanged ? WHAT_FIELDS.filter((f) => !same(old[f], step[f])) : [];
    const changed = fields.length > 0 || taskChange.length > 0 ? { changed: true } : {};
    const rerunNeed = needs.find((n) => plans.get(n)?.action === 'rerun');
    const plan = ((): StepPlan => {
      const completed = done.get(step.id);
      if (completed) {
        const when = completed.upToDate ? `up to date (as it succeeded at ${completed.upToDate})` : `done ${completed.endedAt}`;
        if (force || unchanged) return { id: step.id, action: 'done', reason: force && !unchanged ? `${when}; kept by --force` : when };
        const why = !before
          ? 'the checkpoint does not hold the definition it ran under'
          : taskChange.length
            ? `the task's ${taskChange.join(', ')} changed since it ran`
            : fields.length
              ? `its ${fields.join(', ')} changed since it ran`
              : rerunNeed
                ? `it needs '${rerunNeed}', which runs again`
                : undefined;
        return why ? { id: step.id, action: 'rerun', reason: why, ...changed } : { id: step.id, action: 'done', reason: when };
      }
      // A step none of whose needs runs may be found up to date (def: with its real env, as the runner sees it).
      const fresh = upToDate && needs.every((n) => plans.get(n)?.action === 'done') ? upToDate(def.steps[index], index) : undefined;
      if (fresh?.upToDate) return { id: step.id, action: 'done', reason: fresh.reason };
      const waits = needs.filter((n) => plans.get(n)?.action !== 'done');
      const waitNote = `${waits.length ? `; after ${quoted(waits)}` : ''}${fresh ? `; ${fresh.reason}` : ''}`;
      const u = stoppedIn.get(step.id);
      if (u) return { id: step.id, action: 'run', reason: `it stopped here (${u.outcome}${u.error ? `: ${u.error}` : ''})${fields.length ? '; it runs as it is defined now' : ''}${waitNote}`, ...changed };
      if (before && !oldSteps.has(step.id)) return { id: step.id, action: 'run', reason: `new since the checkpoint${waitNote}`, ...changed };
      return { id: step.id, action: 'run', reason: `not run yet${waitNote}`, ...changed };
    })();
    plans.set(step.id, plan);
  }
  return order.map((i) => plans.get(after.steps[i].id)!);
}

/** A run (not a resume) starts from nothing done: every step runs, but for those up to date. */
export function runPlan(def: TaskDefinition, upToDate?: UpToDate): StepPlan[] {
  const plans = new Map<string, StepPlan>();
  const order = graphOrder(def.steps);
  for (const index of order) {
    const step = def.steps[index];
    const needs = needsOf(def.steps, index);
    const fresh = upToDate && needs.every((n) => plans.get(n)?.action === 'done') ? upToDate(step, index) : undefined;
    const waits = needs.filter((n) => plans.get(n)?.action !== 'done');
    const first = waits.length ? `it runs after ${quoted(waits)}` : needs.length ? `${quoted(needs)} ${needs.length === 1 ? 'is' : 'are'} up to date` : index === 0 ? 'it runs first' : 'it needs no other step';
    const why = `${first}${fresh ? `; ${fresh.reason}` : ''}`;
    plans.set(step.id, fresh?.upToDate ? { id: step.id, action: 'done', reason: fresh.reason } : { id: step.id, action: 'run', reason: why });
  }
  return order.map((i) => plans.get(def.steps[i].id)!);
}

/** The done steps a plan runs again. */
export const rerunIds = (plan: StepPlan[]) => plan.filter((s) => s.action === 'rerun').map((s) => s.id);
