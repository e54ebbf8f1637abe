/**
 * What a run takes over from the runner before it (attemptRecords.ts): found before anything
 * else, pruned of what the checkpoint already holds, handed out as each step or item starts, and
 * whatever this run never reached stopped at its end.
 */
import type { ItemProgress } from '../protocol/itemProgress';
import { terminateGroup } from '../protocol/processGroups';
import type { Checkpoint, RunnerState } from '../protocol/schemas';
import { AdoptedAttempt } from './adoptedAttempt';
import { adoptableAttempts, alreadyCommitted, type AttemptRecord } from './attemptRecords';
import type { AttemptSpec } from './executor';
import type { Reporter } from './reporter';

export class Adoptions {
  private readonly records = new Map<string, AttemptRecord>();

  constructor(private readonly graceMs: number) {}

  /** Read what the slots recorded in `dir`. */
  async find(dir: string): Promise<void> {
    for (const record of await adoptableAttempts(dir)) this.records.set(record.key, record);
  }

  /** Process groups taken over: the search for a lost runner's leftovers spares them. */
  groups(): Set<number> {
    return new Set([...this.records.values()].flatMap((r) => (r.pgid ? [r.pgid] : [])));
  }

  /** Drop what the runner before committed already (it died after its commit). */
  prune(checkpoint: Pick<Checkpoint, 'completed' | 'unfinished'>, batch: ItemProgress | null): void {
    for (const record of this.records.values()) if (alreadyCommitted(record, checkpoint, batch)) this.records.delete(record.key);
  }

  /** Say what was taken over: in state.json (status, the tree) and in the runner's messages. */
  describe(state: RunnerState, reporter: Reporter): void {
    if (!this.records.size) return;
    const ended = [...this.records.values()].filter((r) => r.end).length;
    state.adopted = { running: this.records.size - ended, ended };
    reporter.info(`Adopting what the lost runner left: ${state.adopted.running} attempt(s) still running (waited for, not run again), ${ended} that ended while no runner watched (committed from their records)`);
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  /** The attempt of this key the runner before left, taken over now; undefined when there is none. */
  take(spec: AttemptSpec): AdoptedAttempt | undefined {
    const record = this.records.get(spec.record.key);
    if (!record) return undefined;
    this.records.delete(spec.record.key);
    return new AdoptedAttempt(record, this.graceMs, spec);
  }

  /** Attempts this run never reached (their step went with a changed definition): stopped; they run again. */
  async stopUnreached(): Promise<void> {
    await Promise.all([...this.records.values()].map((r) => (r.pgid && !r.end ? terminateGroup(r.pgid, this.graceMs) : undefined)));
  }
}
