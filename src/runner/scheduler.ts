/**
 * What runs next. Today a task's steps are a chain: each step needs the one before it, so the next
 * step is the first one not done, once nothing runs. A graph (`needs`) answers the same questions
 * with several steps ready at once; the runner asks only these.
 */
import type { StepDefinition } from '../protocol/schemas';

export interface PlannedStep {
  step: StepDefinition;
  index: number;
}

export interface Scheduler {
  /** The steps that may start now, in the order they are defined. */
  ready(): PlannedStep[];
  started(id: string): void;
  /** The step completed (it is committed). */
  completed(id: string): void;
  /** It stopped without completing: it runs again on the next run. */
  stopped(id: string): void;
}

export class ChainScheduler implements Scheduler {
  private readonly done: Set<string>;
  private readonly running = new Set<string>();

  /** `done`: the ids of the steps already committed. */
  constructor(private readonly steps: readonly StepDefinition[], done: Iterable<string>) {
    this.done = new Set(done);
  }

  ready(): PlannedStep[] {
    if (this.running.size) return [];
    const index = this.steps.findIndex((s) => !this.done.has(s.id));
    return index < 0 ? [] : [{ step: this.steps[index], index }];
  }

  started(id: string): void {
    this.running.add(id);
  }

  completed(id: string): void {
    this.running.delete(id);
    this.done.add(id);
  }

  stopped(id: string): void {
    this.running.delete(id);
  }
}
