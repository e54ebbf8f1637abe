/**
 * Appends the run's timeline (protocol/timeline) for the picture of a run. Lines are gathered and
 * written at most every FLUSH_MS, in one write, and when the runner stops: a trivial item costs a
 * string in memory, not a system call. A write that fails stops the timeline and nothing else: the
 * picture is not worth pausing a task for (the checkpoint and the journal are).
 */
import * as fs from 'node:fs';
import type { TimelineLine } from '../protocol/timeline';
import type { ExecEnd } from './executor';

const FLUSH_MS = 250;
const FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

export class TimelineLog {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private broken = false;

  constructor(private readonly file: string) {}

  add(line: TimelineLine): void {
    if (this.broken) return;
    this.pending.push(JSON.stringify(line));
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** An attempt ended: how, in the picture's words. */
  attempt(key: string, n: number, start: number, end: ExecEnd): void {
    const hash = key.lastIndexOf('#');
    const step = hash < 0 ? key : key.slice(0, hash);
    const item = hash < 0 ? undefined : Number(key.slice(hash + 1));
    this.add({ t: 'attempt', step, ...(item !== undefined ? { item } : {}), n, start, end: Date.now(), ...outcome(end) });
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.broken || !this.pending.length) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    try {
      const fd = fs.openSync(this.file, FLAGS, 0o644);
      try {
        fs.writeSync(fd, text);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      this.broken = true;
    }
  }

  /** Write nothing more (the run folder is another run's now). */
  mute(): void {
    this.broken = true;
    clearTimeout(this.timer);
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
      return { how: 'paused', said: 'held' };
    case 'cluster':
      return { how: 'failed', said: end.state };
    case 'lost':
      return { how: 'stopped', said: 'lost' };
    case 'spawn-error':
      return { how: 'failed', said: end.error };
  }
}
