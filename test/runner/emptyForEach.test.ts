/**
 * A forEach step that finds no items fails, naming the step, the source and why, and the steps
 * after it do not run; with "allowEmpty": true it completes with 0 items and the task goes on.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCheckpoint } from '../../src/protocol/checkpoint';
import { taskPaths } from '../../src/protocol/paths';
import { ptask, readLines, status, workspace, type Workspace } from './helpers';

describe('runner: a forEach step with no items', () => {
  let ws: Workspace;
  let outside: string;
  beforeEach(() => {
    ws = workspace();
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-outside-'));
    fs.writeFileSync(path.join(outside, 'x.txt'), 'outside\n');
  });
  afterEach(() => {
    ws.cleanup();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const cases: [string, () => object, RegExp][] = [
    [
      'a glob through a link to a folder outside the workspace',
      () => {
        fs.symlinkSync(outside, path.join(ws.root, 'data'));
        return { glob: 'data/*.txt' };
      },
      /step 'each' failed: forEach\.glob: "data\/\*\.txt" matched no file in \S+ \(data is a symbolic link to \S+ptask-outside-\S+, outside the workspace folder, so it was not followed; add "allowEmpty": true to the step if no items is fine\)/,
    ],
    ['a glob whose folder does not exist', () => ({ glob: 'data/*.txt' }), /step 'each' failed: forEach\.glob: "data\/\*\.txt" matched no file in \S+ \(its folder data does not exist; add "allowEmpty": true/],
    [
      'an empty items file',
      () => {
        fs.writeFileSync(path.join(ws.root, 'list.txt'), '');
        return { file: 'list.txt' };
      },
      /step 'each' failed: forEach\.file: \S+\/list\.txt is empty, so there are no items \(write one a line, or add "allowEmpty": true/,
    ],
    ['items: []', () => ({ items: [] }), /step 'each' failed: forEach\.items: the list is empty \(add items, or add "allowEmpty": true/],
  ];

  for (const [what, source, message] of cases) {
    it(`${what}: the step fails, saying why, and the next step does not run; with allowEmpty both complete`, () => {
      const seen = path.join(ws.root, 'seen.txt');
      const next = path.join(ws.root, 'next-ran');
      const forEach = source();
      const steps = (allowEmpty?: boolean) => [
        { id: 'each', run: 'echo "$ITEM" >> "$SEEN"', env: { SEEN: seen }, forEach, ...(allowEmpty === undefined ? {} : { allowEmpty }) },
        { id: 'next', run: 'touch "$NEXT"', env: { NEXT: next } },
      ];
      ws.define('t', { steps: steps() });
      const r = ptask(ws, 'run', 't');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /unexpected error|runner error|    at /);
      assert.equal(fs.existsSync(next), false, 'the next step did not run');
      assert.deepEqual(readLines(seen), [], 'no item ran');
      const failed = status(ws, 't');
      assert.equal(failed.status, 'failed');
      assert.equal(failed.stepsDone, 0);

      // "allowEmpty": false is the default, said out loud.
      ws.define('t', { steps: steps(false) });
      assert.equal(ptask(ws, 'run', 't', '--fresh').code, 1);
      assert.equal(fs.existsSync(next), false);

      ws.define('t', { steps: steps(true) });
      const ok = ptask(ws, 'run', 't', '--fresh');
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.equal(fs.existsSync(next), true, 'the next step ran');
      assert.deepEqual(readLines(seen), [], 'no item ran');
      assert.equal(status(ws, 't').status, 'completed');
      const loaded = loadCheckpoint(taskPaths(ws.tasksDir, 't'));
      assert.ok(loaded.ok, !loaded.ok ? loaded.error.message : '');
      assert.deepEqual(loaded.value.checkpoint.completed.map((c) => [c.id, c.items]), [['each', 0], ['next', undefined]]);
    });
  }

  it('a link to a folder inside the workspace is followed: its files are the items', () => {
    fs.mkdirSync(path.join(ws.root, 'store', 'batch-1'), { recursive: true });
    for (const f of ['a.txt', 'b.txt']) fs.writeFileSync(path.join(ws.root, 'store', 'batch-1', f), `${f}\n`);
    fs.mkdirSync(path.join(ws.root, 'work'));
    fs.symlinkSync('../store/batch-1', path.join(ws.root, 'work', 'current'));
    const seen = path.join(ws.root, 'seen.txt');
    ws.define('t', { cwd: 'work', steps: [{ id: 'each', run: 'cat "$ITEM" >> "$SEEN"', env: { SEEN: seen }, forEach: { glob: 'current/*.txt' } }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(seen), ['a.txt', 'b.txt'], 'each item opened through the link, from the step folder');
    assert.deepEqual(ws.readJson('t', 'checkpoint.json').completed[0].items, 2);
  });

  it('allowEmpty without forEach is refused when the definition is read', () => {
    ws.define('t', { steps: [{ id: 'a', run: 'true', allowEmpty: true }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 65);
    assert.match(r.stderr, /t\.json: steps\[0\]\.allowEmpty: allowEmpty applies only to a step with forEach/);
  });
});
