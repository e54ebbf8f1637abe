import * as assert from 'node:assert/strict';
import { allowedRequests, canTransition, EVENTS, REQUESTS, TASK_STATES, transition, TransitionError, TRANSITIONS } from '../../src/protocol/transitions';

// The whole table, written out once more by hand: a change to the table must be a change here too.
const EXPECTED: Record<string, Record<string, string>> = {
  idle: { run: 'running', runFresh: 'running', reset: 'idle' },
  running: { pause: 'pausing', resume: 'running', interrupt: 'interrupting', finished: 'completed', stepFailed: 'failed', pauseReached: 'paused' },
  pausing: { pause: 'pausing', resume: 'running', interrupt: 'interrupting', finished: 'completed', stepFailed: 'failed', pauseReached: 'paused' },
  paused: { pause: 'paused', resume: 'running', runFresh: 'running', reset: 'idle' },
  interrupting: { interrupt: 'interrupting', processTreeGone: 'interrupted', finished: 'completed' },
  interrupted: { resume: 'running', runFresh: 'running', reset: 'idle' },
  completed: { run: 'running', runFresh: 'running', reset: 'idle' },
  failed: { resume: 'running', runFresh: 'running', reset: 'idle' },
  lost: { resume: 'running', runFresh: 'running', reset: 'idle' },
};

describe('transition table', () => {
  for (const from of TASK_STATES) {
    for (const action of [...REQUESTS, ...EVENTS]) {
      const to = EXPECTED[from][action];
      if (to) {
        it(`${from} --${action}--> ${to}`, () => {
          assert.equal(transition('t', from, action), to);
          assert.equal(canTransition(from, action), true);
        });
      } else {
        it(`${from} --${action}--> refused`, () => {
          assert.equal(canTransition(from, action), false);
          assert.throws(() => transition('nightly', from, action), (err: Error) => {
            assert.ok(err instanceof TransitionError);
            assert.match(err.message, new RegExp(`^cannot .* 'nightly': it is ${from}`));
            return true;
          });
        });
      }
    }
  }

  it('covers every state', () => assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...TASK_STATES].sort()));

  it('tells people what to do instead', () => {
    assert.throws(() => transition('n', 'paused', 'run'), /resume it, or run it with --fresh/);
    assert.throws(() => transition('n', 'completed', 'resume'), /run it again/);
    assert.throws(() => transition('n', 'running', 'reset'), /pause or interrupt it first/);
  });

  it('lists the requests each state allows, for menus', () => {
    assert.deepEqual(allowedRequests('running'), ['pause', 'resume', 'interrupt']);
    assert.deepEqual(allowedRequests('completed'), ['run', 'runFresh', 'reset']);
  });
});
