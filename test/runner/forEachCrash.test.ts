import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../../src/protocol/checkpoint';
import { taskPaths } from '../../src/protocol/paths';
import { ITEMS_QUEUED } from '../../src/runner/batchRun';
import { pidAlive, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

const ITEMS = 2000;
const CONCURRENCY = 4;
const KILLS = 20;

describe('runner: a forEach step killed with -9 at random moments, then resumed', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it(`${ITEMS} items, ${CONCURRENCY} at once, ${KILLS} crashes: every item done, none recorded as done runs again, at most ${CONCURRENCY} run twice a crash`, async () => {
    ws = workspace();
    const marks = path.join(ws.root, 'marks.txt');
    fs.writeFileSync(path.join(ws.root, 'items.txt'), Array.from({ length: ITEMS }, (_, i) => `i${i}\n`).join(''));
    ws.define('swarm', {
      env: { MARKS: marks },
      steps: [
        { id: 'mark', run: 'echo "$ITEM" >> "$MARKS"', forEach: { file: 'items.txt' }, concurrency: CONCURRENCY },
        { id: 'after', run: 'true' },
      ],
    });
    const paths = taskPaths(ws.tasksDir, 'swarm');
    const runsOf = () => {
      const counts = new Map<string, number>();
      for (const item of readLines(marks)) counts.set(item, (counts.get(item) ?? 0) + 1);
      return counts;
    };
    /** For every item the checkpoint recorded as done at some crash: how often it had run then. */
    const frozen = new Map<string, number>();
    let kills = 0;
    const start = () => (status(ws, 'swarm').status === 'idle' ? 'run' : 'resume');
    while (kills < KILLS) {
      const countsBefore = runsOf();
      const before = readLines(marks).length;
      const runner = ptaskChild(ws, start(), 'swarm');
      // Kill once a random number of further items (0-80) have run: before the first item, in the
      // middle of commits, during a compaction.
      const target = before + Math.floor(Math.random() * 81);
      const outcome = await Promise.race([
        runner.exited.then(() => 'exited' as const),
        waitFor('items to run', () => readLines(marks).length >= target && 'reached').then(() => 'reached' as const),
      ]);
      if (outcome === 'exited') break;
      runner.child.kill('SIGKILL');
      await runner.exited;

      const loaded = loadCheckpoint(paths);
      assert.ok(loaded.ok || loaded.error.code === 'missing', `checkpoint after kill ${kills + 1}: ${!loaded.ok && loaded.error.message}`);
      const counts = runsOf();
      const isDone = (i: number) => loaded.ok && (loaded.value.checkpoint.completed.some((s) => s.id === 'mark') || Boolean(loaded.value.batch?.isDone(i)));
      // The items that ran since the last look but are not recorded as done: each slot's running one,
      // the ITEMS_QUEUED queued behind it (batchRun.ts) that the slot may have started as the
      // ones before ended (the runner hears of their ends only when the slot's held reports go),
      // and those the runner before left running, which ended after that look and which this
      // runner adopts but may not have committed yet when it is killed (a kill right after it
      // started). The next runner commits those that ended from their records; the count of runs
      // below says none runs twice.
      const unrecorded = [...Array(ITEMS).keys()].filter((i) => (counts.get(`i${i}`) ?? 0) > (countsBefore.get(`i${i}`) ?? 0) && !isDone(i));
      assert.ok(unrecorded.length <= (ITEMS_QUEUED + 2) * CONCURRENCY, `crash ${kills + 1}: ${unrecorded.length} items ran and were not recorded as done`);
      for (let i = 0; i < ITEMS; i++) if (isDone(i) && !frozen.has(`i${i}`)) frozen.set(`i${i}`, counts.get(`i${i}`) ?? 0);
      assert.ok(['lost', 'idle', 'completed'].includes(status(ws, 'swarm').status));
      kills++;
      // The kill came as it completed (a busy machine ran the last items before the test saw its target).
      if (status(ws, 'swarm').status === 'completed') break;
    }
    if (status(ws, 'swarm').status !== 'completed') {
      const final = ptask(ws, start(), 'swarm');
      assert.equal(final.code, 0, final.stderr);
    }
    assert.equal(status(ws, 'swarm').status, 'completed');
    const counts = runsOf();
    for (let i = 0; i < ITEMS; i++) assert.ok((counts.get(`i${i}`) ?? 0) >= 1, `i${i} ran`);
    for (const [item, before] of frozen) assert.equal(counts.get(item), before, `${item} was recorded as done, then ran again`);
    const twice = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    assert.ok(twice <= CONCURRENCY * kills, `${twice} extra runs over ${kills} crashes`);
    assert.ok(kills >= KILLS / 2, `only ${kills} kills landed`);
    assert.ok(frozen.size > ITEMS / 4, `the crashes came after progress (${frozen.size} items recorded done at a crash)`);
    const loaded = loadCheckpoint(paths);
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.value.checkpoint.completed.map((s) => [s.id, s.items]), [['mark', ITEMS], ['after', undefined]]);
  });
});

describe('runner: items started just before a kill -9', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  // The slots record every attempt they start, so the next runner adopts such items (adoption.test.ts);
  // forked by the runner itself (no perl), they are found by their environment and stopped.
  before(() => (process.env.PTASK_EXECUTOR = 'local'));
  after(() => delete process.env.PTASK_EXECUTOR);

  it('forked by the runner (PTASK_EXECUTOR=local): the next runner stops them, although state.json had no time to list them', async function () {
    if (process.platform !== 'linux') this.skip(); // found by their environment in /proc
    ws = workspace();
    const pids = path.join(ws.root, 'pids.txt');
    // Each item records its pid, then works for a long time (unless stopped).
    ws.define('slow', { env: { PIDS: pids }, steps: [{ id: 'each', run: 'echo $$ >> "$PIDS"; exec sleep 60', forEach: { items: ['a', 'b'] }, concurrency: 2 }] });
    const runner = ptaskChild(ws, 'run', 'slow');
    const started = await waitFor('both items to start', () => readLines(pids).length === 2 && readLines(pids).map(Number));
    runner.child.kill('SIGKILL');
    await runner.exited;
    assert.ok(started.every(pidAlive), 'the items outlive their runner');
    // As if the kill came before state.json listed them (items are listed once they have run 50 ms).
    const stateFile = taskPaths(ws.tasksDir, 'slow').state;
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    if (state.currentStep) state.currentStep.processes = [];
    fs.writeFileSync(stateFile, JSON.stringify(state));

    const resumed = ptaskChild(ws, 'resume', 'slow');
    await waitFor('the orphaned items to be stopped', () => started.every((pid) => !pidAlive(pid)) && true);
    await waitFor('the items to run again', () => readLines(pids).length === 4 && true);
    assert.equal(ptask(ws, 'interrupt', 'slow').code, 0);
    await resumed.exited;
  });
});
