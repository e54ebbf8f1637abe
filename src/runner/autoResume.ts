/**
 * pauseOn.autoResume: a runner paused by a failure stays alive, paused, holding the lock, until
 * its resumeAt; then it resumes. A resume request cuts the wait short, a pause makes it a plain
 * pause, an interrupt ends it, and while pause-all is on the task does not resume (it stays paused,
 * by pause-all). `count` is the automatic resumes since the last progress.
 */
import * as fs from 'node:fs';
import type { UnfinishedStep } from '../protocol/schemas';
import type { RunContext, Stop } from './context';
import type { PauseOnPolicy } from './pauseOn';

export class AutoResumes {
  count = 0;

  constructor(private readonly pauseOn: PauseOnPolicy | undefined) {}

  get enabled(): boolean {
    return this.pauseOn?.autoResume !== undefined;
  }

  usedUp(): boolean {
    const auto = this.pauseOn?.autoResume;
    return auto !== undefined && this.count >= auto.maxAttempts;
  }

  givenUp(reason: string): string {
    return `${reason} (still failing after ${this.count} automatic resume${this.count === 1 ? '' : 's'})`;
  }

  /** "; resume 2 of 5", when autoResume counts. */
  describe(): string {
    const auto = this.pauseOn?.autoResume;
    return auto ? `; resume ${this.count} of ${auto.maxAttempts}` : '';
  }

  /** Wait, paused, until the automatic resume; the Stop when the wait ends the run, undefined when it goes on. */
  async wait(ctx: RunContext, unfinished: UnfinishedStep | null): Promise<Stop | undefined> {
    const { control, publisher, reporter } = ctx;
    const state = publisher.state;
    const auto = this.pauseOn!.autoResume!;
    const reason = control.matchedFailure!.reason;
    const resumeAt = Date.now() + this.pauseOn!.delayMs(this.count);
    const resumeAtIso = new Date(resumeAt).toISOString();
    // No waiting on a disk that cannot record the wait.
    if (!(await ctx.log.finalSnapshot('paused', { ...ctx.stopRecord(), failurePause: { reason, at: new Date().toISOString(), autoResumes: this.count, resumeAt: resumeAtIso } }))) return { kind: 'paused', unfinished };
    control.move('pauseReached');
    control.waiting = true;
    fs.rmSync(ctx.paths.pauseRequested, { force: true });
    Object.assign(state, { currentStep: null, reason, resumeAt: resumeAtIso, autoResume: { attempt: this.count + 1, maxAttempts: auto.maxAttempts } });
    publisher.save();
    reporter.info(
      `Paused '${ctx.id}' on a failure; resuming by itself at ${new Date(resumeAt).toTimeString().slice(0, 8)} (automatic resume ${this.count + 1} of ${auto.maxAttempts}). ` +
        `Resume, pause or interrupt it to decide now.`,
    );
    for (;;) {
      if (control.disowned) return { kind: 'interrupted', unfinished };
      const want = control.want(Date.now() >= resumeAt);
      if (want.want === 'wait') {
        await control.sleep(resumeAt - Date.now());
        continue;
      }
      if (want.want === 'interrupt') control.move('interrupt'); // a waiting runner has nothing in flight: interrupted
      control.waiting = false;
      delete state.resumeAt;
      delete state.autoResume;
      if (want.want === 'interrupt') return { kind: 'interrupted', unfinished };
      if (want.want === 'pause') {
        control.pausedBy = want.by;
        return { kind: 'paused', unfinished };
      }
      this.count++;
      control.matchedFailure = undefined;
      control.pausedBy = undefined;
      state.reason = undefined;
      control.move('resume');
      publisher.save();
      reporter.info(`Resuming '${ctx.id}'${this.describe()}`);
      return undefined;
    }
  }
}
