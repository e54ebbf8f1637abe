/**
 * Appends the run's timeline (protocol/timeline) for the picture of a run: one write a line, as
 * it happens (a few microseconds an item; a line written later than the commit it goes with would
 * be a write nobody expects in a quiet run folder), never synced and never waited for. A write
 * that fails stops the timeline and nothing else: the picture is not worth pausing a task for
 * (the checkpoint and the journal are).
 */
import * as fs from 'node:fs';
import type { TimelineLine } from '../protocol/timeline';
import type { ExecEnd } from './executor';

const FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

export class TimelineLog {
  private fd: number | undefined;
  private broken = false;

  constructor(private readonly file: string) {}

  add(line: TimelineLine): void {
    if (this.broken) return;
    try {
      this.fd ??= fs.openSync(this.file, FLAGS, 0o644);
      fs.writeSync(this.fd, JSON.stringify(line) + '\n');
    } catch {
      this.broken = true;
    }
  }

  /** An attempt ended: how, in the picture's words. */
  attempt(key: string, n: number, start: number, end: ExecEnd): void {
    const hash = key.lastIndexOf('#');
    const step = hash < 0 ? key : key.slice(0, hash);
    const item = hash < 0 ? undefined : Number(key.slice(hash + 1));
    this.add({ t: 'attempt', step, ...(item !== undefined ? { item } : {}), n, start, end: Date.now(), ...outcome(end) });
  }

  /** Write nothing more (the run folder is another run's now, or the run ended). */
  close(): void {
    this.broken = true;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

function outcome(end: ExecEnd): Pick<Extract<TimelineLine, { t: 'attempt' }>, 'how' | 'said'> {
  switch (end.kind) {
    case 'exited':
      if (end.signal) return { how: 'stopped', said: end.signal };
      if (end.exitCode === 0) return { how: 'ok' };
      if (end.exitCode === 75) return { how: 'paused', said: 'exit 75' };
      return { how: 'failed', said: `exit ${end.exitCode}` };
    case 'held':
    case 'declined': // not written (taskRun.startAttempt): it never ran
      return { how: 'paused', said: end.kind };
    case 'cluster':
      return { how: 'failed', said: end.state };
    case 'lost':
      return { how: 'stopped', said: 'lost' };
    case 'spawn-error':
      return { how: 'failed', said: end.error };
  }
}
