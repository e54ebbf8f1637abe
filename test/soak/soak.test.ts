import * as assert from 'node:assert/strict';
import { formatSummary, runSoak } from './chaos';

/** A short run of the chaos soak (`npm run soak` runs it for five minutes with 20 tasks). */
describe('chaos soak (short)', () => {
  it('20 s of random requests, kills and concurrent resumes on 8 tasks: no invariant violated, every task completes', async function () {
    if (process.platform !== 'linux') this.skip(); // runners and steps are found in /proc
    // The chaos, then up to 120 s for every task to complete, then the checks.
    this.timeout(200_000);
    const summary = await runSoak({ seconds: 20, tasks: 8 });
    const report = formatSummary(summary);
    assert.deepEqual(summary.violations, [], report);
    assert.ok(summary.allCompleted, report);
    assert.ok(summary.completions >= 8, report);
    assert.ok(summary.kills > 0, `the chaos killed no runner\n${report}`);
  });
});
