/**
 * Nothing the runner writes may be too big for it to read back: a step state of 70 MB is kept by
 * reference, not copied into the checkpoint; an output of 200 KB reaches later steps through the
 * TASK_OUTPUTS file, not the environment (where it made every later spawn fail with E2BIG).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, readLines, workspace, type Workspace } from './helpers';

describe('runner: sizes', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
  });
  afterEach(() => ws.cleanup());

  it('a 70 MB TASK_STEP_STATE: the task fails, resumes and completes; checkpoint.json stays small', () => {
    // First run: saves 70 MB of state, then fails. On resume: finds its state and completes.
    const step = `if [ -s "$TASK_STEP_STATE" ]; then wc -c < "$TASK_STEP_STATE" >> ${JSON.stringify(marks)}; else head -c 73400320 /dev/zero | tr '\\0' x > "$TASK_STEP_STATE"; exit 3; fi`;
    ws.define('t', { steps: [{ id: 'big', run: step }, { id: 'after', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    const checkpoint = fs.statSync(ws.file('t', 'checkpoint.json')).size;
    assert.ok(checkpoint < 64 * 1024, `checkpoint.json is ${checkpoint} bytes`);
    assert.equal(ws.readJson('t', 'checkpoint.json').unfinished.stateBytes, 73400320);
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks).map((l) => l.trim()), ['73400320'], 'the step got its state back');
  });

  it('a 200 KB output: later steps read it from TASK_OUTPUTS; small ones are still in the environment', () => {
    const big = `node -e 'require("fs").writeFileSync(process.env.TASK_STEP_OUTPUT, JSON.stringify({ big: "x".repeat(200000), small: "ok" }))'`;
    const check = `node -e 'const o = JSON.parse(require("fs").readFileSync(process.env.TASK_OUTPUTS, "utf8")); require("fs").appendFileSync(${JSON.stringify(marks)}, [o.make.big.length, process.env.TASK_OUTPUT_MAKE_SMALL, process.env.TASK_OUTPUT_MAKE_BIG === undefined].join(" ") + "\\n")'`;
    ws.define('t', { steps: [{ id: 'make', run: big }, { id: 'use', run: check }, { id: 'again', run: check }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['200000 ok true', '200000 ok true']);
  });
});
