import * as assert from 'node:assert/strict';
import { runAttempts, type AttemptPolicy, type LoopHost } from '../../src/runner/attemptLoop';
import type { ExecEnd, RunningAttempt } from '../../src/runner/executor';
import { PauseOnPolicy } from '../../src/runner/pauseOn';

/** An attempt the test ends by hand; `stop()` ends it as a signal would. */
class FakeAttempt implements RunningAttempt {
  readonly pid = 1234;
  exited = false;
  stops = 0;
  private resolve!: (end: ExecEnd) => void;
  readonly ended = new Promise<ExecEnd>((r) => (this.resolve = r));

  exit(exitCode: number): void {
    this.exited = true;
    this.resolve({ kind: 'exited', exitCode, signal: null });
  }

  kill(signal: NodeJS.Signals): void {
    this.exited = true;
    this.resolve({ kind: 'exited', exitCode: null, signal });
  }

  stop(): void {
    this.stops++;
    this.exited = true;
    this.resolve({ kind: 'exited', exitCode: null, signal: 'SIGTERM' });
  }
}

/** A fake executor: each attempt exits with the next code of the script (a number), dies of a signal, or waits to be stopped ('hang'). */
function fakeExecutor(script: (number | 'hang' | 'SIGHUP' | 'SIGINT')[], lines: string[][] = []) {
  const started: FakeAttempt[] = [];
  const start = (n: number, watch: { onLine: (line: string) => void } | undefined) => {
    const attempt = new FakeAttempt();
    started.push(attempt);
    for (const line of lines[n - 1] ?? []) watch?.onLine(line);
    const next = script[n - 1];
    if (typeof next === 'number') queueMicrotask(() => attempt.exit(next));
    else if (next !== 'hang') queueMicrotask(() => attempt.kill(next));
    return attempt;
  };
  return { start, started };
}

function host(overrides: Partial<LoopHost> = {}) {
  const abort = new AbortController();
  const h: LoopHost & { abort: AbortController; status: 'running' | 'pausing' | 'interrupting' } = {
    abort,
    status: 'running',
    interrupt: abort.signal,
    pausing: () => h.status === 'pausing',
    running: () => h.status === 'running',
    // Retry delays are what is tested here: a real timer, of a few milliseconds.
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    onRetry: () => {},
    received: () => false,
    ...overrides,
  };
  return h;
}

const policy = (p: Partial<AttemptPolicy> = {}): AttemptPolicy => ({ retries: 0, retryDelayMs: 2, ...p });

describe('attempt loop (fake executor)', () => {
  it('succeeds on the first attempt that exits 0', async () => {
    const ex = fakeExecutor([0]);
    assert.deepEqual(await runAttempts(policy(), host(), ex.start), { kind: 'succeeded', attempt: 1, synced: false });
  });

  it('retries with a delay that doubles, then fails with the last reason', async () => {
    const ex = fakeExecutor([1, 2, 3]);
    const h = host();
    const retries: string[] = [];
    h.onRetry = (n, reason, delay) => retries.push(`${n}:${reason}:${delay}`);
    const settled = await runAttempts(policy({ retries: 2 }), h, ex.start);
    assert.equal(settled.kind, 'failed');
    assert.equal(settled.attempt, 3);
    assert.equal(settled.kind === 'failed' && settled.reason, 'exit code 3');
    assert.deepEqual(retries, ['1:exit code 1:2', '2:exit code 2:4']);
  });

  it('succeeds on a retry', async () => {
    const ex = fakeExecutor([1, 0]);
    assert.deepEqual(await runAttempts(policy({ retries: 3 }), host(), ex.start), { kind: 'succeeded', attempt: 2, synced: false });
  });

  it('a timeout stops the attempt through its executor, and counts as a failure', async () => {
    const ex = fakeExecutor(['hang']);
    const settled = await runAttempts(policy({ timeoutMs: 5 }), host(), ex.start);
    assert.equal(ex.started[0].stops, 1);
    assert.equal(settled.kind, 'failed');
    assert.equal(settled.kind === 'failed' && settled.reason, 'timed out after 5ms');
  });

  it('an interrupt stops the attempt in flight: interrupted, not failed, and no retry', async () => {
    const ex = fakeExecutor(['hang', 0]);
    const h = host();
    const running = runAttempts(policy({ retries: 5 }), h, ex.start);
    h.abort.abort();
    assert.deepEqual(await running, { kind: 'interrupted', attempt: 1 });
    assert.equal(ex.started.length, 1);
    assert.equal(ex.started[0].stops, 1);
  });

  it('an interrupt that came before starts nothing', async () => {
    const ex = fakeExecutor([0]);
    const h = host();
    h.abort.abort();
    assert.deepEqual(await runAttempts(policy(), h, ex.start), { kind: 'interrupted', attempt: 1 });
    assert.equal(ex.started.length, 0);
  });

  it('exit 75 while a pause is pending: paused inside the attempt, neither done nor failed', async () => {
    const ex = fakeExecutor([75]);
    const h = host();
    h.status = 'pausing';
    assert.deepEqual(await runAttempts(policy({ retries: 2 }), h, ex.start), { kind: 'pausedInside', attempt: 1 });
  });

  it("an attempt killed by the runner's own Ctrl+C or hang-up (caught as it started) is stopped with the runner, not failed", async () => {
    const hungUp = host({ received: (signal) => signal === 'SIGHUP' });
    hungUp.status = 'pausing';
    assert.deepEqual(await runAttempts(policy({ retries: 2 }), hungUp, fakeExecutor(['SIGHUP']).start), { kind: 'pausedInside', attempt: 1 });
    hungUp.status = 'interrupting';
    assert.deepEqual(await runAttempts(policy({ retries: 2 }), hungUp, fakeExecutor(['SIGHUP']).start), { kind: 'interrupted', attempt: 1 });
    // Another signal, or the same one while the runner goes on (it was not the runner's), is the attempt's own failure.
    hungUp.status = 'pausing';
    assert.equal((await runAttempts(policy(), hungUp, fakeExecutor(['SIGINT']).start)).kind, 'failed');
    const goingOn = host({ received: () => true });
    assert.deepEqual(await runAttempts(policy({ retries: 1 }), goingOn, fakeExecutor(['SIGHUP', 0]).start), { kind: 'succeeded', attempt: 2, synced: false });
  });

  it('exit 75 with no pause pending is an ordinary failure, retried', async () => {
    const ex = fakeExecutor([75, 0]);
    assert.deepEqual(await runAttempts(policy({ retries: 1 }), host(), ex.start), { kind: 'succeeded', attempt: 2, synced: false });
  });

  it('a failure that matches pauseOn settles at once, without using the retries', async () => {
    const pauseOn = new PauseOnPolicy({ exitCodes: [42], outputMatches: ['rate limit'] });
    const byCode = await runAttempts(policy({ retries: 3, pauseOn }), host(), fakeExecutor([42]).start);
    assert.equal(byCode.kind, 'pauseOn');
    assert.equal(byCode.kind === 'pauseOn' && byCode.why, 'exit code 42 is in pauseOn.exitCodes');
    const ex = fakeExecutor([1], [['calling the API', 'HTTP 429: Rate Limit exceeded']]);
    const byOutput = await runAttempts(policy({ retries: 3, pauseOn }), host(), ex.start);
    assert.equal(byOutput.kind, 'pauseOn');
    assert.match(byOutput.kind === 'pauseOn' ? byOutput.why : '', /matched "rate limit": HTTP 429/);
    assert.equal(ex.started.length, 1);
  });

  it('a pause or an interrupt during the retry delay stops the loop: the step or item runs again later', async () => {
    for (const status of ['pausing', 'interrupting'] as const) {
      const ex = fakeExecutor([1, 0]);
      const h = host();
      h.sleep = async () => void (h.status = status); // the request arrives while it waits
      const settled = await runAttempts(policy({ retries: 3 }), h, ex.start);
      assert.equal(settled.kind, 'stopped', status);
      assert.equal(settled.kind === 'stopped' && settled.reason, 'exit code 1');
      assert.equal(ex.started.length, 1, `${status}: no second attempt`);
    }
  });

  it('tells who asked when an attempt has ended, before it settles', async () => {
    const ex = fakeExecutor([1, 0]);
    const ended: number[] = [];
    await runAttempts(policy({ retries: 1 }), host(), ex.start, (a) => ended.push(a.pid!));
    assert.deepEqual(ended, [1234, 1234]);
  });
});
