import * as assert from 'node:assert/strict';
import type { StepDefinition } from '../../src/protocol/schemas';
import { ChainScheduler } from '../../src/runner/scheduler';

const steps = ['a', 'b', 'c'].map((id) => ({ id, run: 'true' }) as StepDefinition);
const ids = (s: ChainScheduler) => s.ready().map((p) => `${p.step.id}@${p.index}`);

describe('scheduler: a chain', () => {
  it('offers the first step not done, one at a time, in order', () => {
    const s = new ChainScheduler(steps, []);
    assert.deepEqual(ids(s), ['a@0']);
    s.started('a');
    assert.deepEqual(ids(s), [], 'nothing else starts while a step runs');
    s.completed('a');
    assert.deepEqual(ids(s), ['b@1']);
    s.started('b');
    s.completed('b');
    s.started('c');
    s.completed('c');
    assert.deepEqual(ids(s), [], 'all done');
  });

  it('skips the steps a checkpoint says are done, wherever they are', () => {
    assert.deepEqual(ids(new ChainScheduler(steps, ['a', 'c'])), ['b@1']);
    assert.deepEqual(ids(new ChainScheduler(steps, ['a', 'b', 'c', 'removed-by-force'])), []);
  });

  it('offers a step that stopped again (it runs again on the next run)', () => {
    const s = new ChainScheduler(steps, ['a']);
    s.started('b');
    s.stopped('b');
    assert.deepEqual(ids(s), ['b@1']);
  });
});
