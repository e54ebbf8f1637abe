/**
 * Every reader of every file in `.tasks/`, fuzzed: damaged definitions, state, control files,
 * checkpoints, journals, locks and items files. Each reader must return its error result (a
 * FileError naming the file, in words) or a valid value, within 2 s, and change no file.
 * FUZZ_RUNS cases a file (300 by default; `npm run fuzz`: 10,000), seed FUZZ_SEED.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, loadCheckpointAsync, parseJournal, readJournal, type LoadedCheckpoint } from '../../src/protocol/checkpoint';
import { FileError, readJson, readJsonSync, type ReadResult } from '../../src/protocol/jsonFile';
import { readRunnerLock } from '../../src/protocol/lock';
import { HOST, isPidAlive } from '../../src/protocol/processInfo';
import { redactor } from '../../src/protocol/secrets';
import { taskPaths, type TaskPaths } from '../../src/protocol/paths';
import {
  checkpointSchema,
  controlSchema,
  definitionHash,
  definitionSchema,
  globalControlSchema,
  lockSchema,
  publicDefinition,
  stateSchema,
  type TaskDefinition,
  unfinishedSteps,
} from '../../src/protocol/schemas';
import { readTaskView, readTaskViewAsync, summarize, type TaskView } from '../../src/protocol/taskView';
import { TASK_STATES } from '../../src/protocol/transitions';
import { readGlobalControl } from '../../src/control/requests';
import { stepRows, taskActions, taskContextValue, taskDescription, taskIcon, taskTooltip } from '../../src/extension/presentation';
import { ControlCache, readControlFiles } from '../../src/runner/controlFiles';
import { ItemsError, resolveItems } from '../../src/runner/items';
import { PauseOnPolicy } from '../../src/runner/pauseOn';
import { RunnerError } from '../../src/runner/reporter';
import { checkResumable } from '../../src/runner/startingPoint';
import { workspace, type Workspace } from '../runner/helpers';
import {
  damagedItems,
  damagedJournal,
  damagedJson,
  heavyCases,
  validCheckpoints,
  validControls,
  validDefinitions,
  validGlobalControls,
  validItemsFile,
  validJournal,
  validJournalEntries,
  validLocks,
  validStates,
} from './arbitraries';
import { assertFileError, assertReadable, assertReadResult, fuzzFile, banner, type Case, type Reader } from './harness';

const NOW = Date.parse('2024-06-11T08:05:10.000Z');
const isValid = (schema: { safeParse(v: unknown): { success: boolean } }) => (v: unknown) => schema.safeParse(v).success;
const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

interface Ctx {
  ws: Workspace;
  paths: TaskPaths;
  def: TaskDefinition;
  /** Results of the readers before, for the sync/async comparisons. */
  results: Map<string, unknown>;
}

/** A task "t" with every file valid: the definition, state, control, checkpoint, journal, lock, items. */
function setUp(state: object): Ctx {
  const ws = workspace();
  const paths = taskPaths(ws.tasksDir, 't');
  const def = definitionSchema.parse(validDefinitions[1]);
  fs.mkdirSync(paths.runDir);
  fs.writeFileSync(paths.definition, json(def));
  fs.writeFileSync(paths.state, json(state));
  fs.writeFileSync(paths.control, json(validControls[0]));
  fs.writeFileSync(paths.globalControl, json(validGlobalControls[0]));
  fs.writeFileSync(paths.checkpoint, json(validCheckpoints[1]));
  fs.writeFileSync(paths.journal, validJournal);
  fs.writeFileSync(paths.lock, json(validLocks[0]));
  fs.writeFileSync(path.join(ws.root, 'items.txt'), validItemsFile);
  return { ws, paths, def, results: new Map() };
}

// ---- what each kind of reader must return --------------------------------------------------------

/** readJsonSync / readJson with a schema. */
function jsonReader(name: string, file: (c: Ctx) => string, schema: Parameters<typeof readJsonSync>[1], async = false): Reader<Ctx> {
  return {
    name,
    read: (c) => (async ? readJson(file(c), schema) : readJsonSync(file(c), schema)),
    verify: (out, c) => {
      assertReadResult(out, [file(c)], isValid(schema), name);
      // The extension's async read and the CLI's sync read agree.
      const sync = c.results.get(`sync:${file(c)}`);
      if (async && sync) assert.deepEqual(out, sync, `${name}: the same as readJsonSync`);
      if (!async) c.results.set(`sync:${file(c)}`, out);
    },
  };
}

/** A view the CLI and the extension can show: a status, a problem naming the file, no exception on display. */
function verifyView(view: TaskView, c: Ctx, what: string): void {
  assert.ok(TASK_STATES.includes(view.status), `${what}: status ${view.status}`);
  assert.equal(view.id, 't');
  if (view.problem !== undefined) {
    assertReadable(view.problem, `${what}: the problem`);
    assert.ok(view.problem.startsWith(c.paths.definition) || view.problem.startsWith(c.paths.runDir), `${what}: the problem names the file: ${view.problem.slice(0, 200)}`);
  }
  for (const p of view.fileProblems) {
    assertReadable(p, `${what}: a file problem`);
    assert.ok(p.startsWith(c.paths.state) || p.startsWith(c.paths.control), `${what}: the file problem names the file: ${p.slice(0, 200)}`);
  }
  if (view.definition) assert.ok(definitionSchema.safeParse(view.definition).success, `${what}: the definition is valid`);
  if (view.state) assert.ok(stateSchema.safeParse(view.state).success, `${what}: the state is valid`);
  if (view.control) assert.ok(controlSchema.safeParse(view.control).success, `${what}: the control is valid`);
  if (view.lostReason !== undefined) assertReadable(view.lostReason, `${what}: the lost reason`);
  // What `ptask status --json` prints, and what the tree shows.
  JSON.stringify(summarize(view));
  taskIcon(view);
  taskDescription(view);
  taskTooltip(view, undefined, NOW);
  taskContextValue(view, true);
  taskActions(view);
  stepRows(view, [], [], NOW);
}

const viewReaders: Reader<Ctx>[] = [
  {
    name: 'readTaskView (CLI)',
    read: (c) => readTaskView(c.ws.tasksDir, 't', NOW),
    verify: (out, c) => {
      verifyView(out as TaskView, c, 'readTaskView');
      c.results.set('view', out);
    },
  },
  {
    name: 'readTaskViewAsync (extension)',
    read: (c) => readTaskViewAsync(c.ws.tasksDir, 't', NOW),
    verify: (out, c) => {
      verifyView(out as TaskView, c, 'readTaskViewAsync');
      assert.deepEqual(out, c.results.get('view'), 'readTaskViewAsync: the same view as readTaskView');
    },
  },
];

function verifyLoaded(out: unknown, c: Ctx, what: string): void {
  assertReadResult(out, [c.paths.checkpoint, c.paths.journal], (v) => {
    const loaded = v as LoadedCheckpoint;
    assert.ok(checkpointSchema.safeParse(loaded.checkpoint).success, `${what}: the folded checkpoint is valid`);
    assert.ok(loaded.lastSeq >= loaded.checkpoint.journalSeq, `${what}: lastSeq`);
    // What the tree shows of it.
    stepRows(readTaskView(c.ws.tasksDir, 't', NOW), loaded.checkpoint.completed, unfinishedSteps(loaded.checkpoint), NOW);
    return true;
  }, what);
}

const checkpointReaders: Reader<Ctx>[] = [
  {
    name: 'loadCheckpoint (runner, CLI)',
    read: (c) => loadCheckpoint(c.paths),
    verify: (out, c) => {
      verifyLoaded(out, c, 'loadCheckpoint');
      c.results.set('loaded', out);
    },
  },
  {
    name: 'loadCheckpointAsync (extension)',
    read: (c) => loadCheckpointAsync(c.paths),
    verify: (out, c) => {
      verifyLoaded(out, c, 'loadCheckpointAsync');
      assert.deepEqual(out, c.results.get('loaded'), 'loadCheckpointAsync: the same as loadCheckpoint');
    },
  },
  {
    // The runner's resume: the checkpoint, the journal, and the definition compared with the one it holds.
    name: 'checkResumable (runner resume)',
    read: (c) => checkResumable(c.paths, c.def, false),
    mayThrow: (err) => err instanceof RunnerError,
    verify: (out, c) => {
      const thrown = (out as { thrown?: unknown })?.thrown;
      if (thrown) {
        const err = thrown as RunnerError;
        assert.equal(err.exitCode, 65, 'checkResumable: exit code 65 (bad input file)');
        assertReadable(err.message, 'checkResumable: the message', true);
        assert.ok(err.message.startsWith(c.paths.checkpoint) || err.message.startsWith(c.paths.journal) || err.message.startsWith(c.paths.definition), `checkResumable: names the file: ${err.message.slice(0, 200)}`);
      } else if (out !== undefined) assert.ok(checkpointSchema.safeParse((out as { loaded: LoadedCheckpoint }).loaded.checkpoint).success, 'checkResumable: a valid checkpoint');
    },
  },
];

// ---- the files -------------------------------------------------------------------------------------

/** Bugs the fuzzing found, kept as regressions (see docs/reliability.md). */
const regressions: Case[] = [
  { label: 'regression: a terminal escape sequence in a damaged file', bytes: Buffer.from('{"v": 1, \u001b[2J\u001b[31m "seq": 1}') },
  { label: 'regression: a NUL byte where JSON expects a value', bytes: Buffer.from('{"v": \u0000}') },
  { label: 'regression: an unknown key of 100,000 characters', bytes: Buffer.from(`{"${'k'.repeat(100_000)}": 1}`) },
  { label: 'regression: an unknown key with control characters', bytes: Buffer.from('{"a\\u001b[31m\\u0000b": 1}') },
];

describe('fuzz: readers of every file in .tasks/', function () {
  this.timeout(0);
  before(() => banner());

  const contexts: Ctx[] = [];
  const ctx = (state: object = validStates[1]) => {
    const c = setUp(state);
    contexts.push(c);
    return c;
  };
  after(() => contexts.forEach((c) => c.ws.cleanup()));

  it('task definitions (.tasks/<id>.json)', async () => {
    const c = ctx();
    await fuzzFile({
      title: '<id>.json',
      ctx: c,
      file: c.paths.definition,
      root: c.ws.root,
      arbitrary: damagedJson(validDefinitions),
      fixed: [
        ...heavyCases(validDefinitions[1]),
        ...regressions,
        // Masking secrets built one regular expression of their values: too large to compile.
        { label: 'regression: a secret env value of 100,000 characters', bytes: Buffer.from(JSON.stringify({ ...validDefinitions[1], env: { API_TOKEN: 'x'.repeat(100_000) } })) },
      ],
      readers: [
        jsonReader('readJsonSync', (x) => x.paths.definition, definitionSchema),
        jsonReader('readJson (async)', (x) => x.paths.definition, definitionSchema, true),
        {
          // What runTask does with a definition before it runs a step.
          name: 'runner: load the definition',
          read: (x) => {
            const read = readJsonSync(x.paths.definition, definitionSchema);
            if (!read.ok) return read;
            definitionHash(read.value);
            JSON.stringify(publicDefinition(read.value));
            if (read.value.pauseOn) new PauseOnPolicy(read.value.pauseOn);
            return read;
          },
          verify: (out, x) => assertReadResult(out, [x.paths.definition], isValid(definitionSchema), 'runner: load the definition'),
        },
        ...viewReaders,
      ],
    });
  });

  it('state.json', async () => {
    const c = ctx();
    await fuzzFile({
      title: 'state.json',
      ctx: c,
      file: c.paths.state,
      root: c.ws.root,
      arbitrary: damagedJson(validStates),
      fixed: [...heavyCases(validStates[0]), ...regressions],
      readers: [jsonReader('readJsonSync', (x) => x.paths.state, stateSchema), jsonReader('readJson (async)', (x) => x.paths.state, stateSchema, true), ...viewReaders],
    });
  });

  it('control.json', async () => {
    const c = ctx();
    let cache = new ControlCache();
    await fuzzFile({
      title: 'control.json',
      ctx: c,
      file: c.paths.control,
      root: c.ws.root,
      arbitrary: damagedJson(validControls),
      fixed: [...heavyCases(validControls[0]), ...regressions],
      beforeEach: () => (cache = new ControlCache()),
      readers: [
        jsonReader('readJsonSync', (x) => x.paths.control, controlSchema),
        jsonReader('readJson (async)', (x) => x.paths.control, controlSchema, true),
        { name: 'readControlFiles (runner)', read: (x) => readControlFiles(x.paths), verify: verifyControlReading },
        { name: 'readControlFiles with ControlCache (runner)', read: (x) => readControlFiles(x.paths, cache), verify: verifyControlReading },
        ...viewReaders,
      ],
    });
  });

  it('the global control file (.tasks/.control.json)', async () => {
    const c = ctx();
    await fuzzFile({
      title: '.control.json',
      ctx: c,
      file: c.paths.globalControl,
      root: c.ws.root,
      arbitrary: damagedJson(validGlobalControls),
      fixed: [...heavyCases(validGlobalControls[0]), ...regressions],
      readers: [
        jsonReader('readJsonSync', (x) => x.paths.globalControl, globalControlSchema),
        jsonReader('readJson (async, extension status bar)', (x) => x.paths.globalControl, globalControlSchema, true),
        { name: 'readControlFiles (runner)', read: (x) => readControlFiles(x.paths), verify: verifyControlReading },
        {
          name: 'readGlobalControl (CLI)',
          read: (x) => readGlobalControl(x.paths.globalControl),
          mayThrow: (err) => err instanceof FileError,
          verify: (out, x) => {
            const thrown = (out as { thrown?: unknown })?.thrown;
            if (thrown) assertFileError(thrown, [x.paths.globalControl], 'readGlobalControl');
            else if (out !== undefined) assert.ok(globalControlSchema.safeParse(out).success, 'readGlobalControl: a valid value');
          },
        },
      ],
    });
  });

  it('checkpoint.json', async () => {
    const c = ctx();
    await fuzzFile({
      title: 'checkpoint.json',
      ctx: c,
      file: c.paths.checkpoint,
      root: c.ws.root,
      arbitrary: damagedJson(validCheckpoints),
      fixed: [...heavyCases(validCheckpoints[1]), ...regressions],
      readers: [jsonReader('readJsonSync', (x) => x.paths.checkpoint, checkpointSchema), ...checkpointReaders],
    });
  });

  it('journal.jsonl', async () => {
    const c = ctx();
    await fuzzFile({
      title: 'journal.jsonl',
      ctx: c,
      file: c.paths.journal,
      root: c.ws.root,
      arbitrary: damagedJournal(validJournalEntries),
      fixed: [...heavyCases(validJournalEntries[0]), { label: 'a journal of 10 MB of valid lines', bytes: Buffer.from(validJournal.repeat(Math.ceil((10 * 1024 * 1024) / validJournal.length))) }, ...regressions],
      readers: [
        {
          name: 'readJournal',
          read: (x) => readJournal(x.paths.journal, 2),
          verify: (out, x) => {
            assertReadResult(out, [x.paths.journal], () => true, 'readJournal');
            // The same text parsed in memory gives the same answer.
            const r = out as ReadResult<unknown>;
            if (fs.statSync(x.paths.journal, { throwIfNoEntry: false })?.isFile() && (r.ok || r.error.reason.startsWith('line '))) assert.deepEqual(parseJournal(x.paths.journal, fs.readFileSync(x.paths.journal, 'utf8'), 2), out, 'parseJournal agrees');
          },
        },
        ...checkpointReaders,
      ],
    });
  });

  it('runner.lock', async () => {
    // A running task: readers look at the lock to tell a live runner from a lost one.
    const c = ctx(validStates[0]);
    await fuzzFile({
      title: 'runner.lock',
      ctx: c,
      file: c.paths.lock,
      root: c.ws.root,
      arbitrary: damagedJson(validLocks.map((l: any) => (l.host === 'HOST' ? { ...l, host: HOST } : l))),
      fixed: [...heavyCases(validLocks[0]), ...regressions],
      readers: [
        {
          name: 'readRunnerLock',
          read: (x) => readRunnerLock(x.paths.lock),
          verify: (out) => assert.ok(out === undefined || lockSchema.safeParse(out).success, 'readRunnerLock: undefined or a valid lock'),
        },
        ...viewReaders,
      ],
    });
  });

  it('forEach items files (forEach.file)', async () => {
    const c = ctx();
    const file = path.join(c.ws.root, 'items.txt');
    await fuzzFile({
      title: 'forEach.file',
      ctx: c,
      file,
      root: c.ws.root,
      arbitrary: damagedItems(),
      fixed: heavyCases({ items: ['a'] }),
      readers: [
        {
          name: 'resolveItems (runner)',
          read: (x) => resolveItems({ file: 'items.txt' }, x.ws.root),
          mayThrow: (err) => err instanceof ItemsError,
          verify: (out) => {
            const thrown = (out as { thrown?: unknown })?.thrown;
            if (thrown) {
              assertReadable((thrown as Error).message, 'resolveItems: the message');
              assert.match((thrown as Error).message, /forEach\.file: |item \d+ contains a NUL/);
            } else {
              assert.ok(Array.isArray(out) && (out as unknown[]).every((i) => typeof i === 'string' && !i.includes('\0') && i.trim() !== ''), 'resolveItems: items');
            }
          },
        },
      ],
    });
  });
});

function verifyControlReading(out: unknown, c: Ctx): void {
  const r = out as ReturnType<typeof readControlFiles>;
  if (r.task) assert.ok(controlSchema.safeParse(r.task).success, 'readControlFiles: a valid control');
  if (r.global) assert.ok(globalControlSchema.safeParse(r.global).success, 'readControlFiles: a valid global control');
  assert.ok(r.problems.length <= 2);
  for (const p of r.problems) assertFileError(p, [c.paths.control, c.paths.globalControl], 'readControlFiles');
}

describe('fuzz: the bugs it found, pinned', () => {
  let ws: Workspace;
  let file: string;
  beforeEach(() => {
    ws = workspace();
    file = path.join(ws.tasksDir, 'control.json');
  });
  afterEach(() => ws.cleanup());
  const read = (bytes: Buffer | string) => {
    fs.writeFileSync(file, bytes);
    const start = performance.now();
    const r = readJsonSync(file, controlSchema);
    return { r, ms: performance.now() - start, reason: r.ok ? '' : r.error.reason };
  };
  const valid = JSON.stringify(validControls[0]);

  it('nesting: 10 MB of "[" is refused in words, in well under 2 s (JSON.parse alone took 3.6 s)', () => {
    fs.writeFileSync(path.join(ws.tasksDir, 't.json'), '['.repeat(10 * 1024 * 1024));
    const start = performance.now();
    const r = readJsonSync(path.join(ws.tasksDir, 't.json'), definitionSchema);
    assert.ok(performance.now() - start < 1000);
    assert.ok(!r.ok && r.error.reason === 'nests arrays or objects more than 1000 levels deep');
  });

  it('size: state.json, the control files and runner.lock over 1 MB are refused unread', () => {
    const { r, reason } = read(valid + ' '.repeat(1024 * 1024));
    assert.ok(!r.ok && r.error.code === 'invalid');
    assert.match(reason, /^is too large \(\d+ bytes; at most 1048576\)$/);
  });

  it('encodings: a UTF-8 byte order mark is read past; UTF-16 is named', () => {
    assert.ok(read(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid)])).r.ok);
    assert.equal(read(Buffer.from('\ufeff' + valid, 'utf16le')).reason, 'is UTF-16 text: save it as UTF-8');
  });

  it('messages: control characters from the file are escaped or left out, and what is quoted is cut short', () => {
    // A JSON error names the line, not the text around it (which may hold a secret, or an escape sequence).
    const escaped = read('\u001b[2J{"v": 1}').reason;
    assert.equal(escaped.includes('\u001b'), false);
    assert.match(escaped, /not valid JSON \(Unexpected token .* on line 1\)/);
    const long = read(`{"${'k'.repeat(100_000)}": 1}`).reason;
    assert.ok(long.length < 2000, `${long.length} characters`);
    assertReadable(long, 'the reason');
  });

  it('secrets: a value of 100,000 characters is masked (one regular expression of it did not compile)', () => {
    assert.equal(redactor(['x'.repeat(100_000), 'abcd'])(`a ${'x'.repeat(100_000)} abcd`), 'a *** ***');
  });

  it('pids from files: 0, 1 and negative numbers are never taken for a live process', () => {
    for (const pid of [0, 1, -1, -process.pid, 2 ** 53, 1.5]) assert.equal(isPidAlive(pid), false, String(pid));
    assert.equal(isPidAlive(process.pid), true);
  });
});
