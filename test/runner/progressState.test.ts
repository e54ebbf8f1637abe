/**
 * What a step prints cannot corrupt state.json: hostile `::progress` lines (huge, negative, not
 * numbers, done above total) among many valid ones, while the runner writes the state. Every
 * version read validates against state.json's own schema, and the task completes.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stateSchema } from '../../src/protocol/schemas';
import { ptaskChild, status, waitFor, workspace, type Workspace } from './helpers';

type Progress = { done: number; total: number };

const NINES = '9'.repeat(400);
/** Each line, and the progress state.json must show once the runner has read it (undefined: the line before it stays). */
const HOSTILE: [string, Progress?][] = [
  [`::progress ${NINES}/5`],
  [`::progress 5/${NINES}`],
  [`::progress ${NINES}/${NINES}`],
  ['::progress 12345678901234567890/12345678901234567890'],
  ['::progress 9007199254740993/9007199254740993'],
  ['::progress -1/5'],
  ['::progress NaN/3'],
  ['::progress Infinity/Infinity'],
  ['::progress 1e3/5000'],
  ['::progress 3 /5'],
  ['::progress  3/5'],
  ['::progress 3/0', { done: 0, total: 0 }],
  ['::progress 7/5', { done: 5, total: 5 }],
  ['::progress 9007199254740991/9007199254740991', { done: 9007199254740991, total: 9007199254740991 }],
];
/** Valid progress lines printed among hostile ones, after the gated ones. */
const FLOOD_ROUNDS = 20;
const FLOOD_LINES = 200;

/**
 * The step: for each hostile line, a valid marker ("<i+1>/1000") and the hostile line in one write,
 * then it waits for gate-<i> (the test has seen the state that follows). Then rounds of many valid
 * lines mixed with hostile ones, each round gated the same way on its marker ("<r+1>/2000").
 */
const STEP = `
const fs = require('fs');
const path = require('path');
const hostile = JSON.parse(process.env.HOSTILE);
const gates = process.env.GATES;
const gate = (name) => new Promise((resolve) => {
  const started = Date.now();
  const timer = setInterval(() => {
    if (fs.existsSync(path.join(gates, name))) { clearInterval(timer); resolve(); }
    else if (Date.now() - started > 60000) process.exit(70);
  }, 5);
});
(async () => {
  for (let i = 0; i < hostile.length; i++) {
    fs.writeSync(1, '::progress ' + (i + 1) + '/1000\\n' + hostile[i] + '\\n');
    await gate('gate-' + i);
  }
  for (let r = 0; r < ${FLOOD_ROUNDS}; r++) {
    let block = '';
    for (let k = 0; k < ${FLOOD_LINES}; k++) {
      block += '::progress ' + (r * ${FLOOD_LINES} + k) + '/' + ${FLOOD_ROUNDS * FLOOD_LINES} + '\\n';
      block += hostile[(r + k) % hostile.length] + '\\n';
    }
    fs.writeSync(1, block);
    fs.writeSync(1, '::progress ' + (r + 1) + '/2000\\n' + hostile[r % 11] + '\\n');
    await gate('flood-' + r);
  }
})();
`;

describe('runner: hostile ::progress lines cannot corrupt state.json', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  it('every state.json read while the step prints them validates, done never exceeds total, and the task completes', async () => {
    const gates = path.join(ws.root, 'gates');
    fs.mkdirSync(gates);
    fs.writeFileSync(path.join(ws.root, 'step.js'), STEP);
    // The 11 first lines are ignored: the flood's round markers stay as they are.
    assert.ok(HOSTILE.slice(0, 11).every(([, expected]) => expected === undefined));
    ws.define('t', {
      env: { HOSTILE: JSON.stringify(HOSTILE.map(([line]) => line)), GATES: gates },
      steps: [{ id: 'hostile', run: 'node step.js' }, { id: 'after', run: 'true' }],
    });
    const stateFile = ws.file('t', 'state.json');
    let reads = 0;
    const invalid: string[] = [];
    const seen = new Set<string>();
    /** The state now, validated and counted; undefined while it cannot be read (not there yet, or mid-replace). */
    const readState = () => {
      let text: string;
      let state: any;
      try {
        text = fs.readFileSync(stateFile, 'utf8');
        state = JSON.parse(text);
      } catch {
        return undefined;
      }
      reads++;
      const parsed = stateSchema.safeParse(state);
      const progress = state?.currentStep?.progress;
      if (!parsed.success) invalid.push(`${parsed.error.message}\n${text.slice(0, 500)}`);
      else if (progress && progress.done > progress.total) invalid.push(`done above total: ${JSON.stringify(progress)}`);
      if (progress) seen.add(`${progress.done}/${progress.total}`);
      return state;
    };
    /** Waits until state.json shows `expected`, or any version read is invalid (then fails at once, with it). */
    const waitForProgress = async (expected: Progress, after: string) => {
      await waitFor(`state.json with progress ${expected.done}/${expected.total} after ${after.slice(0, 60)}`, () => {
        const p = readState()?.currentStep?.progress;
        return invalid.length > 0 || (p?.done === expected.done && p?.total === expected.total);
      });
      assert.deepEqual(invalid, [], `after ${after.slice(0, 60)}`);
    };

    const runner = ptaskChild(ws, 'run', 't');
    let code: number | undefined;
    void runner.exited.then((c) => (code = c));
    for (const [i, [line, expected]] of HOSTILE.entries()) {
      await waitForProgress(expected ?? { done: i + 1, total: 1000 }, line);
      fs.writeFileSync(path.join(gates, `gate-${i}`), '');
    }
    for (let r = 0; r < FLOOD_ROUNDS; r++) {
      await waitForProgress({ done: r + 1, total: 2000 }, `flood round ${r}`);
      fs.writeFileSync(path.join(gates, `flood-${r}`), '');
    }
    // Still reading while the step ends and the runner completes the task.
    await waitFor('the runner to exit', () => (readState(), code !== undefined), 60_000);
    readState();
    assert.deepEqual(invalid, []);
    assert.equal(code, 0, runner.output());
    assert.ok(reads >= HOSTILE.length + FLOOD_ROUNDS, `${reads} versions of state.json read`);
    assert.ok(seen.has('5/5') && seen.has('0/0'), `the clamped lines were shown clamped: ${[...seen].slice(0, 20).join(' ')}`);
    const final = status(ws, 't');
    assert.equal(final.status, 'completed');
    assert.equal(final.stepsDone, 2);
    // The hostile lines were printed and reached the runner: they are in the step's log.
    const log = fs.readFileSync(ws.file('t', path.join('logs', 'hostile.log')), 'utf8');
    assert.ok(log.includes(`::progress ${NINES}/${NINES}`) && log.includes('::progress -1/5'), 'the log holds the hostile lines');
  });
});
