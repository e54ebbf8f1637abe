import * as assert from 'node:assert/strict';
import { compileOutputPattern, outputPatternProblem } from '../../src/protocol/outputPattern';
import { PauseOnPolicy } from '../../src/runner/pauseOn';

describe('pauseOn', () => {
  it('plain text matches as a case-insensitive substring; /source/flags is a regular expression', () => {
    const text = compileOutputPattern('Rate Limit');
    assert.ok(text('error: RATE LIMIT exceeded'));
    assert.ok(!text('rate-limit'));
    const regex = compileOutputPattern('/\\b429\\b/');
    assert.ok(regex('HTTP 429 Too Many Requests'));
    assert.ok(!regex('id 14290'));
    assert.ok(compileOutputPattern('/quota/i')('QUOTA exceeded'));
    assert.ok(!compileOutputPattern('/quota/')('QUOTA exceeded'));
    assert.ok(compileOutputPattern('/429')('status /429'), 'not a /regex/: text');
  });

  it('refuses a regular expression that does not compile, or stateful flags', () => {
    assert.match(outputPatternProblem('/(429/')!, /not a valid regular expression/);
    assert.match(outputPatternProblem('/429/g')!, /flags may only be i, m, s and u/);
    assert.equal(outputPatternProblem('/429/i'), undefined);
  });

  it('says why a failed attempt pauses: an exit code listed, or the first matching line of its output', () => {
    const policy = new PauseOnPolicy({ exitCodes: [75], outputMatches: ['429', 'credit'] });
    assert.equal(policy.why({ kind: 'exited', exitCode: 75, signal: null }, undefined), 'exit code 75 is in pauseOn.exitCodes');
    assert.equal(policy.why({ kind: 'exited', exitCode: 1, signal: null }, undefined), undefined);
    const watch = policy.watch()!;
    for (const line of ['calling', '  out of CREDIT for this month  ', 'HTTP 429']) watch.onLine(line);
    assert.equal(policy.why({ kind: 'exited', exitCode: 1, signal: null }, watch), 'its output matched "credit": out of CREDIT for this month');
    assert.equal(policy.why({ kind: 'timed-out', timeoutMs: 5 }, watch), 'its output matched "credit": out of CREDIT for this month');
    assert.equal(policy.why({ kind: 'spawn-error', error: 'E2BIG' }, watch), undefined);
    assert.equal(new PauseOnPolicy({ exitCodes: [3] }).watch(), undefined, 'nothing to watch without outputMatches');
  });

  it('waits after × backoff^k before the (k+1)-th automatic resume; defaults backoff 2, at most 5', () => {
    const policy = new PauseOnPolicy({ exitCodes: [1], autoResume: { after: '5m' } });
    assert.deepEqual(policy.autoResume, { afterMs: 300_000, backoff: 2, maxAttempts: 5 });
    assert.deepEqual([0, 1, 2].map((k) => policy.delayMs(k)), [300_000, 600_000, 1_200_000]);
    const slow = new PauseOnPolicy({ exitCodes: [1], autoResume: { after: 10, backoff: 1.5, maxAttempts: 2 } });
    assert.deepEqual([0, 1].map((k) => slow.delayMs(k)), [10_000, 15_000]);
  });
});
