import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, pidAlive, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: pauseOn, a failure that pauses the task', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks.txt');
  });
  afterEach(() => ws.cleanup());

  const define = (fails: number, autoResume: object | undefined, step: object = {}) =>
    ws.define('t', {
      env: { MARKS: marks, FAILS: String(fails) },
      steps: [{ id: 'call', run: fixture('ratelimited.js'), ...step }, { id: 'after', run: 'true' }],
      pauseOn: { outputMatches: ['rate limit', '/\\b429\\b/'], ...(autoResume ? { autoResume } : {}) },
    });
  const pausedSnapshots = () =>
    fs
      .readdirSync(ws.file('t', 'checkpoints'))
      .filter((n) => n.endsWith('-paused.json'))
      .sort()
      .map((n) => JSON.parse(fs.readFileSync(path.join(ws.file('t', 'checkpoints'), n), 'utf8')));

  it('a step failing with "429" three times then succeeding: the task pauses three times, resuming after a growing delay, and completes', () => {
    define(3, { after: '100ms', backoff: 2, maxAttempts: 5 }, { retries: 2 });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(readLines(marks).length, 4, 'three failed attempts (no retries: a pause comes first), then one that succeeds');
    assert.equal(r.stdout.match(/Paused 't' on a failure/g)?.length, 3);
    const pauses = pausedSnapshots();
    assert.deepEqual(pauses.map((c) => c.failurePause.autoResumes), [0, 1, 2]);
    for (const [i, ms] of [100, 200, 400].entries()) {
      const wait = Date.parse(pauses[i].failurePause.resumeAt) - Date.parse(pauses[i].failurePause.at);
      assert.ok(Math.abs(wait - ms) <= 20, `wait ${i + 1}: ${wait}ms, expected about ${ms}ms`);
    }
    assert.equal(pauses[0].failurePause.reason, `step 'call' failed: exit code 1; its output matched "/\\b429\\b/": HTTP 429 Too Many Requests`);
    assert.equal(pauses[0].unfinished.outcome, 'paused');
    const s = status(ws, 't');
    assert.equal(s.status, 'completed');
    assert.equal(s.resumeAt, undefined);
  });

  it('with maxAttempts: 2 it fails with the reason after two automatic resumes', () => {
    define(3, { after: '50ms', maxAttempts: 2 });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step 'call' failed: exit code 1; its output matched .*429.* \(still failing after 2 automatic resumes\)/);
    assert.equal(readLines(marks).length, 3);
    const s = status(ws, 't');
    assert.equal(s.status, 'failed');
    assert.match(s.reason, /still failing after 2 automatic resumes/);
    // A person resuming a failed task starts a new run of automatic resumes.
    assert.equal(ptask(ws, 'resume', 't').code, 0);
  });

  it('without autoResume the task pauses on the failure and its runner exits; exit codes count too', () => {
    ws.define('t', { steps: [{ id: 'call', run: 'echo "no credit left"; exit 75' }], pauseOn: { exitCodes: [75, 3] } });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 2, r.stderr);
    const s = status(ws, 't');
    assert.equal(s.status, 'paused');
    assert.equal(s.pausedBy, 'failure');
    assert.match(s.reason, /step 'call' failed: exit code 75; exit code 75 is in pauseOn\.exitCodes/);
    assert.equal(s.resumeAt, undefined);
    assert.equal(ws.readJson('t', 'checkpoint.json').failurePause.autoResumes, 0);
    assert.equal(fs.existsSync(ws.file('t', 'runner.lock')), false);
  });

  it('while it waits, the task is paused with resumeAt and a live runner; a resume request cuts the wait short', async () => {
    define(1, { after: '1h' });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    const waiting = await waitFor('waiting to resume', () => {
      const s = status(ws, 't');
      return s.waiting && s;
    });
    assert.equal(waiting.status, 'paused');
    assert.equal(waiting.pausedBy, 'failure');
    assert.deepEqual(waiting.autoResume, { attempt: 1, maxAttempts: 5 });
    assert.ok(Math.abs(Date.parse(waiting.resumeAt) - Date.now() - 3_600_000) < 10_000, `resumeAt ${waiting.resumeAt}`);
    assert.ok(pidAlive(waiting.pid), 'its runner is alive');
    assert.equal(ws.readJson('t', 'checkpoint.json').failurePause.resumeAt, waiting.resumeAt);
    const shown = ptask(ws, 'status', 't');
    assert.match(shown.stdout, /resumes +at .* \(automatic resume 1 of 5\); its runner \(pid \d+\) is waiting/);
    // `ptask resume` asks the runner that is there (WAITING_TRANSITIONS), in the foreground too.
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /Resuming 't' now: its runner \(pid \d+\) was waiting/);
    await waitFor('completed', () => status(ws, 't').status === 'completed');
    assert.ok(!pidAlive(waiting.pid) || status(ws, 't').status === 'completed');
    assert.equal(readLines(marks).length, 2);
  });

  it('while it waits, a pause makes it a plain pause and an interrupt ends it; both free the runner', async () => {
    define(5, { after: '1h' });
    for (const [desired, expected] of [['paused', 'paused'], ['interrupted', 'interrupted']] as const) {
      assert.equal(ptask(ws, desired === 'paused' ? 'run' : 'resume', 't', '--detach').code, 0);
      const pid = (await waitFor('waiting', () => status(ws, 't').waiting && status(ws, 't'))).pid;
      // The CLI asks the waiting runner (WAITING_TRANSITIONS allows both) and waits for it to stop.
      const asked = ptask(ws, desired === 'paused' ? 'pause' : 'interrupt', 't', '--wait', '--timeout', '20');
      assert.equal(asked.code, 0, asked.stderr);
      assert.match(asked.stdout, new RegExp(`'t' is ${expected}`));
      await waitFor(`${expected}`, () => status(ws, 't').status === expected && !pidAlive(pid));
      const s = status(ws, 't');
      assert.equal(s.resumeAt, undefined);
      assert.equal(s.waiting, undefined);
      if (expected === 'paused') assert.equal(s.pausedBy, 'user');
      assert.equal(fs.existsSync(ws.file('t', 'runner.lock')), false);
    }
  });

  it('Ctrl+C while it waits pauses it for good (no automatic resume)', async () => {
    define(1, { after: '1h' });
    const run = ptaskChild(ws, 'run', 't');
    await waitFor('waiting', () => status(ws, 't').waiting);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 2, run.output());
    const s = status(ws, 't');
    assert.equal(s.pausedBy, 'signal');
    assert.equal(s.resumeAt, undefined);
  });

  it('a runner killed while waiting leaves the task paused with its resume time; the count of automatic resumes survives', async () => {
    define(5, { after: '1h', maxAttempts: 1 });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    const waiting = await waitFor('waiting', () => status(ws, 't').waiting && status(ws, 't'));
    process.kill(waiting.pid, 'SIGKILL');
    await waitFor('the runner gone', () => !pidAlive(waiting.pid));
    const s = status(ws, 't');
    assert.equal(s.status, 'paused', 'paused, not lost: nothing was in flight');
    assert.equal(s.pausedBy, 'failure');
    assert.equal(s.resumeAt, waiting.resumeAt, 'whoever honours resumeAt can still read it');
    assert.equal(s.waiting, false, 'no runner waits for it any more');
    // This resume is the one automatic resume allowed: failing again, the task fails.
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /It had paused on a failure \(step 'call' failed: .*\); resume 1 of 1/);
    assert.match(r.stderr, /still failing after 1 automatic resume\)/);
  });

  it('an item failing with "429" pauses the whole step (the items in flight finish), then it resumes by itself', () => {
    ws.define('t', {
      env: { MARKS: marks, FAILS: '1' },
      steps: [{ id: 'each', run: `${fixture('ratelimited.js')} "item$ITEM"`, forEach: { items: Array.from({ length: 12 }, (_, i) => String(i)) }, concurrency: 3 }],
      pauseOn: { outputMatches: ['429'], autoResume: { after: '50ms' } },
    });
    // Every item fails once: the first failure pauses the task; the items in flight also fail and stay to run.
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const runs = new Map<string, number>();
    for (const line of readLines(marks)) runs.set(line.split(' ')[0], (runs.get(line.split(' ')[0]) ?? 0) + 1);
    for (let i = 0; i < 12; i++) assert.equal(runs.get(`item${i}`), 2, `item ${i}: one failure, one success`);
    const pauses = pausedSnapshots();
    assert.ok(pauses.length >= 4, `${pauses.length} pauses`);
    assert.ok(pauses.every((c) => c.failurePause.autoResumes === 0), `items done between pauses reset the count of automatic resumes: ${JSON.stringify(pauses.map((c) => [c.failurePause, c.batch]))} ${readLines(marks).join(',')}`);
    assert.deepEqual(pauses[0].batch.failed, [], 'an item that paused the task is not a failed item');
  });

  it('items still failing after the automatic resumes fail the step, naming the item', () => {
    ws.define('t', {
      env: { MARKS: marks, FAILS: '99' },
      steps: [{ id: 'each', run: `${fixture('ratelimited.js')} "item$ITEM"`, forEach: { items: ['0', '1', '2'] } }],
      pauseOn: { outputMatches: ['429'], autoResume: { after: '20ms', maxAttempts: 1 } },
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step 'each' failed: item 0 \(0\) failed: exit code 1; its output matched "429": HTTP 429 Too Many Requests \(still failing after 1 automatic resume\)/);
    assert.deepEqual(readLines(marks), ['item0 1', 'item0 2']);
  });
});
