/** timeline.jsonl, the picture of a run's source, written by real runners: attempts, pauses, retries, a kill -9. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPicture } from '../../src/protocol/runPicture';
import { parseTimeline, type TimelineLine } from '../../src/protocol/timeline';
import { ptask, ptaskChild, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: the timeline of a run', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  const q = (p: string) => JSON.stringify(p);
  const lines = (): TimelineLine[] => parseTimeline(fs.readFileSync(ws.file('t', 'timeline.jsonl'), 'utf8'));
  const attempts = () => lines().filter((l): l is Extract<TimelineLine, { t: 'attempt' }> => l.t === 'attempt');

  it('records every attempt, retries and pauses included, and the runners that ran the task', async () => {
    const gate = path.join(ws.root, 'gate');
    const flag = path.join(ws.root, 'failed-once');
    // Item 1 fails once (a retry runs it again); items from 3 on wait for the gate, so that a pause comes mid-way.
    const item = `if [ "$ITEM" = 1 ] && [ ! -f ${q(flag)} ]; then touch ${q(flag)}; exit 3; fi; if [ "$ITEM" -ge 3 ]; then while [ ! -f ${q(gate)} ]; do sleep 0.02; done; fi`;
    ws.define('t', { steps: [{ id: 'prep', run: 'true' }, { id: 'each', run: item, forEach: { items: [0, 1, 2, 3, 4, 5] }, concurrency: 2, retries: 1, retryDelay: '10ms' }, { id: 'last', run: 'true' }] });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('items 3 and 4 in flight', () => ws.readJson('t', 'state.json').currentStep?.items?.running === 2 && ws.readJson('t', 'state.json').currentStep.items.done >= 3);
    assert.equal(ptask(ws, 'pause', 't').code, 0);
    await waitFor('pausing', () => ws.readJson('t', 'state.json').status === 'pausing');
    fs.writeFileSync(gate, '');
    assert.equal(await runner.exited, 2, runner.output());
    assert.deepEqual(lines().filter((l) => l.t === 'runner' || l.t === 'stop').map((l) => (l.t === 'runner' ? `runner ${l.resumed}` : `stop ${l.how}`)), ['runner false', 'stop paused']);
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    const all = lines();
    assert.deepEqual(all.filter((l) => l.t === 'runner' || l.t === 'stop').map((l) => (l.t === 'runner' ? `runner ${l.resumed}` : `stop ${l.how}`)), ['runner false', 'stop paused', 'runner true', 'stop completed']);
    const items = attempts().filter((a) => a.step === 'each');
    assert.deepEqual([...new Set(items.filter((a) => a.how === 'ok').map((a) => a.item))].sort(), [0, 1, 2, 3, 4, 5], 'every item once ok');
    assert.equal(items.filter((a) => a.how === 'ok').length, 6, 'none twice');
    assert.deepEqual(items.filter((a) => a.item === 1).map((a) => [a.n, a.how, a.said]), [[1, 'failed', 'exit 3'], [2, 'ok', undefined]]);
    for (const a of attempts()) assert.ok(a.end >= a.start && a.start > 0);
    // The picture of it: one bar per step and per item attempt, two runners and the pause between them.
    const picture = runPicture('t', ws.readJson('t', '../t.json'), all, ws.readJson('t', 'checkpoint.json'), ws.readJson('t', 'state.json'), 'completed');
    assert.deepEqual(picture.counts, { steps: 3, items: 6, attempts: 2 + 7 });
    assert.deepEqual(picture.runs.map((r) => r.how), ['paused', 'completed']);
  });

  it("a chain's steps, sent ahead and heard of late (reports are held), are recorded with their own times, as the timeline has them", async () => {
    // Twenty trivial steps: the slot holds their reports and the runner hears of several at once,
    // up to 50 ms after the first of them ended. A step's times in the checkpoint are its own.
    ws.define('t', { steps: Array.from({ length: 20 }, (_, i) => ({ id: `s${i}`, run: i === 10 ? 'sleep 0.2' : 'true' })) });
    assert.equal(ptask(ws, 'run', 't').code, 0);
    const ran = new Map(attempts().map((a) => [a.step, a]));
    const completed = ws.readJson('t', 'checkpoint.json').completed as { id: string; startedAt: string; endedAt: string; durationMs: number }[];
    assert.equal(completed.length, 20);
    for (const step of completed) {
      const a = ran.get(step.id)!;
      assert.deepEqual([Date.parse(step.startedAt), Date.parse(step.endedAt), step.durationMs], [a.start, a.end, a.end - a.start], step.id);
    }
    assert.ok(completed[10].durationMs >= 200, `s10 (sleep 0.2) took ${completed[10].durationMs} ms`);
  });

  it('a runner killed with -9 leaves no stop: the picture shows it lost; a new run starts a new timeline', async () => {
    ws.define('t', { steps: [{ id: 'a', run: 'true' }, { id: 'b', run: 'sleep 30' }, { id: 'c', run: 'true' }] });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('step b to run, a on the timeline', () => ws.readJson('t', 'state.json').currentStep?.id === 'b' && attempts().some((a) => a.step === 'a'));
    runner.child.kill('SIGKILL');
    await runner.exited;
    assert.equal(status(ws, 't').status, 'lost');
    assert.equal(runPicture('t', ws.readJson('t', '../t.json'), lines(), undefined, ws.readJson('t', 'state.json'), 'lost').runs[0].how, 'lost');
    ws.define('t', { steps: [{ id: 'a', run: 'true' }, { id: 'b', run: 'true' }, { id: 'c', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 't', '--fresh').code, 0);
    assert.deepEqual(lines().filter((l) => l.t === 'runner' || l.t === 'stop').map((l) => l.t), ['runner', 'stop'], 'the new run has its own timeline');
    assert.deepEqual(attempts().map((a) => a.step), ['a', 'b', 'c']);
  });
});
