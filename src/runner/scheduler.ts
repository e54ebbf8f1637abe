/**
 * What runs next. A step may start once every step it needs is done (protocol/graph: a step
 * without `needs` needs the one before it, so a plain list is a chain), up to the task's
 * `concurrency` at once, the ready steps in the order they are defined. Two forEach steps do not
 * run at once: a forEach step is already a swarm (its own `concurrency`), and the checkpoint holds
 * the item progress of one step. The runner asks only these questions; the costs are O(1) a step
 * plus its edges, so a 10,000-step graph schedules as cheaply as a chain.
 */
import { needsOf } from '../protocol/graph';
import type { StepDefinition } from '../protocol/schemas';

export interface PlannedStep {
  step: StepDefinition;
  index: number;
}

export interface Scheduler {
  /** The steps that may start now, in the order they are defined; each is then started. */
  ready(): PlannedStep[];
  /** The step completed (it is committed): what needs it may become ready. */
  completed(id: string): void;
  /** It stopped without completing: what needs it waits for the next run. */
  stopped(id: string): void;
  /**
   * The step that would start in `id`'s place once `id` completes (or once the step queued after
   * it does), if any: it is the one step that waits for `id` alone, and no step ready now would
   * start before it (it comes first in the definition: a graph of chains at concurrency 1 runs
   * one chain after another; at 2, two side by side). A chain's next step, which a slot may start
   * the moment `id` ends.
   */
  successor(id: string): PlannedStep | undefined;
  /** Start this step now if it is ready (a queued step its slot started: see stepQueue.ts). */
  take(id: string): PlannedStep | undefined;
  /** Steps in flight. */
  readonly running: number;
}

export class GraphScheduler implements Scheduler {
  private readonly byId: Map<string, number>;
  /** How many of its needs each step still waits for. */
  private readonly waiting: number[];
  private readonly dependants: number[][];
  /** Ready and not started, smallest index first (kept sorted: few are ready at once). */
  private readonly candidates: number[] = [];
  private readonly inFlight = new Set<number>();
  private forEachInFlight = false;

  /** `done`: the ids of the steps already committed. */
  constructor(private readonly steps: readonly StepDefinition[], done: Iterable<string>, private readonly concurrency = 1) {
    this.byId = new Map(steps.map((s, i) => [s.id, i]));
    const isDone = new Set(done);
    this.dependants = steps.map(() => []);
    this.waiting = steps.map((_, i) => {
      const needs = needsOf(steps, i);
      for (const need of needs) this.dependants[this.byId.get(need)!].push(i);
      return needs.filter((n) => !isDone.has(n)).length;
    });
    steps.forEach((s, i) => {
      if (isDone.has(s.id)) this.waiting[i] = -1; // done: never a candidate
      else if (this.waiting[i] === 0) this.candidates.push(i);
    });
  }

  get running(): number {
    return this.inFlight.size;
  }

  ready(): PlannedStep[] {
    const out: PlannedStep[] = [];
    for (let k = 0; k < this.candidates.length && this.inFlight.size < this.concurrency; ) {
      const index = this.candidates[k];
      const step = this.steps[index];
      if (step.forEach && this.forEachInFlight) {
        k++;
        continue;
      }
      this.candidates.splice(k, 1);
      this.inFlight.add(index);
      if (step.forEach) this.forEachInFlight = true;
      out.push({ step, index });
    }
    return out;
  }

  successor(id: string): PlannedStep | undefined {
    const dependants = this.dependants[this.byId.get(id)!];
    if (dependants.length !== 1 || this.waiting[dependants[0]] !== 1) return undefined;
    const index = dependants[0];
    // Others ready (waiting for a place): it still goes next if it is first of them all (candidates are sorted).
    if (this.candidates.length && this.candidates[0] < index) return undefined;
    return { step: this.steps[index], index };
  }

  take(id: string): PlannedStep | undefined {
    const index = this.byId.get(id)!;
    const at = this.candidates.indexOf(index);
    if (at < 0 || this.inFlight.size >= this.concurrency || (this.steps[index].forEach && this.forEachInFlight)) return undefined;
    this.candidates.splice(at, 1);
    this.inFlight.add(index);
    if (this.steps[index].forEach) this.forEachInFlight = true;
    return { step: this.steps[index], index };
  }

  completed(id: string): void {
    const index = this.end(id);
    for (const d of this.dependants[index]) if (--this.waiting[d] === 0) this.addCandidate(d);
  }

  stopped(id: string): void {
    this.end(id);
  }

  private end(id: string): number {
    const index = this.byId.get(id)!;
    this.inFlight.delete(index);
    if (this.steps[index].forEach) this.forEachInFlight = false;
    return index;
  }

  private addCandidate(index: number): void {
    let at = this.candidates.length;
    while (at > 0 && this.candidates[at - 1] > index) at--;
    this.candidates.splice(at, 0, index);
  }
}
