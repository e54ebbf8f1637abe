/**
 * Appends the run's timeline (protocol/timeline) for the picture of a run. Lines are written in
 * groups, at most FLUSH_MS after the first of them (and at once for the runner's start and stop,
 * and when the run ends), never synced and never waited for: a write a line cost a trivial item
 * more than a tenth of the runner's time. A runner killed loses the picture of its last moment,
 * nothing else. A write that fails stops the timeline and nothing else: the picture is not worth
 * pausing a task for (the checkpoint and the journal are).
 */
import * as fs from 'node:fs';
import type { TimelineLine } from '../protocol/timeline';
import type { ExecEnd } from './executor';

const FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;
/** How long a line may wait for others to be written with. */
const FLUSH_MS = 100;
/** Lines that are written at once, however soon. */
const MAX_PENDING = 256;

export class TimelineLog {
  private fd: number | undefined;
  private broken = false;
  private pending = '';
  private count = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly file: string) {}

  add(line: TimelineLine): void {
    if (this.broken) return;
    this.pending += JSON.stringify(line) + '\n';
    if (++this.count >= MAX_PENDING || line.t !== 'attempt') this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      // Nothing but these lines left to do: they do not keep the runner alive (close writes them).
      this.timer.unref();
    }
  }

  /** An attempt ended: how, in the picture's words. */
  attempt(key: string, n: number, times: { started: number; ended: number }, end: ExecEnd): void {
    const hash = key.lastIndexOf('#');
    const step = hash < 0 ? key : key.slice(0, hash);
    const item = hash < 0 ? undefined : Number(key.slice(hash + 1));
    this.add({ t: 'attempt', step, ...(item !== undefined ? { item } : {}), n, start: times.started, end: times.ended, ...outcome(end) });
  }

  /** Write the lines waiting. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.broken || !this.pending) return;
    const text = this.pending;
    this.pending = '';
    this.count = 0;
    try {
      this.fd ??= fs.openSync(this.file, FLAGS, 0o644);
      fs.writeSync(this.fd, text);
    } catch {
      this.broken = true;
    }
  }

  /** Write what waits, then nothing more (the run ended). */
  close(): void {
    this.flush();
    this.mute();
  }

  /** Write nothing more, not even what waits (the run folder is another run's now). */
  mute(): void {
    clearTimeout(this.timer);
    this.pending = '';
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
