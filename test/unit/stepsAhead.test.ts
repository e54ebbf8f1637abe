/**
 * The steps sent ahead (stepQueue.ts) with the real scheduler and a host that records what it was
 * asked to start: each chain in flight has its own lane, and what is queued in it follows its own
 * steps, never another chain's.
 */
import * as assert from 'node:assert/strict';
import type { StepDefinition } from '../../src/protocol/schemas';
import type { AttemptSpec, ExecEnd, RunningAttempt } from '../../src/runner/executor';
import { GraphScheduler } from '../../src/runner/scheduler';
import { chainLane, QUEUE_AHEAD, StepsAhead } from '../../src/runner/stepQueue';

/** Two chains of `n` steps, a0..a(n-1) then b0..b(n-1), each step needing the one before it in its chain. */
const twoChains = (n: number) =>
  ['a', 'b'].flatMap((c) => Array.from({ length: n }, (_, i) => ({ id: `${c}${i}`, run: 'true', needs: i ? [`${c}${i - 1}`] : [] }) as StepDefinition));

/** A host whose slots are lanes: a lane has room while a step of it was started, and each attempt ends when told. */
function host() {
  const sent: { id: string; lane: string | undefined; behind: boolean }[] = [];
  const ends = new Map<string, (end: ExecEnd) => void>();
  const lanes = new Set<string>();
  const start = (spec: AttemptSpec): RunningAttempt => {
    const id = spec.record.key;
    sent.push({ id, lane: spec.lane, behind: Boolean(spec.behind) });
    if (spec.lane) lanes.add(spec.lane);
    let end!: (e: ExecEnd) => void;
    const ended = new Promise<ExecEnd>((resolve) => (end = resolve));
    ends.set(id, end);
    return { pid: undefined, exited: false, ended, stop: () => end({ kind: 'declined' }) };
  };
  return {
    sent,
    ends,
    /** A step started by the runner, as stepAttemptSpec names its lane. */
    startHead: (id: string, attempt = 1) => start({ command: 'true', cwd: '/', env: {}, logFile: '/dev/null', logHeader: '', record: { key: id, attempt }, lane: chainLane(id, attempt) }),
    host: {
      running: () => true,
      room: (lane: string) => lanes.has(lane),
      queueable: () => true,
      laneOf: (step: StepDefinition) => chainLane(step.id, 1),
      outputsFile: (step: StepDefinition) => `/outputs/${step.id}`,
      controlStamps: () => [],
      spec: (step: StepDefinition): AttemptSpec => ({ command: step.run, cwd: '/', env: {}, logFile: '/dev/null', logHeader: '', record: { key: step.id, attempt: 1 } }),
      start,
    },
  };
}

/** Two chains of `n` at `concurrency`: the ready steps started, as the runner would, and the queues filled behind them. */
function begin(n: number, concurrency: number) {
  const scheduler = new GraphScheduler(twoChains(n), [], concurrency);
  const h = host();
  const ahead = new StepsAhead(h.host);
  const started = scheduler.ready();
  for (const s of started) h.startHead(s.step.id);
  ahead.fill(scheduler, started);
  return { scheduler, h, ahead, started };
}

describe('steps sent ahead: a lane for each chain in flight', () => {
  it('at concurrency 2, each chain is sent ahead in its own lane, behind its own step', () => {
    const { h, started } = begin(4, 2);
    assert.deepEqual(started.map((s) => s.step.id), ['a0', 'b0']);
    const queued = h.sent.filter((s) => s.behind);
    assert.deepEqual(
      queued.map((s) => `${s.id} ${s.lane}`),
      ['a1 #chain a0 1', 'a2 #chain a0 1', 'a3 #chain a0 1', 'b1 #chain b0 1', 'b2 #chain b0 1', 'b3 #chain b0 1'],
    );
  });

  it('a queued step becomes startable once the step before it completes, and goes before any other ready step', () => {
    // a0 a1 and b0 b1 at concurrency 1: b0 is ready beside a1 once a0 is done, but a1 comes first.
    const { scheduler, ahead } = begin(2, 1);
    assert.deepEqual(ahead.takeReady(scheduler), [], 'a0 still runs');
    scheduler.completed('a0');
    assert.deepEqual(ahead.takeReady(scheduler).map((p) => p.step.id), ['a1']);
    assert.deepEqual(scheduler.ready(), [], 'no place is left for b0');
    assert.equal(ahead.take('a1')?.lane, '#chain a0 1', 'the attempt its slot has');
    assert.equal(ahead.take('b0'), undefined, 'b0 was never queued');
  });

  it('a lane with nothing left to queue ends; the next chain begins its own', () => {
    const { scheduler, h, ahead } = begin(2, 1);
    scheduler.completed('a0');
    let started = ahead.takeReady(scheduler);
    ahead.take('a1');
    ahead.fill(scheduler, started);
    scheduler.completed('a1');
    started = scheduler.ready();
    assert.deepEqual(started.map((s) => s.step.id), ['b0']);
    h.startHead('b0');
    ahead.fill(scheduler, started);
    assert.deepEqual(h.sent.filter((s) => s.behind).map((s) => `${s.id} ${s.lane}`), ['a1 #chain a0 1', 'b1 #chain b0 1']);
  });

  it(`sends at most ${QUEUE_AHEAD} ahead in a lane, and more as they are taken`, () => {
    const { scheduler, h, ahead } = begin(QUEUE_AHEAD + 10, 2);
    assert.equal(h.sent.filter((s) => s.behind && s.lane === '#chain a0 1').length, QUEUE_AHEAD);
    scheduler.completed('a0');
    const next = ahead.takeReady(scheduler);
    assert.deepEqual(next.map((p) => p.step.id), ['a1']);
    ahead.take('a1');
    ahead.fill(scheduler, next);
    const inA = h.sent.filter((s) => s.behind && s.lane === '#chain a0 1');
    assert.equal(inA.length, QUEUE_AHEAD + 1);
    assert.equal(inA.at(-1)?.id, `a${QUEUE_AHEAD + 1}`);
  });

  it('a stop waits for a lane behind a step still in flight, and takes what another lane started', async () => {
    const { scheduler, h, ahead } = begin(3, 2);
    scheduler.completed('a0');
    // a1's slot started it (a queued step is known started once it ends, as much as by its start); b0 still runs.
    h.ends.get('a1')!({ kind: 'exited', exitCode: 0, signal: null });
    // Were b's lane waited for, this would never resolve: b1 neither starts nor ends.
    const planned = await ahead.startedAnyway(scheduler, false, (id) => id === 'b0');
    assert.equal(planned?.step.id, 'a1', 'the step its slot started runs to its commit');
  });
});
