/**
 * An attempt a lost runner left, taken over by its successor: not run again, not stopped, but
 * watched to its end like one of its own. Ended while no runner watched: its recorded end. Still
 * supervised by its slot: the end that slot records. Its slot gone but its processes alive: it
 * ends when they are gone, as 'lost' (nobody saw how), and runs again; so does one that paused
 * itself (exit 75) for the pause its runner was making. Pause waits for it;
 * interrupt and timeouts stop its group as any other.
 */
import { groupAlive, terminateGroup } from '../protocol/processGroups';
import { RecordsTail, slotAlive, type AttemptRecord } from './attemptRecords';
import { PAUSE_EXIT_CODE } from './attemptLoop';
import type { ExecEnd, RunningAttempt } from './executor';

/** How often an adopted attempt's records file (or its group) is looked at. */
const POLL_MS = 25;

export class AdoptedAttempt implements RunningAttempt {
  pid: number | undefined;
  exited = false;
  readonly ended: Promise<ExecEnd>;
  private stopping: Promise<void> | undefined;
  private stopWanted = false;

  constructor(private readonly record: AttemptRecord, private readonly graceMs: number, private readonly onStarted?: (pid: number) => void) {
    this.pid = record.pgid;
    if (this.pid !== undefined) queueMicrotask(() => onStarted?.(this.pid!));
    this.ended = this.watch().then(async (end) => {
      this.exited = true;
      await this.stopping;
      return end;
    });
  }

  stop(): void {
    this.stopWanted = true;
    if (this.pid !== undefined && !this.exited) this.stopping ??= terminateGroup(this.pid, this.graceMs);
  }

  private async watch(): Promise<ExecEnd> {
    const records = new Map<string, AttemptRecord>([[this.record.key, this.record]]);
    const tail = new RecordsTail(this.record.file);
    for (;;) {
      // Whether the slot lives is asked before its records are read: an end it wrote before it exited is then read.
      const supervised = slotAlive(this.record);
      tail.read(records);
      const r = records.get(this.record.key)!;
      if (r.attempt === this.record.attempt) {
        if (r.pgid !== undefined && this.pid === undefined) {
          this.pid = r.pgid;
          this.onStarted?.(this.pid);
          if (this.stopWanted) this.stop();
        }
        // Exit 75 while no runner watched: it paused itself (its state saved) for a pause that is over now; it goes on.
        if (r.end) return r.end.kind === 'exited' && r.end.exitCode === PAUSE_EXIT_CODE ? { kind: 'lost' } : r.end;
        if (!supervised && !(r.pgid && groupAlive(r.pgid))) return { kind: 'lost' };
      } else if (!supervised) return { kind: 'lost' };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
