/**
 * A definition that breaks or vanishes while its task runs: the runner goes on with the copy it
 * started from, and status, pause, interrupt and pause-all still work. An edit is shown: it takes
 * effect on the next run.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: the definition changes under a running task', () => {
  let ws: Workspace;
  let marks: string;
  let gate: string;
  let runner: ReturnType<typeof ptaskChild>;
  beforeEach(async () => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    gate = path.join(ws.root, 'gate');
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'a', run: `${fixture('gate.js')} a` }, { id: 'b', run: `${fixture('mark.js')} b` }] });
    runner = ptaskChild(ws, 'run', 't');
    await waitFor('a to run', () => readLines(marks).length === 1);
  });
  afterEach(() => {
    fs.writeFileSync(gate, '');
    ws.cleanup();
  });

  for (const [what, change] of [
    ['broken (not JSON)', () => fs.writeFileSync(path.join(ws.tasksDir, 't.json'), '{"steps": [')],
    ['deleted', () => fs.rmSync(path.join(ws.tasksDir, 't.json'))],
  ] as const) {
    it(`${what}: status says so, pause and pause-all still work, and the run goes on with its own copy`, async () => {
      change();
      const shown = ptask(ws, 'status', 't');
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^t: running/);
      assert.match(shown.stdout, /definition .*t\.json: .*; the run goes on with the definition it started from/);
      assert.equal(JSON.parse(ptask(ws, 'status', 't', '--json').stdout).status, 'running');
      const pauseAll = ptask(ws, 'pause-all');
      assert.equal(pauseAll.code, 0, pauseAll.stderr);
      const pause = ptask(ws, 'pause', 't');
      assert.equal(pause.code, 0, pause.stderr);
      assert.match(pause.stdout, /Pausing 't' after the step in flight/);
      fs.writeFileSync(gate, '');
      assert.equal(await runner.exited, 2, runner.output());
      assert.equal(readLines(marks).length, 1, 'b did not start');
      assert.equal(ws.readJson('t', 'state.json').pausedBy, 'user');
    });
  }

  it('interrupt still works on a task whose definition was deleted', async () => {
    fs.rmSync(path.join(ws.tasksDir, 't.json'));
    const r = ptask(ws, 'interrupt', 't', '--wait', '--timeout', '10');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await runner.exited, 4);
  });

  it('an edit while running is shown: it takes effect on the next run', async () => {
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'a', run: `${fixture('gate.js')} a` }, { id: 'b', run: `${fixture('mark.js')} b2` }] });
    const shown = ptask(ws, 'status', 't');
    assert.match(shown.stdout, /definition changed since this run started: it takes effect on the next run/);
    assert.equal(JSON.parse(ptask(ws, 'status', 't', '--json').stdout).definitionChanged, true);
    fs.writeFileSync(gate, '');
    assert.equal(await runner.exited, 0);
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'b'], 'the run went on with the copy it started from');
    assert.equal(status(ws, 't').definitionChanged, undefined, 'not shown once the run is over');
  });
});
