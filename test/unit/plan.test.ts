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
    assert.equal(plan[3].reason, "not run yet; after 'c'");
  });

  it('a done step that changed runs again, and every step that needs it (in a chain: every step after it); tuning alone changes nothing', () => {
    const plan = resumePlan(checkpoint(def()), def({}, { a: 'echo A' }));
    assert.equal(actions(plan), 'a:rerun b:rerun c:run d:run');
    assert.deepEqual(rerunIds(plan), ['a', 'b']);
    assert.equal(plan[0].reason, 'its run changed since it ran');
    assert.equal(plan[1].reason, "it needs 'a', which runs again");
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
    assert.equal(plan[4].reason, "new since the checkpoint; after 'd'");
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

  it('a graph: a changed step runs again with the steps that need it, directly or through others, and no other', () => {
    // a → b → d, c on its own (needs nothing); a, b and c done, d stopped
    const graph = (runs: Record<string, string> = {}): TaskDefinition => ({
      steps: [
        { id: 'a', run: runs.a ?? 'echo a', needs: [] },
        { id: 'b', run: 'echo b', needs: ['a'] },
        { id: 'c', run: 'echo c', needs: [] },
        { id: 'd', run: 'echo d', needs: ['b'] },
      ],
    });
    const ran = { ...checkpoint(graph()), completed: [done('a', 0), done('b', 1), done('c', 2)], unfinished: { id: 'd', index: 3, attempts: 1, outcome: 'failed' as const } };
    const plan = resumePlan(ran, graph({ a: 'echo A' }));
    assert.equal(actions(plan), 'a:rerun b:rerun c:done d:run');
    assert.equal(plan[1].reason, "it needs 'a', which runs again");
    assert.equal(plan[3].reason, "it stopped here (failed); after 'b'");
  });

  it('in an order that respects the graph, not the order the steps are written in', () => {
    const late: TaskDefinition = { steps: [{ id: 'report', run: 'true', needs: ['fetch'] }, { id: 'fetch', run: 'true', needs: [] }] };
    assert.deepEqual(runPlan(late).map((s) => `${s.id}: ${s.reason}`), ['fetch: it needs no other step', "report: it runs after 'fetch'"]);
  });

  it('a step up to date is kept as done, unless a step it needs runs; why a step is not up to date is said', () => {
    const d: TaskDefinition = { steps: ['a', 'b', 'c'].map((id) => ({ id, run: 'true', inputs: [`${id}.txt`] })) };
    const fresh = new Set(['a', 'c']);
    const upToDate = (step: { id: string }) => (fresh.has(step.id) ? { upToDate: true, reason: 'up to date: as when it succeeded' } : { upToDate: false, reason: `its input ${step.id}.txt changed` });
    const plan = runPlan(d, upToDate);
    assert.equal(actions(plan), 'a:done b:run c:run', 'c needs b, which runs');
    assert.equal(plan[1].reason, "'a' is up to date; its input b.txt changed");
    fresh.add('b');
    assert.equal(actions(runPlan(d, upToDate)), 'a:done b:done c:done', 'a second run runs nothing');
  });
});
