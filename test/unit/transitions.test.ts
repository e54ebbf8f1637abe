import * as assert from 'node:assert/strict';
import { allowedRequests, canTransition, EVENTS, REQUESTS, TASK_STATES, transition, TransitionError, TRANSITIONS, WAITING_TRANSITIONS } from '../../src/protocol/transitions';

// The whole table, written out once more by hand: a change to the table must be a change here too.
const EXPECTED: Record<string, Record<string, string>> = {
  idle: { run: 'running', runFresh: 'running', reset: 'idle' },
  running: { pause: 'pausing', resume: 'running', interrupt: 'interrupting', finished: 'completed', stepFailed: 'failed', pauseReached: 'paused', runnerError: 'failed', writeFailed: 'paused' },
  pausing: { pause: 'pausing', resume: 'running', interrupt: 'interrupting', finished: 'completed', stepFailed: 'failed', pauseReached: 'paused', runnerError: 'failed', writeFailed: 'paused' },
  paused: { pause: 'paused', resume: 'running', runFresh: 'running', reset: 'idle', runnerError: 'failed' },
  interrupting: { interrupt: 'interrupting', processTreeGone: 'interrupted', finished: 'completed', runnerError: 'failed', writeFailed: 'paused' },
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

  it('a paused task whose runner waits to resume it (pauseOn.autoResume) takes its requests to that runner', () => {
    assert.deepEqual(WAITING_TRANSITIONS, { pause: 'paused', resume: 'running', interrupt: 'interrupted' });
    assert.deepEqual(allowedRequests('paused', true), ['pause', 'resume', 'interrupt']);
    assert.equal(transition('n', 'paused', 'interrupt', true), 'interrupted');
    assert.throws(() => transition('n', 'paused', 'reset', true), /cannot reset 'n': it is paused: its runner is waiting to resume it/);
    assert.throws(() => transition('n', 'paused', 'runFresh', true), TransitionError);
    // Only "paused" has a waiting runner: other states keep their row.
    assert.equal(transition('n', 'running', 'pause', true), 'pausing');
  });

  it('lists the requests each state allows, for menus', () => {
    assert.deepEqual(allowedRequests('running'), ['pause', 'resume', 'interrupt']);
    assert.deepEqual(allowedRequests('completed'), ['run', 'runFresh', 'reset']);
  });
});
