import * as assert from 'node:assert/strict';
import { decide, type Inputs, type Want } from '../../src/runner/decide';

/** Every combination of what can ask the runner for something: 3 x 2 x 3 x 2 x 2 x 3 = 216. */
function* everyInput(): Generator<Inputs> {
  for (const taskDesired of ['running', 'paused', 'interrupted'] as const)
    for (const globalPaused of [false, true])
      for (const signals of [0, 1, 2] as const)
        for (const diskError of [false, true])
          for (const failureMatched of [false, true])
            for (const waiting of [undefined, { resumeDue: false }, { resumeDue: true }]) yield { taskDesired, globalPaused, signals, diskError, failureMatched, waiting };
}

/**
 * The table, written as the precedence the docs give, one rule a line: the first rule that
 * applies answers. A change to `decide` must be a change here too.
 */
const RULES: [string, (i: Inputs) => boolean, Want][] = [
  ['an interrupt asked', (i) => i.taskDesired === 'interrupted', { want: 'interrupt' }],
  ['a second signal', (i) => i.signals === 2, { want: 'interrupt' }],
  ['a full disk', (i) => i.diskError, { want: 'pause', by: 'disk' }],
  ['a person\'s pause', (i) => i.taskDesired === 'paused', { want: 'pause', by: 'user' }],
  ['waiting: a signal ends the wait', (i) => !!i.waiting && i.signals === 1, { want: 'pause', by: 'signal' }],
  ['waiting: not due yet, the failure stands', (i) => !!i.waiting && i.failureMatched && !i.waiting.resumeDue, { want: 'wait' }],
  ['pause all', (i) => i.globalPaused, { want: 'pause', by: 'global' }],
  ['waiting: due, or a resume cleared the failure', (i) => !!i.waiting, { want: 'run' }],
  ['a signal', (i) => i.signals === 1, { want: 'pause', by: 'signal' }],
  ['a matched failure', (i) => i.failureMatched, { want: 'pause', by: 'failure' }],
  ['nothing asks', () => true, { want: 'run' }],
];

describe('decide: what the runner wants now', () => {
  it('answers every one of the 216 combinations as the table of precedence says', () => {
    let n = 0;
    const seen = new Set<string>();
    for (const inputs of everyInput()) {
      const [rule, , expected] = RULES.find(([, applies]) => applies(inputs))!;
      assert.deepEqual(decide(inputs), expected, `${JSON.stringify(inputs)}: ${rule}`);
      seen.add(rule);
      n++;
    }
    assert.equal(n, 216);
    assert.equal(seen.size, RULES.length, 'every rule answers some combination');
  });

  const base: Inputs = { taskDesired: 'running', globalPaused: false, signals: 0, diskError: false, failureMatched: false };

  it('a person who pauses a task that pause-all paused makes it their pause (resume-all leaves it paused)', () => {
    assert.deepEqual(decide({ ...base, globalPaused: true, taskDesired: 'paused' }), { want: 'pause', by: 'user' });
  });

  it('a full disk keeps the task paused whatever is asked, but an interrupt', () => {
    assert.deepEqual(decide({ ...base, diskError: true }), { want: 'pause', by: 'disk' });
    assert.deepEqual(decide({ ...base, diskError: true, taskDesired: 'interrupted' }), { want: 'interrupt' });
  });

  it('pause all does not cut a wait for an automatic resume short; at its time the task stays paused, by pause all', () => {
    assert.deepEqual(decide({ ...base, failureMatched: true, globalPaused: true, waiting: { resumeDue: false } }), { want: 'wait' });
    assert.deepEqual(decide({ ...base, failureMatched: true, globalPaused: true, waiting: { resumeDue: true } }), { want: 'pause', by: 'global' });
  });

  it('Ctrl+C while waiting to resume pauses for good, pause all or not', () => {
    assert.deepEqual(decide({ ...base, failureMatched: true, globalPaused: true, signals: 1, waiting: { resumeDue: false } }), { want: 'pause', by: 'signal' });
  });

  it('a resume request, which clears the matched failure, ends the wait at once', () => {
    assert.deepEqual(decide({ ...base, failureMatched: false, waiting: { resumeDue: false } }), { want: 'run' });
  });

  it('while running, pause all comes before a signal, and a signal before a matched failure', () => {
    assert.deepEqual(decide({ ...base, globalPaused: true, signals: 1, failureMatched: true }), { want: 'pause', by: 'global' });
    assert.deepEqual(decide({ ...base, signals: 1, failureMatched: true }), { want: 'pause', by: 'signal' });
  });
});
