import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadCheckpoint } from '../../src/protocol/checkpoint';
import { taskPaths } from '../../src/protocol/paths';
import { fixture, pidAlive, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

const STEPS = 40;
const KILLS = 25;

describe('runner: kill -9 at random moments, then resume', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it(`loses nothing over ${KILLS} crashes: checkpoints parse, done steps never run again, all steps complete`, async () => {
    ws = workspace();
    const marks = path.join(ws.root, 'marks.txt');
    ws.define('crashy', {
      env: { MARKS: marks },
      // Steps of varied length, so a kill lands before, during and after steps and commits.
      steps: Array.from({ length: STEPS }, (_, i) => ({ id: `s${i}`, run: `${fixture('mark.js')} s${i} ${(i * 7) % 40}` })),
    });
    const paths = taskPaths(ws.tasksDir, 'crashy');
    const runsOf = () => {
      const c = new Map<string, number>();
      for (const line of readLines(marks)) c.set(line.split(' ')[0], (c.get(line.split(' ')[0]) ?? 0) + 1);
      return c;
    };
    /** For every step the checkpoint recorded as done at some crash: how often it had run then. */
    const frozen = new Map<string, number>();
    let kills = 0;
    // A runner killed before its first checkpoint leaves the task idle: that one is run, not resumed.
    const start = () => (status(ws, 'crashy').status === 'idle' ? 'run' : 'resume');
    while (kills < KILLS) {
      const marksBefore = readLines(marks).length;
      const runner = ptaskChild(ws, start(), 'crashy');
      // Kill once a random number of further steps (0-2) have started: lands anywhere in a step's life.
      const target = marksBefore + Math.floor(Math.random() * 3);
      const outcome = await Promise.race([
        runner.exited.then(() => 'exited' as const),
        waitFor('steps to start', () => readLines(marks).length >= target && 'reached').then(() => 'reached' as const),
      ]);
      if (outcome === 'exited') break; // finished before we could kill it
      runner.child.kill('SIGKILL');
      await runner.exited;
      kills++;

      const loaded = loadCheckpoint(paths);
      assert.ok(loaded.ok || loaded.error.code === 'missing', `checkpoint after kill ${kills}: ${!loaded.ok && loaded.error.message}`);
      if (loaded.ok) {
        const counts = runsOf();
        for (const step of loaded.value.checkpoint.completed) if (!frozen.has(step.id)) frozen.set(step.id, counts.get(step.id) ?? 0);
      }
      const s = status(ws, 'crashy');
      assert.ok(['lost', 'idle', 'completed'].includes(s.status), `after kill -9 the task shows as lost, not ${s.status}`);
    }
    // The last crash may leave a step running as an orphan: resume stops it before running it again.
    const final = ptask(ws, start(), 'crashy');
    assert.ok(final.code === 0 || /completed/.test(final.stderr), final.stderr);
    assert.equal(status(ws, 'crashy').status, 'completed');
    const counts = runsOf();
    for (let i = 0; i < STEPS; i++) assert.ok((counts.get(`s${i}`) ?? 0) >= 1, `s${i} ran`);
    for (const [id, before] of frozen) assert.equal(counts.get(id), before, `${id} was recorded as done, then ran again`);
    const loaded = loadCheckpoint(paths);
    assert.ok(loaded.ok);
    assert.equal(loaded.value.checkpoint.completed.length, STEPS);
    assert.ok(kills >= KILLS / 2, `only ${kills} kills landed`);
    // No step process is left behind by any of the killed runners.
    for (const line of readLines(marks)) await waitFor(`step pid ${line} to end`, () => !pidAlive(Number(line.split(' ')[1])), 5000);
  });
});
