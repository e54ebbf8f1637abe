/**
 * What a run takes over from the runner before it (attemptRecords.ts): found before anything
 * else, pruned of what the checkpoint already holds, handed out as each step or item starts, and
 * whatever this run never reached stopped at its end.
 */
import { EXIT } from '../protocol/exitCodes';
import type { ItemProgress } from '../protocol/itemProgress';
import { terminateGroup } from '../protocol/processGroups';
import type { Checkpoint, RunnerState } from '../protocol/schemas';
import { AdoptedAttempt } from './adoptedAttempt';
import { control } from './slurm/commands';
import { adoptableAttempts, alreadyCommitted, type AttemptRecord } from './attemptRecords';
import type { AttemptSpec, RunningAttempt } from './executor';
import { RunnerError, type Reporter } from './reporter';
import { findElements } from './slurm/adoption';
import type { KnownElement, SlurmExecutor } from './slurm/slurmExecutor';

export class Adoptions {
  private readonly records = new Map<string, AttemptRecord>();
  private readonly elements = new Map<string, KnownElement>();

  /** `slurm`: the executor an adopted Slurm element is watched by. */
  constructor(private readonly graceMs: number, private readonly slurm: () => SlurmExecutor) {}

  /** Read what the slots recorded in `attemptsDir`, and what the run left in Slurm's queue (`slurmDir`). */
  async find(attemptsDir: string, slurmDir: string): Promise<void> {
    for (const record of await adoptableAttempts(attemptsDir)) this.records.set(record.key, record);
    const elements = await findElements(slurmDir);
    // Slurm does not answer: resuming now would submit again what may still run.
    if ('error' in elements) throw new RunnerError(`cannot see the run's Slurm jobs (${elements.error}): resume once squeue answers`, EXIT.failed);
    for (const element of elements) this.elements.set(element.key, element);
  }

  /** Process groups taken over: the search for a lost runner's leftovers spares them. */
  groups(): Set<number> {
    return new Set([...this.records.values()].flatMap((r) => (r.pgid ? [r.pgid] : [])));
  }

  /** Drop what the runner before committed already (it died after its commit). */
  prune(checkpoint: Pick<Checkpoint, 'completed' | 'unfinished' | 'alsoUnfinished'>, batch: ItemProgress | null): void {
    for (const record of this.records.values()) if (alreadyCommitted(record, checkpoint, batch)) this.records.delete(record.key);
    for (const element of this.elements.values()) if (alreadyCommitted(element, checkpoint, batch)) this.elements.delete(element.key);
  }

  /** Say what was taken over: in state.json (status, the tree) and in the runner's messages. */
  describe(state: RunnerState, reporter: Reporter): void {
    const all = [...this.records.values(), ...this.elements.values()];
    if (!all.length) return;
    const ended = all.filter((r) => r.end).length;
    state.adopted = { running: all.length - ended, ended };
    reporter.info(`Adopting what the lost runner left: ${state.adopted.running} attempt(s) still running (waited for, not run again), ${ended} that ended while no runner watched (committed from their records)`);
  }

  has(key: string): boolean {
    return this.records.has(key) || this.elements.has(key);
  }

  /** The attempt of this key the runner before left, taken over now; undefined when there is none. */
  take(spec: AttemptSpec): RunningAttempt | undefined {
    const element = this.elements.get(spec.record.key);
    if (element) {
      this.elements.delete(element.key);
      return this.slurm().adopt(element, spec);
    }
    const record = this.records.get(spec.record.key);
    if (!record) return undefined;
    this.records.delete(spec.record.key);
    return new AdoptedAttempt(record, this.graceMs, spec);
  }

  /** Attempts of these steps (their definition changed since): stopped, and not taken over. */
  async stopSteps(stepIds: string[], reporter: Reporter): Promise<void> {
    const records = [...this.records.values()].filter((r) => stepIds.includes(stepOf(r.key)));
    const elements = [...this.elements.values()].filter((e) => stepIds.includes(stepOf(e.key)));
    if (!records.length && !elements.length) return;
    reporter.info(`Stopping what the lost runner left of ${[...new Set([...records, ...elements].map((r) => `'${stepOf(r.key)}'`))].join(', ')}: changed since, it runs as it is defined now`);
    for (const r of records) this.records.delete(r.key);
    for (const e of elements) this.elements.delete(e.key);
    await Promise.all(records.map((r) => (r.pgid && !r.end ? terminateGroup(r.pgid, this.graceMs) : undefined)));
    await control('cancel', elements.filter((e) => !e.end).map((e) => e.id));
  }

  /**
   * Attempts this run never reached (it paused, stopped or was interrupted first). An interrupt
   * stops them all: the person asked for everything to stop. Otherwise only those of a step the
   * definition no longer has are stopped (they would run what is no one's now); those of a step
   * still there are left to the next runner with their records, and Slurm elements of theirs not
   * yet started are held: stopping them would lose their work, and their SIGTERM would read as a
   * failure to the runner that adopts them. True when some were left so (attempts/ and slurm/ stay).
   */
  async stopUnreached(steps: ReadonlySet<string>, interrupted: boolean): Promise<boolean> {
    const stop = (key: string) => interrupted || !steps.has(stepOf(key));
    const records = [...this.records.values()].filter((r) => stop(r.key));
    const elements = [...this.elements.values()].filter((e) => stop(e.key));
    const left = [...this.elements.values()].filter((e) => !stop(e.key) && !e.end && !e.held);
    await Promise.all(records.map((r) => (r.pgid && !r.end ? terminateGroup(r.pgid, this.graceMs) : undefined)));
    await control('cancel', elements.filter((e) => !e.end).map((e) => e.id));
    // Held whether pending or running: scontrol holds only what has not started.
    await control('hold', left.map((e) => e.id));
    return records.length < this.records.size || elements.length < this.elements.size;
  }
}

/** The step an attempt's key names ("<step>" or "<step>#<item index>"). */
const stepOf = (key: string) => (key.includes('#') ? key.slice(0, key.lastIndexOf('#')) : key);
