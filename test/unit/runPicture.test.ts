/** The picture of a run as data: rows, lanes, bars, and the runners' lives, from a timeline. */
import * as assert from 'node:assert/strict';
import { runPicture } from '../../src/protocol/runPicture';
import type { TaskDefinition } from '../../src/protocol/schemas';
import { parseTimeline, type TimelineLine } from '../../src/protocol/timeline';

const def: TaskDefinition = { steps: [{ id: 'fetch', run: 'true' }, { id: 'embed', run: 'true', forEach: { items: [0, 1, 2, 3] }, concurrency: 2 }, { id: 'report', run: 'true' }] };
const attempt = (step: string, start: number, end: number, extra: Partial<Extract<TimelineLine, { t: 'attempt' }>> = {}): TimelineLine => ({ t: 'attempt', step, n: 1, start, end, how: 'ok', ...extra });

describe('the picture of a run', () => {
  // fetch, then items 0 and 1 at once; a pause; a resume runs 2 (failing once, then a retry) and 3, then report.
  const timeline: TimelineLine[] = [
    { t: 'runner', at: 0, pid: 1, resumed: false },
    attempt('fetch', 0, 10),
    attempt('embed', 10, 20, { item: 0 }),
    attempt('embed', 11, 21, { item: 1 }),
    { t: 'stop', at: 22, how: 'paused' },
    { t: 'runner', at: 100_000, pid: 2, resumed: true },
    attempt('embed', 100_000, 100_005, { item: 2, how: 'failed', said: 'exit 3' }),
    attempt('embed', 100_006, 100_010, { item: 2, n: 2 }),
    attempt('embed', 100_001, 100_004, { item: 3 }),
    attempt('report', 100_011, 100_012),
    { t: 'stop', at: 100_013, how: 'completed' },
  ];
  const completed = { completed: ['fetch', 'embed', 'report'].map((id, index) => ({ id, index, exitCode: 0, attempts: 1, startedAt: 'a', endedAt: 'b', durationMs: 1 })) };

  it('a row per step, the items of a forEach step in as many lanes as ran at once, a bar per attempt', () => {
    const p = runPicture('t', def, timeline, completed, undefined, 'completed', 200_000);
    assert.deepEqual(p.rows, [{ step: 'fetch', lane: 'step' }, { step: 'embed', lane: 'step' }, { step: 'embed', lane: 0 }, { step: 'embed', lane: 1 }, { step: 'report', lane: 'step' }]);
    assert.deepEqual(p.counts, { steps: 3, items: 4, attempts: 7 });
    const embedSpan = p.bars.find((b) => b.step === 'embed' && b.item === undefined)!;
    assert.deepEqual([embedSpan.start, embedSpan.end, embedSpan.kind], [10, 100_010, 'ok']);
    const item2 = p.bars.filter((b) => b.item === 2);
    assert.deepEqual(item2.map((b) => [b.kind, b.n, b.said]), [['failed', 1, 'exit 3'], ['ok', 2, undefined]], 'the failure and its retry');
    for (const b of p.bars.filter((x) => x.item !== undefined)) assert.ok(p.rows[b.row].lane !== 'step');
  });

  it("the runners' lives, a pause between them; a runner that left no stop was lost", () => {
    assert.deepEqual(runPicture('t', def, timeline, completed, undefined, 'completed').runs.map((r) => r.how), ['paused', 'completed']);
    const crashed = timeline.filter((l) => !(l.t === 'stop' && l.how === 'paused'));
    assert.deepEqual(runPicture('t', def, crashed, completed, undefined, 'completed').runs.map((r) => r.how), ['lost', 'completed']);
    const dead = timeline.slice(0, -1);
    assert.equal(runPicture('t', def, dead, completed, undefined, 'lost').runs[1].how, 'lost', 'the state says no runner runs it');
  });

  it('items in flight are drawn from their start to now, in lanes beside the others', () => {
    const state = { currentStep: { id: 'embed', index: 1, attempt: 1, startedAt: new Date(100_000).toISOString(), processes: [{ pid: 7, item: 3, startedAt: 100_001 }] } } as never;
    const running = timeline.slice(0, 7); // items 0 and 1 done, a pause, item 2 failed once; item 3 runs
    const p = runPicture('t', def, running, undefined, state, 'running', 100_050);
    const item3 = p.bars.find((b) => b.item === 3)!;
    assert.deepEqual([item3.kind, item3.start, item3.end], ['running', 100_001, 100_050]);
    assert.ok(p.rows[item3.row].lane !== 'step');
    assert.equal(p.bars.find((b) => b.span)!.kind, 'running', "the step's span runs too");
  });

  it('a step in flight goes on to now; a step no longer defined is left out; a damaged line is skipped', () => {
    const state = { currentStep: { id: 'report', index: 2, attempt: 1, startedAt: new Date(100_011).toISOString() } } as never;
    const p = runPicture('t', def, [...timeline.slice(0, -2), attempt('gone', 1, 2)], completed, state, 'running', 100_500);
    const report = p.bars.find((b) => b.step === 'report')!;
    assert.deepEqual([report.kind, report.end], ['running', 100_500]);
    assert.ok(!p.bars.some((b) => b.step === 'gone'));
    assert.equal(parseTimeline('{"t":"runner","at":1,"pid":2,"resumed":false}\n{"t":"attem\n{"t":"bogus"}\n').length, 1);
  });
});
