/**
 * A full disk and a read-only one, for real: the task's run folder is a small tmpfs that the test
 * fills up or remounts read-only while the task runs or is paused. Needs root (mount); skipped,
 * saying why, where it cannot mount.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../../src/protocol/checkpoint';
import { taskPaths } from '../../src/protocol/paths';
import { fixture, ptask, ptaskChild, readLines, snapshotTree, status, waitFor, workspace, type Workspace } from './helpers';

const mount = (...args: string[]) => spawnSync('mount', args, { encoding: 'utf8' });

/** Fill a file system up to its last byte: every write that needs a new page fails after this. */
function fill(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [1 << 20, 1 << 16, 4096, 1]) {
      const chunk = Buffer.alloc(size, 120);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

describe('runner: a full disk and a read-only one', function () {
  let ws: Workspace;
  let runDir: string;
  let mounted = false;
  let marks: string;
  const gate = (name: string) => path.join(ws.root, `gate-${name}`);
  const ran = () => readLines(marks).map((l) => l.split(' ')[0]);
  const checkpointOf = () => loadCheckpoint(taskPaths(ws.tasksDir, 't'));
  /**
   * b, queued behind a, starts as a ends; a's commit follows when the runner hears of a's end (its
   * slot holds reports up to 50 ms): on a busy machine that came after a test had filled the disk.
   */
  const aCommitted = () =>
    waitFor("a's commit", () => {
      const loaded = checkpointOf();
      return loaded.ok && loaded.value.checkpoint.completed.some((s) => s.id === 'a');
    });

  before(function () {
    const probe = fs.mkdtempSync('/tmp/ptask-mount-probe-');
    const r = mount('-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe);
    if (r.status === 0) spawnSync('umount', [probe]);
    fs.rmSync(probe, { recursive: true, force: true });
    if (r.status !== 0) {
      console.log(`      skipped: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): ${(r.stderr || r.error?.message || '').trim()}`);
      this.skip();
    }
  });

  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks.txt');
    runDir = ws.runDir('t');
    fs.mkdirSync(runDir);
    const r = mount('-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', runDir);
    assert.equal(r.status, 0, r.stderr);
    mounted = true;
  });

  afterEach(() => {
    // Every gate open: no step is left waiting on one.
    for (const name of ['a', 'b', 'b1', 'b2']) fs.writeFileSync(gate(name), '');
    if (mounted && spawnSync('umount', [runDir]).status !== 0) spawnSync('umount', ['-l', runDir]);
    mounted = false;
    ws.cleanup();
  });

  it('the journal cannot take a step commit: exit 2, the checkpoint as it was; resume commits the step from its slot\'s record, not running it again', async () => {
    ws.define('t', {
      env: { MARKS: marks },
      steps: [
        { id: 'a', run: fixture('gate.js') + ' a', env: { GATE: gate('a') } },
        { id: 'b', run: `${fixture('mark.js')} b` },
      ],
    });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('a to start', () => ran().includes('a'));
    const before = fs.readFileSync(ws.file('t', 'checkpoint.json'), 'utf8');
    fill(path.join(runDir, 'filler'));
    fs.writeFileSync(gate('a'), '');
    assert.equal(await runner.exited, 2, runner.output());
    assert.match(runner.output(), /no space left on device writing \S+\/\.tasks\/t\/\S+/);
    assert.match(runner.output(), /Paused 't': no space left on device writing .*resume with: ptask resume t/);
    assert.doesNotMatch(runner.output(), /runner error|unexpected error|at .*\.js:\d+/);
    // The last checkpoint, untouched and readable; a's commit was not written.
    assert.equal(fs.readFileSync(ws.file('t', 'checkpoint.json'), 'utf8'), before);
    const loaded = checkpointOf();
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.error.message);
    assert.deepEqual(loaded.value.checkpoint.completed, []);
    assert.ok(['paused', 'lost'].includes(status(ws, 't').status));

    fs.rmSync(path.join(runDir, 'filler'));
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    // a's synced end record is its commit: it is committed from it, not run again. b, queued behind
    // a, either started the moment a ended and finished while the run paused (committed from its
    // record too), or was declined: the runner's state.json write, 100 ms after a started, may meet
    // the full disk and pause the run first (1 run in 4 here). Either way it runs once.
    assert.match(resumed.stdout, /[12] that ended while no runner watched/);
    assert.deepEqual(ran(), ['a', 'b'], 'a had finished: its end is on record');
    assert.equal(status(ws, 't').status, 'completed');
  });

  it('state.json and the checkpoint cannot be written: exit 2, shown as lost, and no committed step runs again', async () => {
    ws.define('t', {
      env: { MARKS: marks },
      steps: [
        { id: 'a', run: `${fixture('mark.js')} a` },
        { id: 'b', run: fixture('gate.js') + ' b', env: { GATE: gate('b') } },
        { id: 'c', run: `${fixture('mark.js')} c` },
        { id: 'd', run: `${fixture('mark.js')} d` },
      ],
    });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('b to start', () => ran().includes('b'));
    await aCommitted();
    const before = fs.readFileSync(ws.file('t', 'checkpoint.json'), 'utf8');
    // The runner learns of the full disk at its next state.json write: at c's start (c, started
    // already, then ends and is committed: the journal's page has room) or at a heartbeat during b.
    // Either way it pauses before d.
    fill(path.join(runDir, 'filler'));
    fs.writeFileSync(gate('b'), '');
    assert.equal(await runner.exited, 2, runner.output());
    assert.match(runner.output(), /Paused 't': no space left on device writing \S+/);
    assert.match(runner.output(), /state\.json could not be written either, so the task shows as lost/);
    assert.doesNotMatch(runner.output(), /runner error|unexpected error/);
    // checkpoint.json as it was, the journal holding what was committed since: every step that ran.
    assert.equal(fs.readFileSync(ws.file('t', 'checkpoint.json'), 'utf8'), before);
    const loaded = checkpointOf();
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.error.message);
    const committed = loaded.value.checkpoint.completed.map((s) => s.id);
    assert.deepEqual(committed, ran(), 'every step that ran was committed');
    assert.ok(committed.includes('b') && !committed.includes('d'), committed.join());
    const s = status(ws, 't');
    assert.equal(s.status, 'lost', JSON.stringify(s));

    fs.rmSync(path.join(runDir, 'filler'));
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.deepEqual(ran(), ['a', 'b', 'c', 'd'], 'each step ran once');
    assert.equal(status(ws, 't').status, 'completed');
  });

  it('the disk fills up while a step runs and has room again when it ends: paused, with the reason in state.json', async () => {
    const [g1, g2] = [gate('b1'), gate('b2')];
    ws.define('t', {
      env: { MARKS: marks },
      steps: [
        { id: 'a', run: `${fixture('mark.js')} a` },
        { id: 'b', run: `GATE=${g1} ${fixture('gate.js')} b1 && echo "::progress 1/2" && GATE=${g2} ${fixture('gate.js')} b2` },
        { id: 'c', run: `${fixture('mark.js')} c` },
      ],
    });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('b to start', () => ran().includes('b1'));
    await aCommitted(); // b, queued behind a, starts as a ends: a's commit may come later
    fill(path.join(runDir, 'filler'));
    fs.writeFileSync(g1, ''); // b prints: its log and state.json cannot be written
    await waitFor('the runner to see the full disk', () => /no space left on device writing .*: pausing 't'$/m.test(runner.output()));
    fs.rmSync(path.join(runDir, 'filler'));
    fs.writeFileSync(g2, '');
    assert.equal(await runner.exited, 2, runner.output());
    const state = ws.readJson('t', 'state.json');
    assert.equal(state.status, 'paused');
    assert.equal(state.pausedBy, 'disk');
    assert.match(state.reason, /^no space left on device writing \S+\/\.tasks\/t\/(logs\/b\.log|state\.json)$/);
    const s = status(ws, 't');
    assert.equal(s.status, 'paused');
    assert.match(s.reason, /no space left on device/);
    // b completed and was committed; the pause came at the boundary after it.
    const loaded = checkpointOf();
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.value.checkpoint.completed.map((c) => c.id), ['a', 'b']);
    assert.equal(loaded.value.checkpoint.reason, 'paused');

    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.deepEqual(ran(), ['a', 'b1', 'b2', 'c']);
  });

  it('a forEach step cannot freeze its item list (a checkpoint write): no item runs, and all run once on resume', async () => {
    ws.define('t', {
      env: { MARKS: marks },
      steps: [
        { id: 'a', run: `${fixture('mark.js')} a` },
        { id: 'b', run: fixture('gate.js') + ' b', env: { GATE: gate('b') } },
        { id: 'each', run: `${fixture('mark.js')} "item-$ITEM"`, forEach: { items: [1, 2, 3, 4, 5] }, concurrency: 2 },
      ],
    });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('b to start', () => ran().includes('b'));
    fill(path.join(runDir, 'filler'));
    fs.writeFileSync(gate('b'), '');
    assert.equal(await runner.exited, 2, runner.output());
    assert.match(runner.output(), /Paused 't': no space left on device writing \S+\/\.tasks\/t\/(checkpoint|state)\.json/);
    assert.deepEqual(ran(), ['a', 'b'], 'no item ran');
    const loaded = checkpointOf();
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.value.checkpoint.completed.map((c) => c.id), ['a', 'b']);
    assert.equal(loaded.value.batch, null, 'no item list frozen');

    fs.rmSync(path.join(runDir, 'filler'));
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.deepEqual(ran().slice(0, 2), ['a', 'b']);
    assert.deepEqual(ran().slice(2).sort(), ['item-1', 'item-2', 'item-3', 'item-4', 'item-5']);
  });

  it('a read-only run folder: resume, the runner and reset refuse, naming the file, and change nothing; resume works once it is writable', async () => {
    ws.define('t', {
      env: { MARKS: marks },
      steps: [
        { id: 'a', run: `${fixture('mark.js')} a` },
        { id: 'b', run: fixture('gate.js') + ' b', env: { GATE: gate('b') } },
        { id: 'c', run: `${fixture('mark.js')} c` },
      ],
    });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('b to start', () => ran().includes('b'));
    assert.equal(ptask(ws, 'pause', 't').code, 0);
    fs.writeFileSync(gate('b'), '');
    await waitFor('the task to pause', () => status(ws, 't').status === 'paused');
    await waitFor('the runner to let go', () => !fs.existsSync(ws.file('t', 'runner.lock')));
    // A file system with a file open for writing cannot be remounted read-only: the runner is gone.
    const r = mount('-o', 'remount,ro', runDir);
    assert.equal(r.status, 0, r.stderr);

    const before = snapshotTree(ws.root);
    const resume = ptask(ws, 'resume', 't');
    assert.equal(resume.code, 1, resume.stdout + resume.stderr);
    assert.match(resume.stderr, /^ptask: cannot resume: read-only file system writing \S+\/\.tasks\/t\/control\.json$/m);
    // The runner itself (as VS Code starts it, after its own write of control.json).
    const runner = ptask(ws, '__runner', 'resume', 't');
    assert.equal(runner.code, 1, runner.stdout + runner.stderr);
    assert.match(runner.stderr, /cannot run 't': read-only file system writing \S+\/\.tasks\/t\/runner\.lock; nothing was run/);
    const reset = ptask(ws, 'reset', 't');
    assert.equal(reset.code, 1, reset.stdout + reset.stderr);
    assert.match(reset.stderr, /read-only file system writing \S+runner\.lock/);
    for (const out of [resume, runner, reset]) assert.doesNotMatch(out.stderr, /unexpected error|runner error|    at /);
    assert.deepEqual(snapshotTree(ws.root), before, 'nothing changed');
    assert.equal(status(ws, 't').status, 'paused');

    assert.equal(mount('-o', 'remount,rw', runDir).status, 0);
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.deepEqual(ran(), ['a', 'b', 'c']);
  });
});
