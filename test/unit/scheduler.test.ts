import * as assert from 'node:assert/strict';
import type { StepDefinition } from '../../src/protocol/schemas';
import { GraphScheduler } from '../../src/runner/scheduler';

const chain = ['a', 'b', 'c'].map((id) => ({ id, run: 'true' }) as StepDefinition);
const ids = (s: GraphScheduler) => s.ready().map((p) => `${p.step.id}@${p.index}`);
const graph = (spec: Record<string, string[] | undefined>, forEach: string[] = []) =>
  Object.entries(spec).map(([id, needs]) => ({ id, run: 'true', ...(needs ? { needs } : {}), ...(forEach.includes(id) ? { forEach: { items: [1] } } : {}) }) as StepDefinition);

describe('scheduler: a chain', () => {
  it('offers the first step not done, one at a time, in order', () => {
    const s = new GraphScheduler(chain, []);
    assert.deepEqual(ids(s), ['a@0']);
    assert.deepEqual(ids(s), [], 'nothing else starts while a step runs');
    s.completed('a');
    assert.deepEqual(ids(s), ['b@1']);
    s.completed('b');
    assert.deepEqual(ids(s), ['c@2']);
    s.completed('c');
    assert.deepEqual(ids(s), [], 'all done');
  });

  it('skips the steps a checkpoint says are done, wherever they are', () => {
    assert.deepEqual(ids(new GraphScheduler(chain, ['a', 'c'])), ['b@1']);
    assert.deepEqual(ids(new GraphScheduler(chain, ['a', 'b', 'c', 'removed-by-force'])), []);
  });

  it('a chain stays a chain whatever the concurrency', () => {
    const s = new GraphScheduler(chain, [], 4);
    assert.deepEqual(ids(s), ['a@0']);
    s.completed('a');
    assert.deepEqual(ids(s), ['b@1']);
  });

  it('does not offer a step that stopped, nor what needs it: the run ends, the next one runs them', () => {
    const s = new GraphScheduler(chain, ['a']);
    assert.deepEqual(ids(s), ['b@1']);
    s.stopped('b');
    assert.deepEqual(ids(s), []);
    assert.equal(s.running, 0);
  });
});

describe('scheduler: a graph', () => {
  // a → (b, c) → d, and e on its own
  const diamond = graph({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'], e: [] });

  it('starts independent steps at once up to the concurrency, in the order they are defined', () => {
    const s = new GraphScheduler(diamond, [], 2);
    assert.deepEqual(ids(s), ['a@0', 'e@4']);
    s.completed('a');
    assert.deepEqual(ids(s), ['b@1'], 'one slot free: the first ready');
    s.completed('e');
    assert.deepEqual(ids(s), ['c@2']);
    s.completed('b');
    assert.deepEqual(ids(s), [], 'd waits for c');
    s.completed('c');
    assert.deepEqual(ids(s), ['d@3']);
  });

  it('with concurrency 1 runs a graph one step at a time, ready steps in definition order', () => {
    const s = new GraphScheduler(diamond, []);
    const order: string[] = [];
    for (let [next] = s.ready(); next; [next] = s.ready()) {
      order.push(next.step.id);
      s.completed(next.step.id);
    }
    assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
  });

  it('resumes from what is done: only steps whose needs are all done are ready', () => {
    assert.deepEqual(ids(new GraphScheduler(diamond, ['a', 'b'], 4)), ['c@2', 'e@4']);
  });

  it('a step defined before what it needs waits for it', () => {
    const s = new GraphScheduler(graph({ late: ['early'], early: [] }), [], 2);
    assert.deepEqual(ids(s), ['early@1']);
    s.completed('early');
    assert.deepEqual(ids(s), ['late@0']);
  });

  it('runs two forEach steps one after the other, plain steps beside them', () => {
    const s = new GraphScheduler(graph({ x: [], y: [], p: [] }, ['x', 'y']), [], 3);
    assert.deepEqual(ids(s), ['x@0', 'p@2']);
    s.completed('x');
    assert.deepEqual(ids(s), ['y@1']);
  });

  it('schedules 10,000 steps in 10 chains, each once', () => {
    const steps: StepDefinition[] = [];
    for (let i = 0; i < 10_000; i++) steps.push({ id: `s${i}`, run: 'true', needs: i < 10 ? [] : [`s${i - 10}`] } as StepDefinition);
    const s = new GraphScheduler(steps, [], 10);
    const seen = new Set<string>();
    for (let ready = s.ready(); ready.length; ready = s.ready()) {
      assert.ok(ready.length <= 10);
      for (const p of ready) {
        seen.add(p.step.id);
        s.completed(p.step.id);
      }
    }
    assert.equal(seen.size, 10_000);
  });
});

describe('scheduler: the step that follows (what a slot may start the moment a step ends)', () => {
  it('in a chain, the next step, and the one after it, while nothing else is ready or in flight', () => {
    const s = new GraphScheduler(chain, []);
    assert.deepEqual(ids(s), ['a@0']);
    assert.equal(s.successor('a')?.step.id, 'b');
    assert.equal(s.successor('b')?.step.id, 'c', 'looked ahead past a step not started yet');
    assert.equal(s.successor('c'), undefined, 'the last step has none');
    s.completed('a');
    assert.equal(s.take('c'), undefined, 'a step not ready is not taken');
    assert.equal(s.take('b')?.index, 1, 'a queued step its slot started is taken as it becomes ready');
    assert.deepEqual(ids(s), [], 'and is in flight');
  });

  it('none where the step is not the only one to follow, or another needs more, or something else could start', () => {
    // b and c both need a: when a ends, two may start.
    const fork = new GraphScheduler(graph({ a: [], b: ['a'], c: ['a'] }), [], 2);
    assert.deepEqual(ids(fork), ['a@0']);
    assert.equal(fork.successor('a'), undefined);
    // c needs a and b: b's end alone does not make it ready while a runs.
    const join = new GraphScheduler(graph({ a: [], b: [], c: ['a', 'b'] }), [], 2);
    assert.deepEqual(ids(join), ['a@0', 'b@1']);
    assert.equal(join.successor('b'), undefined, 'c waits for a too');
    // Two independent steps at concurrency 1: the other one is ready, so none follows alone.
    const two = new GraphScheduler(graph({ a: [], b: [], c: ['a'] }), []);
    assert.deepEqual(ids(two), ['a@0']);
    assert.equal(two.successor('a'), undefined, 'b is ready too');
  });

  it('at concurrency 1, the next step of a chain among others ready, when it would go first of them', () => {
    // Two chains, a-b and c-d: with a in flight, c is ready, but b comes first in the definition.
    const def = graph({ a: [], b: ['a'], c: [], d: ['c'] });
    const one = new GraphScheduler(def, []);
    assert.deepEqual(ids(one), ['a@0']);
    assert.equal(one.successor('a')?.step.id, 'b');
    assert.equal(one.successor('b'), undefined, 'b ends its chain');
    one.completed('a');
    assert.equal(one.take('b')?.index, 1, 'what the scheduler would have started next');
    // At concurrency 2, c starts beside a: each chain's next step follows its own.
    const two = new GraphScheduler(def, [], 2);
    assert.deepEqual(ids(two), ['a@0', 'c@2']);
    assert.equal(two.successor('a')?.step.id, 'b');
    assert.equal(two.successor('c')?.step.id, 'd');
    two.completed('c');
    assert.equal(two.take('d')?.index, 3);
  });

  it('at concurrency 2, none where a step ready and waiting for a place comes first in the definition', () => {
    // Three chains a-b, c-d, e-f defined as a c e b d f: with a and c in flight, e waits, and it comes before b and d.
    const def = graph({ a: [], c: [], e: [], b: ['a'], d: ['c'], f: ['e'] });
    const two = new GraphScheduler(def, [], 2);
    assert.deepEqual(ids(two), ['a@0', 'c@1']);
    assert.equal(two.successor('a'), undefined, 'e starts in the place a leaves');
    two.completed('a');
    assert.deepEqual(ids(two), ['e@2']);
    assert.equal(two.successor('e'), undefined, 'b (index 3) is ready, before f');
    assert.equal(two.successor('c'), undefined, 'b is ready, and comes before d');
  });
});
