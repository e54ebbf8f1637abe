/**
 * Steps and forEach items as Slurm jobs, on a real single-node cluster (Debian's slurm-wlm and
 * munge; cluster.sh starts it when it is not running, and stops it after). Each item appends its
 * start and its mark to files in the workspace, which the node shares with the runner: a mark
 * twice is work run twice; squeue says what Slurm holds, runs and has ended.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, ptaskChild, readLines, RUNNER, status, waitFor, workspace, type Workspace } from '../runner/helpers';

const CLUSTER = path.join(__dirname, 'cluster.sh');
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const answers = () => spawnSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 10_000 }).stdout?.match(/idle|mix|alloc/) !== null;

/** The elements of a task's jobs squeue still lists: "<id>|<state>|<reason>". */
function elements(name: string): { id: string; state: string; reason: string }[] {
  const out = spawnSync('squeue', ['-h', '-r', '--states=all', '-o', '%i|%T|%r|%j'], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .filter((l) => l.includes(`|${name}`))
    .map((l) => {
      const [id, state, reason] = l.split('|');
      return { id, state, reason };
    });
}
const live = (name: string) => elements(name).filter((e) => /PENDING|RUNNING|CONFIGURING|COMPLETING/.test(e.state));

/** An item that says it started, waits for its gate file, then marks itself done: its last act. */
const gatedItem = (ws: Workspace) =>
  `echo "$ITEM $SLURM_JOB_ID" >> ${ws.root}/starts; trap 'echo "$ITEM" >> ${ws.root}/terms; exit 143' TERM; while [ ! -e ${ws.root}/gate-$ITEM ]; do sleep 0.05; done; echo "$ITEM" >> ${ws.root}/marks`;

function counts(lines: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}


describe('Slurm: steps and items as jobs on a real cluster', function () {
  this.timeout(120_000);
  let startedHere = false;
  let ws: Workspace;
  /** Job names start with "ptask.<task>.": each test's task id is its own. */
  let task = '';
  let n = 0;

  before(function () {
    this.timeout(120_000);
    if (!has('sbatch') || !has('slurmctld')) {
      console.log('      skipped: Slurm is not installed (bash test/slurm/cluster.sh install, as root)');
      return this.skip();
    }
    if (!answers()) {
      if (process.getuid?.() !== 0) {
        console.log('      skipped: no Slurm cluster answers, and only root can start the test cluster');
        return this.skip();
      }
      const started = spawnSync('bash', [CLUSTER, 'start'], { encoding: 'utf8', timeout: 90_000 });
      assert.equal(started.status, 0, `cluster.sh start: ${started.stdout}${started.stderr}`);
      startedHere = true;
    }
  });
  after(function () {
    this.timeout(60_000);
    if (startedHere) spawnSync('bash', [CLUSTER, 'stop'], { timeout: 50_000 });
  });
  beforeEach(() => {
    ws = workspace();
    task = `sl${process.pid}-${++n}`;
  });
  afterEach(() => {
    for (const e of live(`ptask.${task}.`)) spawnSync('scancel', [e.id.split('_')[0]]);
    ws.cleanup();
  });

  it('a forEach of 50 items at concurrency 4 completes, each item once, under Slurm, in arrays of at most MaxArraySize, never more than 4 at once', async () => {
    const times = path.join(ws.root, 'times');
    ws.define(task, {
      executor: 'slurm',
      steps: [
        { id: 'items', forEach: { items: Array.from({ length: 50 }, (_, i) => `i${i}`) }, concurrency: 4, run: `s=$(date +%s%N); sleep 0.2; echo "$ITEM $SLURM_JOB_ID $SLURM_ARRAY_JOB_ID $s $(date +%s%N)" >> ${times}` },
        { id: 'after', run: `echo "after $SLURM_JOB_ID" >> ${times}` },
      ],
    });
    const run = ptaskChild(ws, 'run', task);
    // While it runs, state.json (ptask status --json) shows the job and its elements' states.
    const job = await waitFor('state.json to show the Slurm job', () => status(ws, task).slurm?.[0]);
    assert.match(job.jobId, /^\d+$/);
    assert.equal(job.step, 'items');
    assert.equal(await run.exited, 0, run.output());
    const lines = readLines(times);
    const items = lines.filter((l) => l.startsWith('i'));
    assert.equal(items.length, 50, 'each item ran once');
    assert.deepEqual([...counts(items.map((l) => l.split(' ')[0])).values()].every((c) => c === 1), true);
    for (const l of items) assert.match(l.split(' ')[1], /^\d+$/, `SLURM_JOB_ID is set: ${l}`);
    // One array, or as many as MaxArraySize asks (the test cluster's is 40: two, the second after the first).
    const arrays = Math.ceil(50 / maxArraySize());
    assert.equal(new Set(items.map((l) => readJobOf(l))).size, arrays, `${arrays} array(s)`);
    assert.match(lines.find((l) => l.startsWith('after'))!, /^after \d+$/);
    // Never more than 4 at once: at each start, count the items whose span holds it.
    const spans = items.map((l) => l.split(' ').slice(3).map(Number));
    const most = Math.max(...spans.map(([s]) => spans.filter(([a, b]) => a <= s && s < b).length));
    assert.ok(most <= 4, `at most 4 at once, saw ${most}`);
    assert.equal(status(ws, task).status, 'completed');
    assert.equal(fs.existsSync(ws.file(task, 'slurm')), false, 'a run that completed leaves no Slurm files');
  });

  it('pause holds the pending elements and lets the running ones finish; resume releases them and completes', async () => {
    ws.define(task, { executor: 'slurm', steps: [{ id: 'items', forEach: { items: ['a', 'b', 'c', 'd', 'e', 'f'] }, concurrency: 2, run: gatedItem(ws) }] });
    const run = ptaskChild(ws, 'run', task);
    await waitFor('two items to start', () => readLines(path.join(ws.root, 'starts')).length === 2, 60_000);
    assert.equal(ptask(ws, 'pause', task).code, 0);
    await waitFor('the pending elements to be held', () => {
      const pending = elements(`ptask.${task}.`).filter((e) => e.state === 'PENDING');
      return pending.length === 4 && pending.every((e) => /^JobHeld/.test(e.reason));
    });
    // The running ones finish: their work is committed, not lost.
    const started = readLines(path.join(ws.root, 'starts')).map((l) => l.split(' ')[0]);
    for (const item of started) fs.writeFileSync(path.join(ws.root, `gate-${item}`), '');
    assert.equal(await run.exited, 2, run.output());
    assert.equal(status(ws, task).status, 'paused');
    assert.deepEqual(readLines(path.join(ws.root, 'marks')).sort(), started.sort());
    // Paused: the rest wait in Slurm's queue, held, not cancelled.
    assert.equal(live(`ptask.${task}.`).filter((e) => /^JobHeld/.test(e.reason)).length, 4);
    for (const item of ['a', 'b', 'c', 'd', 'e', 'f']) fs.writeFileSync(path.join(ws.root, `gate-${item}`), '');
    const resume = ptask(ws, 'resume', task);
    assert.equal(resume.code, 0, resume.stdout + resume.stderr);
    assert.equal(status(ws, task).status, 'completed');
    const marks = readLines(path.join(ws.root, 'marks'));
    assert.deepEqual([...marks].sort(), ['a', 'b', 'c', 'd', 'e', 'f'], 'each item once');
    assert.equal(readLines(path.join(ws.root, 'starts')).length, 6, 'nothing ran twice');
    assert.equal(jobNames(task).size, 1, 'released, not submitted again');
  });

  it('pause all holds cluster work too; resume all releases it', async () => {
    ws.define(task, { executor: 'slurm', steps: [{ id: 'items', forEach: { items: ['a', 'b', 'c'] }, concurrency: 1, run: gatedItem(ws) }] });
    const run = ptaskChild(ws, 'run', task);
    await waitFor('an item to start', () => readLines(path.join(ws.root, 'starts')).length === 1, 60_000);
    assert.equal(ptask(ws, 'pause-all').code, 0);
    await waitFor('the pending elements to be held', () => elements(`ptask.${task}.`).filter((e) => e.state === 'PENDING' && /^JobHeld/.test(e.reason)).length === 2);
    fs.writeFileSync(path.join(ws.root, 'gate-a'), '');
    assert.equal(await run.exited, 2, run.output());
    assert.equal(status(ws, task).pausedBy, 'global');
    for (const item of ['b', 'c']) fs.writeFileSync(path.join(ws.root, `gate-${item}`), '');
    const resumeAll = ptask(ws, 'resume-all');
    assert.equal(resumeAll.code, 0, resumeAll.stdout + resumeAll.stderr);
    await waitFor('the task to complete', () => status(ws, task).status === 'completed', 60_000);
    assert.deepEqual([...readLines(path.join(ws.root, 'marks'))].sort(), ['a', 'b', 'c']);
    assert.equal(jobNames(task).size, 1, 'released, not submitted again');
  });

  it('interrupt cancels: the running elements get SIGTERM once each, the pending ones go, the task is interrupted once Slurm has none left', async () => {
    // Each one takes a moment to shut down, as a real one would: a second SIGTERM meanwhile is seen.
    const slowToStop = gatedItem(ws).replace(`exit 143' TERM`, `sleep 0.3; exit 143' TERM`);
    assert.notEqual(slowToStop, gatedItem(ws));
    ws.define(task, { executor: 'slurm', steps: [{ id: 'items', forEach: { items: ['a', 'b', 'c', 'd', 'e'] }, concurrency: 2, run: slowToStop }] });
    const run = ptaskChild(ws, 'run', task);
    await waitFor('two items to start', () => readLines(path.join(ws.root, 'starts')).length === 2, 60_000);
    assert.equal(ptask(ws, 'interrupt', task).code, 0);
    assert.equal(await run.exited, 4, run.output());
    assert.equal(status(ws, task).status, 'interrupted');
    assert.deepEqual(live(`ptask.${task}.`), [], 'nothing of the task is left in the queue');
    const terms = readLines(path.join(ws.root, 'terms'));
    assert.deepEqual([...counts(terms).values()], [1, 1], `the running items were sent SIGTERM, once each: ${terms.join(' ')}`);
    assert.deepEqual(readLines(path.join(ws.root, 'marks')), []);
  });

  it('kill -9 of the runner while elements run, then resume: nothing submitted twice, nothing that finished runs again', async () => {
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    ws.define(task, { executor: 'slurm', steps: [{ id: 'items', forEach: { items }, concurrency: 2, run: gatedItem(ws) }, { id: 'last', run: `echo last >> ${ws.root}/marks` }] });
    const first = ptaskChild(ws, 'run', task);
    await waitFor('two items to start', () => readLines(path.join(ws.root, 'starts')).length === 2, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    // They finish while no runner watches; Slurm starts the next two.
    for (const line of readLines(path.join(ws.root, 'starts'))) fs.writeFileSync(path.join(ws.root, `gate-${line.split(' ')[0]}`), '');
    await waitFor('the next two to start, with no runner', () => readLines(path.join(ws.root, 'starts')).length === 4, 60_000);
    // Resumed while those two run (here, on this machine: nothing of the lost runner's may stop them).
    const resume = ptaskChild(ws, 'resume', task);
    await waitFor('the resume to adopt them', () => status(ws, task).adopted);
    assert.deepEqual(readLines(path.join(ws.root, 'terms')), [], 'the adopted elements were not stopped');
    for (const item of items) fs.writeFileSync(path.join(ws.root, `gate-${item}`), '');
    assert.equal(await resume.exited, 0, resume.output());
    assert.match(resume.output(), /Adopting what the lost runner left: \d+ attempt\(s\) still running/);
    assert.equal(status(ws, task).status, 'completed');
    assert.deepEqual([...readLines(path.join(ws.root, 'marks'))].sort(), [...items, 'last'].sort(), 'each item once');
    assert.equal(readLines(path.join(ws.root, 'starts')).length, 8, 'nothing ran twice');
    assert.deepEqual([...jobNames(task)].map((name) => name.split('.').slice(-2).join('.')).sort(), ['items.1', 'last.2'], 'the job of the items was taken over, not submitted again');
  });

  it('an element that prints "429" pauses the task under pauseOn; autoResume brings it back and it completes', async () => {
    const flag = path.join(ws.root, 'limited');
    ws.define(task, {
      executor: 'slurm',
      pauseOn: { outputMatches: ['429'], autoResume: { after: '1s', maxAttempts: 3 } },
      steps: [{ id: 'calls', forEach: { items: ['x', 'y', 'z'] }, concurrency: 3, run: `if [ "$ITEM" = y ] && [ ! -e ${flag} ]; then touch ${flag}; echo "HTTP 429 Too Many Requests"; exit 1; fi; echo "$ITEM" >> ${ws.root}/marks` }],
    });
    const run = ptaskChild(ws, 'run', task);
    await waitFor('the task to pause on the 429', () => status(ws, task).pausedBy === 'failure' || status(ws, task).status === 'completed', 60_000);
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /its output matched "429"/);
    assert.equal(status(ws, task).status, 'completed');
    assert.deepEqual([...readLines(path.join(ws.root, 'marks'))].sort(), ['x', 'y', 'z']);
  });

  /** `ptask <args>` with these programs first on PATH (shims standing in for Slurm's). */
  const withShims = (shims: Record<string, string>, ...args: string[]) => {
    const dir = path.join(ws.root, 'shims');
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, body] of Object.entries(shims)) fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    const r = spawnSync(process.execPath, [RUNNER, ...args, '--root', ws.root], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    return { code: r.status, output: r.stdout + r.stderr };
  };

  it('a runner killed as sbatch returns, before it wrote the job id down: resume finds the job by its name and does not submit again', () => {
    const items = ['a', 'b', 'c', 'd'];
    ws.define(task, { executor: 'slurm', steps: [{ id: 'items', forEach: { items }, concurrency: 2, run: `echo "$ITEM" >> ${ws.root}/starts; echo "$ITEM" >> ${ws.root}/marks` }] });
    const sbatch = spawnSync('sh', ['-c', 'command -v sbatch'], { encoding: 'utf8' }).stdout.trim();
    // The submission goes through; then the runner is killed before it reads the job id.
    const killed = withShims({ sbatch: `${sbatch} "$@"; kill -9 $PPID` }, 'run', task);
    assert.notEqual(killed.code, 0, killed.output);
    assert.equal(fs.readFileSync(ws.file(task, 'slurm/submissions.tsv'), 'utf8').match(/^job\t/m), null, 'the job id was not written down');
    const resume = ptask(ws, 'resume', task);
    assert.equal(resume.code, 0, resume.stdout + resume.stderr);
    assert.equal(status(ws, task).status, 'completed');
    assert.deepEqual([...readLines(path.join(ws.root, 'marks'))].sort(), items, 'each item once');
    assert.equal(jobNames(task).size, 1, 'found by its name, not submitted again');
  });

  it('a resume while squeue cannot reach the controller is refused, saying so, and changes nothing; the next resume goes on', async () => {
    ws.define(task, { executor: 'slurm', steps: [{ id: 'items', forEach: { items: ['a', 'b', 'c', 'd'] }, concurrency: 1, run: gatedItem(ws) }] });
    const run = ptaskChild(ws, 'run', task);
    await waitFor('an item to start', () => readLines(path.join(ws.root, 'starts')).length === 1, 60_000);
    assert.equal(ptask(ws, 'pause', task).code, 0);
    await waitFor('the pending elements to be held', () => elements(`ptask.${task}.`).filter((e) => e.state === 'PENDING' && /^JobHeld/.test(e.reason)).length === 3);
    fs.writeFileSync(path.join(ws.root, 'gate-a'), '');
    assert.equal(await run.exited, 2, run.output());
    const before = fs.readFileSync(ws.file(task, 'state.json'), 'utf8');
    const refused = withShims({ squeue: 'echo "squeue: error: Unable to contact slurm controller (connect failure)" >&2; exit 1' }, 'resume', task);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, /cannot see the run's Slurm jobs \(squeue: error: Unable to contact slurm controller/);
    assert.equal(fs.readFileSync(ws.file(task, 'state.json'), 'utf8'), before, 'nothing changed');
    for (const item of ['b', 'c', 'd']) fs.writeFileSync(path.join(ws.root, `gate-${item}`), '');
    const resume = ptask(ws, 'resume', task);
    assert.equal(resume.code, 0, resume.stdout + resume.stderr);
    assert.deepEqual([...readLines(path.join(ws.root, 'marks'))].sort(), ['a', 'b', 'c', 'd']);
  });

  it('a reset of a task paused with elements held cancels them', async () => {
    ws.define(task, { executor: 'slurm', steps: [{ id: 'items', forEach: { items: ['a', 'b', 'c'] }, concurrency: 1, run: gatedItem(ws) }] });
    const run = ptaskChild(ws, 'run', task);
    await waitFor('an item to start', () => readLines(path.join(ws.root, 'starts')).length === 1, 60_000);
    assert.equal(ptask(ws, 'pause', task).code, 0);
    fs.writeFileSync(path.join(ws.root, 'gate-a'), '');
    assert.equal(await run.exited, 2, run.output());
    assert.equal(live(`ptask.${task}.`).length, 2);
    const reset = ptask(ws, 'reset', task);
    assert.equal(reset.code, 0, reset.stdout + reset.stderr);
    await waitFor('the held elements to be cancelled', () => live(`ptask.${task}.`).length === 0);
    assert.equal(fs.existsSync(ws.file(task, 'slurm')), false);
  });

  it('no sbatch on PATH: the step fails, saying so', () => {
    ws.define(task, { executor: 'slurm', steps: [{ id: 'one', run: 'true' }] });
    const empty = path.join(ws.root, 'no-slurm-here');
    fs.mkdirSync(empty);
    const r = spawnSync(process.execPath, [RUNNER, 'run', task, '--root', ws.root], { encoding: 'utf8', env: { ...process.env, PATH: empty } });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /step 'one' failed: could not start: .*sbatch is not on PATH: is this a Slurm login node\?/);
  });

  it('an element Slurm ends before it can record how (its slot killed): named in Slurm\'s words, and under pauseOn.slurmStates it pauses; resume runs it again', () => {
    const flag = path.join(ws.root, 'killed-once');
    ws.define(task, {
      executor: 'slurm',
      pauseOn: { slurmStates: ['FAILED', 'NODE_FAIL'] },
      // Item b kills its own slot (its parent), once: the element ends with no end record.
      steps: [{ id: 'items', forEach: { items: ['a', 'b', 'c'] }, concurrency: 3, run: `if [ "$ITEM" = b ] && [ ! -e ${flag} ]; then touch ${flag}; kill -9 $PPID; exit 0; fi; echo "$ITEM" >> ${ws.root}/marks` }],
    });
    const run = ptask(ws, 'run', task);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stdout + run.stderr, /item 1 \(b\) failed: Slurm ended it: FAILED.*Slurm's FAILED is in pauseOn\.slurmStates/);
    const paused = status(ws, task);
    assert.equal(paused.status, 'paused');
    assert.equal(paused.pausedBy, 'failure');
    const resume = ptask(ws, 'resume', task);
    assert.equal(resume.code, 0, resume.stdout + resume.stderr);
    assert.deepEqual([...readLines(path.join(ws.root, 'marks'))].sort(), ['a', 'b', 'c']);
  });

  it('a bad partition is refused with Slurm\'s own words; nothing is left in the queue', () => {
    ws.define(task, { executor: 'slurm', slurm: { partition: 'nosuchpartition' }, steps: [{ id: 'one', run: 'true' }] });
    const run = ptask(ws, 'run', task);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout + run.stderr, /step 'one' failed: could not start: Slurm refused the job: .*invalid partition/i);
    assert.match(status(ws, task).reason, /invalid partition/i);
    assert.deepEqual(elements(`ptask.${task}.`), []);
  });

  it('an option ptask sets itself is refused in sbatchArgs, naming the field, before anything runs', () => {
    ws.define(task, { executor: 'slurm', steps: [{ id: 'one', run: 'true', slurm: { sbatchArgs: ['--array=0-3'] } }] });
    const run = ptask(ws, 'run', task);
    assert.equal(run.code, 65, run.stdout + run.stderr);
    assert.match(run.stderr, /steps\[0\]\.slurm\.sbatchArgs\[0\].*ptask sets itself/);
    assert.equal(fs.existsSync(ws.runDir(task)), false);
  });
});

const maxArraySize = () => Number(/MaxArraySize\s*=\s*(\d+)/.exec(spawnSync('scontrol', ['show', 'config'], { encoding: 'utf8' }).stdout)?.[1] ?? 1001);

/** The array job of an item's line (SLURM_ARRAY_JOB_ID). */
const readJobOf = (line: string) => line.split(' ')[2];

/** The names of the task's jobs squeue still lists: one per submission. */
function jobNames(task: string): Set<string> {
  const out = spawnSync('squeue', ['-h', '--states=all', '-o', '%j'], { encoding: 'utf8' }).stdout;
  return new Set(out.split('\n').filter((l) => l.startsWith(`ptask.${task}.`)));
}
