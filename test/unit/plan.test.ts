/** The plan of a resume, as a pure function of the checkpoint and the definition now. */
import * as assert from 'node:assert/strict';
import { resumePlan, rerunIds, runPlan } from '../../src/protocol/plan';
import { definitionHash, publicDefinition, type Checkpoint, type TaskDefinition } from '../../src/protocol/schemas';

const def = (over: Partial<TaskDefinition> = {}, runs: Record<string, string> = {}): TaskDefinition => ({
  steps: ['a', 'b', 'c', 'd'].map((id) => ({ id, run: runs[id] ?? `echo ${id}` })),
  ...over,
});
const done = (id: string, index: number) => ({ id, index, exitCode: 0, attempts: 1, startedAt: 't', endedAt: `t${index}`, durationMs: 1 });
/** a and b done, c stopped (failed), under `ran`. */
const checkpoint = (ran: TaskDefinition): Pick<Checkpoint, 'completed' | 'unfinished' | 'definition' | 'definitionHash'> => ({
  completed: [done('a', 0), done('b', 1)],
  unfinished: { id: 'c', index: 2, attempts: 1, startedAt: 't', endedAt: 't', outcome: 'failed', error: 'exit code 1' },
  definition: publicDefinition(ran),
  definitionHash: definitionHash(ran),
});
const actions = (plan: ReturnType<typeof resumePlan>) => plan.map((s) => `${s.id}:${s.action}`).join(' ');

describe('the plan of a resume', () => {
  it('unchanged: the done steps stay done, the rest run', () => {
    const plan = resumePlan(checkpoint(def()), def());
    assert.equal(actions(plan), 'a:done b:done c:run d:run');
    assert.equal(plan[2].reason, 'it stopped here (failed: exit code 1)');
    assert.equal(plan[3].reason, 'not run yet');
  });

  it('a done step that changed runs again, and every step after it; tuning alone changes nothing', () => {
    const plan = resumePlan(checkpoint(def()), def({}, { a: 'echo A' }));
    assert.equal(actions(plan), 'a:rerun b:rerun c:run d:run');
    assert.deepEqual(rerunIds(plan), ['a', 'b']);
    assert.equal(plan[0].reason, 'its run changed since it ran');
    assert.equal(plan[1].reason, "it runs after 'a', which runs again");
    const tuned = def();
    tuned.steps[0].retries = 3;
    assert.equal(actions(resumePlan(checkpoint(def()), tuned)), 'a:done b:done c:run d:run');
  });

  it("the task's env or cwd changes every step; --force keeps every done step by id", () => {
    const plan = resumePlan(checkpoint(def()), def({ env: { BATCH: '128' } }));
    assert.equal(actions(plan), 'a:rerun b:rerun c:run d:run');
    assert.equal(plan[0].reason, "the task's env changed since it ran");
    const forced = resumePlan(checkpoint(def()), def({ env: { BATCH: '128' } }), true);
    assert.equal(actions(forced), 'a:done b:done c:run d:run');
    assert.match(forced[0].reason, /kept by --force$/);
  });

  it('the stopped step whose command was fixed runs as defined now; a new step is new; a secret value changed is not seen', () => {
    const fixed = def({}, { c: 'echo fixed' });
    fixed.steps.push({ id: 'e', run: 'echo e' });
    const plan = resumePlan(checkpoint(def()), fixed);
    assert.equal(actions(plan), 'a:done b:done c:run d:run e:run');
    assert.equal(plan[2].reason, 'it stopped here (failed: exit code 1); it runs as it is defined now');
    assert.equal(plan[4].reason, 'new since the checkpoint');
    const secret = resumePlan(checkpoint(def({ env: { API_TOKEN: 'one' } })), def({ env: { API_TOKEN: 'two' } }));
    assert.equal(actions(secret), 'a:done b:done c:run d:run', 'masked in the checkpoint: the plan cannot tell');
  });

  it('a checkpoint without the definition it ran under runs its done steps again; a run runs everything', () => {
    const bare = { ...checkpoint(def()), definition: undefined, definitionHash: 'v2:unknown' };
    const plan = resumePlan(bare, def());
    assert.equal(actions(plan), 'a:rerun b:rerun c:run d:run');
    assert.equal(plan[0].reason, 'the checkpoint does not hold the definition it ran under');
    assert.deepEqual(runPlan(def()).map((s) => s.action), ['run', 'run', 'run', 'run']);
  });
});
