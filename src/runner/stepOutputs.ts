/**
 * What a step is handed of the outputs of the steps before it (`TASK_OUTPUT_<STEP>_<KEY>`): in a
 * graph, those of the steps it needs, directly or through others, and of no other; in a chain,
 * where that is every step before, one set built as the steps complete.
 */
import { ancestorsOf, isChain } from '../protocol/graph';
import type { CompletedStep, StepDefinition } from '../protocol/schemas';
import { outputsEnv } from './stepFiles';

export class StepOutputs {
  private readonly chainEnv: Record<string, string> = {};
  private readonly withOutputs: CompletedStep[] = [];
  private readonly chain: boolean;

  constructor(private readonly steps: readonly StepDefinition[]) {
    this.chain = isChain(steps);
  }

  /** A completed step: true when it has outputs. */
  add(step: CompletedStep): boolean {
    if (!step.outputs || !Object.keys(step.outputs).length) return false;
    if (this.chain) outputsEnv(step, this.chainEnv);
    else this.withOutputs.push(step);
    return true;
  }

  /** The variables for the step at `index`. */
  envFor(index: number): Record<string, string> {
    if (this.chain) return this.chainEnv;
    const env: Record<string, string> = {};
    if (!this.withOutputs.length) return env;
    const needed = ancestorsOf(this.steps, index);
    for (const step of this.withOutputs) if (needed.has(step.id)) outputsEnv(step, env);
    return env;
  }
}
