/**
 * An attempt a lost runner left, taken over by its successor: not run again, not stopped, but
 * watched to its end like one of its own. Ended while no runner watched: its recorded end. Still
 * supervised by its slot: the end that slot records. Its slot gone but its processes alive: it
 * ends when they are gone, as 'lost' (nobody saw how), and runs again; so does one that paused
 * itself (exit 75) for the pause its runner was making. Pause waits for it;
 * interrupt and timeouts stop its group as any other.
 */
import * as fs from 'node:fs';
import { groupAlive, terminateGroup } from '../protocol/processGroups';
import { RecordsTail, slotAlive, type AttemptRecord } from './attemptRecords';
import { PAUSE_EXIT_CODE } from './attemptLoop';
import type { AttemptSpec, ExecEnd, RunningAttempt } from './executor';

/** How often an adopted attempt's records file (or its group) is looked at. */
const POLL_MS = 25;

export class AdoptedAttempt implements RunningAttempt {
  pid: number | undefined;
  exited = false;
  readonly ended: Promise<ExecEnd>;
  private stopping: Promise<void> | undefined;
  private stopWanted = false;

  /** `spec`: the attempt as this run would have started it: its log, and who wants its lines. */
  constructor(private readonly record: AttemptRecord, private readonly graceMs: number, private readonly spec: Pick<AttemptSpec, 'logFile' | 'logPrefix' | 'onStdoutLine' | 'onStarted'>) {
    this.pid = record.pgid;
    if (this.pid !== undefined) queueMicrotask(() => spec.onStarted?.(this.pid!));
    this.ended = this.watch().then(async (end) => {
      this.exited = true;
      // A failure is matched against pauseOn's patterns with the lines it logged, as if they had been seen.
      if (end.kind === 'exited' && end.exitCode !== 0 && spec.onStdoutLine) for (const line of lastAttemptLines(spec.logFile, spec.logPrefix ?? '')) spec.onStdoutLine(line);
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
          this.spec.onStarted?.(this.pid);
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

/** How much of the end of a log is read back for an adopted attempt's lines. */
const REPLAY_BYTES = 1024 * 1024;

/** The lines of the last attempt in a log (after its last header; for an item, its own prefixed lines). */
export function lastAttemptLines(logFile: string, prefix: string): string[] {
  let text: string;
  try {
    const fd = fs.openSync(logFile, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.min(size, REPLAY_BYTES));
      fs.readSync(fd, buffer, 0, buffer.length, size - buffer.length);
      text = buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
  const mine = text.split('\n').filter((line) => line.startsWith(prefix)).map((line) => line.slice(prefix.length));
  const header = mine.map((line) => line.startsWith('=== ')).lastIndexOf(true);
  return mine.slice(header + 1).filter(Boolean);
}
