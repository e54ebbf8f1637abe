/**
 * Process-level fuzzing: a runner keeps running its task and completes it while garbage is written
 * into its control files; the CLI reads a workspace of garbage and answers with a message, never a
 * stack trace. PROCESS_RUNS garbage files (24 by default, 96 under `npm run fuzz`), seed FUZZ_SEED.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as fc from 'fast-check';
import { loadCheckpoint } from '../../src/protocol/checkpoint';
import { MAX_STEP_JSON_DEPTH, parseJsonText } from '../../src/protocol/jsonFile';
import { taskPaths } from '../../src/protocol/paths';
import { HOST } from '../../src/protocol/processInfo';
import { controlSchema, globalControlSchema } from '../../src/protocol/schemas';
import { TASK_STATES } from '../../src/protocol/transitions';
import { fixture, pidAlive, ptask, ptaskChild, RUNNER, snapshotTree, status, waitFor, workspace, type Workspace } from '../runner/helpers';
import {
  damagedJournal,
  damagedJson,
  FUZZ_SEED,
  PROCESS_RUNS,
  runningControls,
  validCheckpoints,
  validControls,
  validDefinitions,
  validGlobalControls,
  validJournalEntries,
  validLocks,
  validStates,
} from './arbitraries';
import { assertReadable, banner } from './harness';

/** Garbage that does not ask a task to stop: a valid "paused" would pause it, as it should. */
function keepsRunning(schema: typeof controlSchema | typeof globalControlSchema) {
  return (bytes: Buffer) => {
    const read = parseJsonText('x', bytes.toString('utf8'), schema);
    return !(read.ok && read.value.desired !== 'running');
  };
}
const controlGarbage = damagedJson([...runningControls, ...validControls]).filter(keepsRunning(controlSchema));
const globalGarbage = damagedJson([...runningControls, ...validGlobalControls]).filter(keepsRunning(globalControlSchema));

/** A step that writes JSON LEVELS deep: as its outputs, or as its saved state (then pauses, exit 75, until it gets it back). */
const DEEP_STEP = `const fs = require('fs');
const levels = Number(process.env.LEVELS);
const deep = '['.repeat(levels) + ']'.repeat(levels);
if (process.argv[2] === 'output') fs.writeFileSync(process.env.TASK_STEP_OUTPUT, '{"k":' + deep.slice(1, -1) + '}');
else if (fs.existsSync(process.env.TASK_STEP_STATE) && fs.readFileSync(process.env.TASK_STEP_STATE, 'utf8') === deep) process.exit(0);
else { fs.writeFileSync(process.env.TASK_STEP_STATE, deep); process.exit(75); }
`;

const STACK_TRACE = /\n\s+at .+[:(]\d+:\d+\)?|unexpected error/;
const PER_RUN = 12;

describe('fuzz: a runner and the CLI among damaged files', function () {
  this.timeout(0);
  before(() => banner());
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  it('a runner completes its task while garbage is written into control.json and .control.json', async () => {
    let runs = 0;
    let written = 0;
    const gate = (name: string) => path.join(ws.root, name);
    const property = fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), controlGarbage, globalGarbage), { minLength: PER_RUN, maxLength: PER_RUN }), async (cases) => {
      const id = `t${++runs}`;
      ws.define(id, {
        steps: [
          { id: 'one', run: `${fixture('gate.js')} one`, env: { GATE: gate(`${id}-1`) } },
          { id: 'two', run: 'true' },
          { id: 'three', run: `${fixture('gate.js')} three`, env: { GATE: gate(`${id}-2`) } },
          { id: 'four', run: 'true' },
        ],
      });
      fs.rmSync(path.join(ws.tasksDir, '.control.json'), { force: true });
      const runner = ptaskChild(ws, 'run', id, '--poll-ms', '20');
      const last: Record<string, Buffer> = {};
      // Half while a step runs (the runner polls), half across step boundaries (it reads at each).
      for (const [half, step] of [[cases.slice(0, PER_RUN / 2), 'one'], [cases.slice(PER_RUN / 2), 'three']] as const) {
        await waitFor(`step ${step} of ${id} running`, () => ws.readJson(id, 'state.json').currentStep?.id === step || runner.child.exitCode !== null);
        for (const [toTask, control, global] of half) {
          const file = toTask ? ws.file(id, 'control.json') : path.join(ws.tasksDir, '.control.json');
          last[file] = toTask ? control : global;
          fs.writeFileSync(file, last[file]);
          written++;
          // Pace, not synchronisation: the garbage is spread over the step, as edits over time would be.
          await new Promise((r) => setTimeout(r, 30));
        }
        fs.writeFileSync(gate(`${id}-${step === 'one' ? 1 : 2}`), '');
      }
      const code = await runner.exited;
      assert.equal(code, 0, `the runner completed (exit 0):\n${runner.output()}`);
      assert.doesNotMatch(runner.output(), STACK_TRACE, 'the runner printed no stack trace');
      const s = status(ws, id);
      assert.equal(s.status, 'completed');
      assert.equal(s.stepsDone, 4);
      // Control files are the controllers' to write: the runner left the garbage as it was.
      for (const [file, bytes] of Object.entries(last)) assert.ok(fs.readFileSync(file).equals(bytes), `${file} unchanged`);
    });
    const details = await fc.check(property, { seed: FUZZ_SEED, numRuns: Math.ceil(PROCESS_RUNS / PER_RUN) });
    console.log(`      runner (control files rewritten with garbage while it runs): ${runs} runs, ${written} garbage files, ${details.failed ? 1 : 0} failures`);
    if (details.failed) throw new Error(`${fc.defaultReportMessage(details)}\n${(details.errorInstance as Error)?.message}`);
  });

  it('ptask status and ptask list on a workspace of garbage: exit 0 or 65, a message, no stack trace', async () => {
    const files = {
      definition: damagedJson(validDefinitions),
      state: damagedJson(validStates),
      control: damagedJson(validControls),
      global: damagedJson(validGlobalControls),
      lock: damagedJson(validLocks),
      checkpoint: damagedJson(validCheckpoints),
      journal: damagedJournal(validJournalEntries),
    };
    // Each case damages some of the files (a damaged definition hides the rest).
    const workspaceGarbage = fc.record(Object.fromEntries(Object.entries(files).map(([k, arb]) => [k, fc.option(arb, { freq: 2 })])) as { [K in keyof typeof files]: fc.Arbitrary<Buffer | null> });
    const commands = [['status', 't', '--json'], ['status', 't'], ['list'], ['list', '--json']];
    let cases = 0;
    let runs = 0;
    const property = fc.asyncProperty(workspaceGarbage, async (g) => {
      cases++;
      fs.rmSync(ws.tasksDir, { recursive: true, force: true });
      fs.mkdirSync(path.join(ws.tasksDir, 't'), { recursive: true });
      const put = (file: string, bytes: Buffer | null, valid: object | string) => fs.writeFileSync(path.join(ws.tasksDir, file), bytes ?? (typeof valid === 'string' ? valid : JSON.stringify(valid)));
      put('t.json', g.definition, validDefinitions[1]);
      put('t/state.json', g.state, validStates[0]);
      put('t/control.json', g.control, validControls[0]);
      put('.control.json', g.global, validGlobalControls[0]);
      put('t/runner.lock', g.lock, { ...validLocks[0], host: HOST });
      put('t/checkpoint.json', g.checkpoint, validCheckpoints[1]);
      put('t/journal.jsonl', g.journal, '');
      const before = snapshotTree(ws.root);
      for (const args of commands) {
        runs++;
        const r = ptask(ws, ...args);
        const what = `ptask ${args.join(' ')}`;
        assert.ok(r.code === 0 || r.code === 65, `${what}: exit 0 or 65, not ${r.code}:\n${r.stderr}`);
        assert.doesNotMatch(r.stderr + r.stdout, STACK_TRACE, `${what}: no stack trace`);
        if (r.stderr) assertReadable(r.stderr.trimEnd(), `${what}: stderr`, true);
        if (r.code === 65) assert.match(r.stderr, /^ptask: .*\.tasks\//, `${what}: names the file`);
        if (r.code === 0 && args.includes('--json')) {
          const out = JSON.parse(r.stdout);
          for (const s of Array.isArray(out) ? out : [out]) assert.ok(TASK_STATES.includes(s.status), `${what}: a status`);
        }
      }
      assert.deepEqual(snapshotTree(ws.root), before, 'the commands changed no file');
    });
    const details = await fc.check(property, { seed: FUZZ_SEED, numRuns: Math.ceil(PROCESS_RUNS / 2) });
    console.log(`      ptask status / list (garbage workspaces): ${cases} workspaces, ${runs} commands, ${details.failed ? 1 : 0} failures`);
    if (details.failed) throw new Error(`${fc.defaultReportMessage(details)}\n${(details.errorInstance as Error)?.message}`);
  });

  it('regression: a step whose TASK_STEP_OUTPUT nests 100,000 levels deep fails with a reason, not a runner crash; 990 levels are kept', () => {
    fs.writeFileSync(path.join(ws.root, 'deep.js'), DEEP_STEP);
    ws.define('o', { steps: [{ id: 'a', run: 'node deep.js output', env: { LEVELS: '100000' } }, { id: 'b', run: 'true' }] });
    const r = ptask(ws, 'run', 'o');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, new RegExp(`TASK_STEP_OUTPUT\\), which is not a JSON object \\(nests arrays or objects more than ${MAX_STEP_JSON_DEPTH} levels deep\\)`));
    assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE);
    assert.equal(status(ws, 'o').status, 'failed');
    // As deep as allowed: kept, and the checkpoint that holds it stays readable.
    ws.define('p', { steps: [{ id: 'a', run: 'node deep.js output', env: { LEVELS: String(MAX_STEP_JSON_DEPTH) } }, { id: 'b', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 'p').code, 0);
    const loaded = loadCheckpoint(taskPaths(ws.tasksDir, 'p'));
    assert.ok(loaded.ok, !loaded.ok ? loaded.error.message : '');
  });

  it('regression: a step that saves a TASK_STEP_STATE 100,000 levels deep and pauses gets it back on resume', () => {
    fs.writeFileSync(path.join(ws.root, 'deep.js'), DEEP_STEP);
    for (const levels of [100_000, MAX_STEP_JSON_DEPTH]) {
      const id = `s${levels}`;
      ws.define(id, { steps: [{ id: 'a', run: 'node deep.js state', env: { LEVELS: String(levels) } }], pauseOn: { exitCodes: [75] } });
      const first = ptask(ws, 'run', id);
      assert.equal(first.code, 2, `paused:\n${first.stdout}${first.stderr}`);
      assert.doesNotMatch(first.stdout + first.stderr, STACK_TRACE);
      // Too deep to keep as JSON: kept as text. As deep as allowed: as JSON, in a checkpoint that stays readable.
      const loaded = loadCheckpoint(taskPaths(ws.tasksDir, id));
      assert.ok(loaded.ok, !loaded.ok ? loaded.error.message : '');
      assert.equal(loaded.value.checkpoint.unfinished?.stateText !== undefined, levels > MAX_STEP_JSON_DEPTH);
      const resumed = ptask(ws, 'resume', id);
      assert.equal(resumed.code, 0, `resumed with its state:\n${resumed.stdout}${resumed.stderr}`);
    }
  });

  it('regression: resuming after a state.json whose step pids are 0 or negative signals no process outside the task', async () => {
    // A bystander in its own process group: a pid of -<its pid> in state.json must not reach it.
    const bystander = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    try {
      ws.define('r', { steps: [{ id: 'a', run: 'true' }] });
      fs.mkdirSync(ws.runDir('r'));
      const startedAt = new Date().toISOString();
      fs.writeFileSync(
        ws.file('r', 'state.json'),
        JSON.stringify({
          ...validStates[0], taskId: 'r', pid: 999_999_999, host: HOST, stepsTotal: 1, stepsDone: 0, startedAt, updatedAt: startedAt, heartbeatAt: startedAt,
          currentStep: { id: 'a', index: 0, attempt: 1, startedAt, pid: -bystander.pid!, processes: [{ pid: 0 }, { pid: -bystander.pid! }] },
        }),
      );
      // Detached: a pid of 0 would be the runner's own group, not this test's.
      const runner = spawn(process.execPath, [RUNNER, 'resume', 'r', '--root', ws.root], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      runner.stdout.on('data', (d) => (out += d));
      runner.stderr.on('data', (d) => (out += d));
      const code = await new Promise<number>((resolve) => runner.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : -1))));
      assert.equal(code, 0, `the runner resumed and completed:\n${out}`);
      assert.ok(pidAlive(bystander.pid!), 'the bystander is alive');
      assert.equal(status(ws, 'r').status, 'completed');
    } finally {
      bystander.kill('SIGKILL');
    }
  });
});
