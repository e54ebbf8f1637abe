/**
 * The steps as a graph: a step runs once every step it `needs` is done; a step without `needs`
 * needs the one before it, so a plain list is the chain it always was. The definition refuses
 * unknown ids and cycles (`graphProblems`); the runner's scheduler, the plan and the tree read the
 * edges from here, so they agree on them.
 */
/** What of a step the graph reads (structural: schemas.ts imports this file). */
type Steps = readonly { id: string; needs?: readonly string[] }[];

/** The ids a step needs: its own `needs`, else the step before it. */
export function needsOf(steps: Steps, index: number): readonly string[] {
  return steps[index].needs ?? (index > 0 ? [steps[index - 1].id] : []);
}

/** Do the steps use `needs` at all? Without, they are a chain, and cheaper ways to ask apply. */
export const isChain = (steps: Steps) => steps.every((s) => s.needs === undefined);

export interface GraphProblem {
  index: number;
  message: string;
}

/** Unknown ids, a step needing itself or twice the same, and a cycle (with its path): the definition is refused. */
export function graphProblems(steps: Steps): GraphProblem[] {
  if (isChain(steps)) return []; // each step needs the one before: no cycle, no unknown id
  const byId = new Map(steps.map((s, i) => [s.id, i]));
  const problems: GraphProblem[] = [];
  steps.forEach((step, index) => {
    const seen = new Set<string>();
    for (const need of step.needs ?? []) {
      if (need === step.id) problems.push({ index, message: `step "${step.id}" needs itself` });
      else if (!byId.has(need)) problems.push({ index, message: `step "${step.id}" needs "${need}", which is not a step of this task${closest(need, steps)}` });
      else if (seen.has(need)) problems.push({ index, message: `step "${step.id}" names "${need}" twice` });
      seen.add(need);
    }
  });
  if (problems.length) return problems;
  const cycle = findCycle(steps, byId);
  return cycle ? [{ index: byId.get(cycle[0])!, message: `the steps' needs form a cycle: ${cycle.join(' → ')}${implicitNote(steps, cycle, byId)}` }] : [];
}

function closest(id: string, steps: Steps): string {
  const lower = id.toLowerCase();
  const near = steps.find((s) => s.id.toLowerCase() === lower);
  return near ? ` (did you mean "${near.id}"?)` : '';
}

/** A cycle through a step without `needs` surprises: say that it needs the step before it. */
function implicitNote(steps: Steps, cycle: string[], byId: Map<string, number>): string {
  const implicit = cycle.slice(0, -1).find((id) => steps[byId.get(id)!].needs === undefined && byId.get(id)! > 0);
  return implicit ? ` ("${implicit}" has no needs, so it needs the step before it; give it "needs": [] to start it with none)` : '';
}

/** A cycle as a path of ids that ends where it began, or undefined. Iterative: 10,000 steps deep is no stack overflow. */
function findCycle(steps: Steps, byId: Map<string, number>): string[] | undefined {
  const WHITE = 0, GREY = 1, BLACK = 2;
  const colour = new Uint8Array(steps.length);
  for (let root = 0; root < steps.length; root++) {
    if (colour[root] !== WHITE) continue;
    const path: number[] = [root];
    const next: number[] = [0];
    colour[root] = GREY;
    while (path.length) {
      const at = path[path.length - 1];
      const needs = needsOf(steps, at);
      if (next[next.length - 1] >= needs.length) {
        colour[at] = BLACK;
        path.pop();
        next.pop();
        continue;
      }
      const to = byId.get(needs[next[next.length - 1]++])!;
      if (colour[to] === GREY) {
        const from = path.indexOf(to);
        // Written in the order things run: the needed step first.
        return [...path.slice(from), to].map((i) => steps[i].id).reverse();
      }
      if (colour[to] === WHITE) {
        colour[to] = GREY;
        path.push(to);
        next.push(0);
      }
    }
  }
  return undefined;
}

/** Every step that `index` needs, directly or through others (its ancestors), by id. */
export function ancestorsOf(steps: Steps, index: number): Set<string> {
  const byId = new Map(steps.map((s, i) => [s.id, i]));
  const seen = new Set<string>();
  const stack = [...needsOf(steps, index)];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...needsOf(steps, byId.get(id)!));
  }
  return seen;
}

/**
 * The steps in an order that respects the graph (each after what it needs), otherwise in the
 * order they are defined: a chain's order is its own. (Kahn's algorithm, the smallest index first.)
 */
export function graphOrder(steps: Steps): number[] {
  if (isChain(steps)) return steps.map((_, i) => i);
  const byId = new Map(steps.map((s, i) => [s.id, i]));
  const waiting = steps.map((_, i) => needsOf(steps, i).length);
  const dependants = steps.map((): number[] => []);
  steps.forEach((_, i) => needsOf(steps, i).forEach((need) => dependants[byId.get(need)!].push(i)));
  const ready = new MinHeap();
  steps.forEach((_, i) => waiting[i] === 0 && ready.push(i));
  const order: number[] = [];
  for (let i = ready.pop(); i !== undefined; i = ready.pop()) {
    order.push(i);
    for (const d of dependants[i]) if (--waiting[d] === 0) ready.push(d);
  }
  return order;
}

/** The smallest number first: the ready step defined first. */
class MinHeap {
  private readonly a: number[] = [];
  push(n: number): void {
    const a = this.a;
    let i = a.push(n) - 1;
    while (i > 0 && a[(i - 1) >> 1] > a[i]) {
      [a[i], a[(i - 1) >> 1]] = [a[(i - 1) >> 1], a[i]];
      i = (i - 1) >> 1;
    }
  }
  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (!a.length || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && a[l] < a[m]) m = l;
      if (r < a.length && a[r] < a[m]) m = r;
      if (m === i) return top;
      [a[i], a[m]] = [a[m], a[i]];
      i = m;
    }
  }
}

/** The steps that need `ids`, directly or through others, with `ids` themselves. */
export function withDependants(steps: Steps, ids: Iterable<string>): Set<string> {
  const out = new Set(ids);
  if (!out.size) return out;
  // In graph order, a step's needs are decided before it.
  for (const i of graphOrder(steps)) if (!out.has(steps[i].id) && needsOf(steps, i).some((n) => out.has(n))) out.add(steps[i].id);
  return out;
}
