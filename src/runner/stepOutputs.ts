/**
 * What a step is handed of the outputs of the steps before it (`TASK_OUTPUT_<STEP>_<KEY>`): in a
 * graph, those of the steps it needs, directly or through others, and of no other; in a chain,
 * where that is every step before, one set built as the steps complete.
 */
import { ancestorsOf, isChain } from '../protocol/graph';
import type { CompletedStep, StepDefinition } from '../protocol/schemas';
import { outputsEnv } from './stepFiles';

const NONE: Record<string, string> = Object.freeze({}) as Record<string, string>;

export class StepOutputs {
  private readonly chainEnv: Record<string, string> = {};
  private readonly withOutputs: CompletedStep[] = [];
  private readonly chain: boolean;
  /** Changes whenever what envFor returns may have: a step with outputs completed. */
  private added = 0;

  constructor(private readonly steps: readonly StepDefinition[]) {
    this.chain = isChain(steps);
  }

  /** A completed step: true when it has outputs. */
  add(step: CompletedStep): boolean {
    if (!step.outputs || !Object.keys(step.outputs).length) return false;
    this.added++;
    if (this.chain) outputsEnv(step, this.chainEnv);
    else this.withOutputs.push(step);
    return true;
  }

  /** How many steps with outputs completed: what envFor returns is the same while this is. */
  get version(): number {
    return this.added;
  }

  /** The variables for the step at `index` (the same object for every step while none had outputs, or in a chain). */
  envFor(index: number): Record<string, string> {
    if (this.chain) return this.chainEnv;
    if (!this.withOutputs.length) return NONE;
    const env: Record<string, string> = {};
    const needed = ancestorsOf(this.steps, index);
    for (const step of this.withOutputs) if (needed.has(step.id)) outputsEnv(step, env);
    return env;
  }
}
