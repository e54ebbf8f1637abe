/**
 * Hostile workspaces: files that try to lead the tools out of the workspace, oversized or odd
 * files, locks of other processes. Each is refused or handled with a message that names the file
 * and what is wrong, and a refusal changes nothing (inside the workspace or outside it).
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HOST, ownProcessStartTime } from '../../src/protocol/processInfo';
import { fixture, ptask, ptaskChild, readLines, snapshotTree, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner and CLI: hostile workspaces', () => {
  let ws: Workspace;
  /** A folder outside the workspace that nothing may touch. */
  let outside: string;
  beforeEach(() => {
    ws = workspace();
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-outside-'));
    fs.writeFileSync(path.join(outside, 'precious.txt'), 'keep me\n');
  });
  afterEach(() => {
    ws.cleanup();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  /** A command that must be refused: its exit code, a message naming the file, and no file changed here or outside. */
  function refused(args: string[], code: number, message: RegExp) {
    const before = [snapshotTree(ws.root), snapshotTree(outside)];
    const r = ptask(ws, ...args);
    assert.equal(r.code, code, `exit code of ptask ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /unexpected error|runner error|    at /);
    assert.deepEqual([snapshotTree(ws.root), snapshotTree(outside)], before, 'no file changed');
    return r;
  }

  const definitions: [string, object, RegExp][] = [
    ['a task cwd that goes up', { cwd: '../..', steps: [{ id: 'a', run: 'touch pwned' }] }, /t\.json: cwd: "\.\.\/\.\." leads out of the workspace folder/],
    ['an absolute task cwd', { cwd: '/tmp', steps: [{ id: 'a', run: 'touch pwned' }] }, /t\.json: cwd: "\/tmp" is absolute: it must be relative to the workspace folder/],
    ['a step cwd that goes up', { steps: [{ id: 'a', run: 'touch pwned', cwd: 'x/../..' }] }, /t\.json: steps\[0\]\.cwd: "\.\." leads out of the workspace folder \("\.\."\), with the task's cwd "\."/],
    ['a step cwd that goes up from the task cwd', { cwd: 'sub', steps: [{ id: 'a', run: 'true', cwd: '../../etc' }] }, /t\.json: steps\[0\]\.cwd: "\.\.\/etc" leads out of the workspace folder .*with the task's cwd "sub"/],
    ['an absolute step cwd', { steps: [{ id: 'a', run: 'touch pwned', cwd: '/etc' }] }, /t\.json: steps\[0\]\.cwd: "\/etc" is absolute/],
    ['an absolute forEach glob', { steps: [{ id: 'a', run: 'true', forEach: { glob: '/etc/*' } }] }, /t\.json: steps\[0\]\.forEach\.glob: the pattern must be relative/],
    ['a forEach file that goes up', { steps: [{ id: 'a', run: 'true', forEach: { file: 'lists/../../items.txt' } }] }, /t\.json: steps\[0\]\.forEach\.file: "lists\/\.\.\/\.\.\/items\.txt" leads out of the step's folder/],
    ['an absolute forEach file', { steps: [{ id: 'a', run: 'true', forEach: { file: '/etc/passwd' } }] }, /t\.json: steps\[0\]\.forEach\.file: "\/etc\/passwd" is absolute/],
  ];
  for (const [what, def, message] of definitions) {
    it(`${what}: refused when read (exit 65), nothing run or written`, () => {
      ws.define('t', def);
      refused(['run', 't'], 65, message);
      refused(['run', 't', '--detach'], 65, message);
      const [listed] = JSON.parse(ptask(ws, 'list', '--json').stdout);
      assert.equal(listed.valid, false);
      assert.match(listed.error, message);
      assert.equal(fs.existsSync(path.join(ws.root, 'pwned')), false);
    });
  }

  it('a step cwd that goes up and comes back inside is fine', () => {
    fs.mkdirSync(path.join(ws.root, 'sub', 'deeper'), { recursive: true });
    ws.define('t', { cwd: 'sub/deeper', steps: [{ id: 'a', run: 'pwd > "$OUT"', cwd: '../..', env: { OUT: path.join(ws.root, 'pwd.txt') } }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(ws.root, 'pwd.txt'), 'utf8').trim(), fs.realpathSync(ws.root));
  });

  it('a .tasks folder that is a symbolic link out of the workspace: every command refuses, nothing written there', () => {
    const real = path.join(outside, 'tasks');
    fs.mkdirSync(real);
    fs.writeFileSync(path.join(real, 't.json'), JSON.stringify({ steps: [{ id: 'a', run: 'touch pwned' }] }));
    fs.rmSync(ws.tasksDir, { recursive: true });
    fs.symlinkSync(real, ws.tasksDir);
    const message = /\.tasks: is a symbolic link that leads out of the workspace folder \(to .*ptask-outside-.*\/tasks\)/;
    refused(['run', 't'], 65, message);
    refused(['resume', 't'], 65, message);
    refused(['status', 't'], 65, message);
    refused(['reset', 't'], 65, message);
    refused(['list'], 65, message);
    refused(['pause-all'], 65, message);
    refused(['resume-all'], 65, message);
  });

  it('a .tasks folder that is a symbolic link to the workspace folder itself is refused', () => {
    fs.writeFileSync(path.join(ws.root, 't.json'), JSON.stringify({ steps: [{ id: 'a', run: 'true' }] }));
    fs.rmSync(ws.tasksDir, { recursive: true });
    fs.symlinkSync('.', ws.tasksDir);
    refused(['run', 't'], 65, /\.tasks: is a symbolic link that leads out of the workspace folder/);
  });

  it('a .tasks folder that is a symbolic link to a folder inside the workspace is followed', () => {
    const real = path.join(ws.root, 'config', 'tasks');
    fs.mkdirSync(real, { recursive: true });
    fs.rmSync(ws.tasksDir, { recursive: true });
    fs.symlinkSync('config/tasks', ws.tasksDir);
    ws.define('t', { steps: [{ id: 'a', run: 'true' }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(status(ws, 't').status, 'completed');
    assert.ok(fs.existsSync(path.join(real, 't', 'checkpoint.json')));
  });

  it('symbolic links among the run folder\'s own files: run and reset refuse, and prune nothing elsewhere', async () => {
    ws.define('t', { steps: [{ id: 'a', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 't').code, 0);
    // 25 checkpoints elsewhere: pruning "checkpoints/" to 20 would delete 5 of them.
    for (let i = 0; i < 25; i++) fs.writeFileSync(path.join(outside, `2020010${i}-old.json`), '{}');
    const checkpoints = ws.file('t', 'checkpoints');
    fs.rmSync(checkpoints, { recursive: true });
    fs.symlinkSync(outside, checkpoints);
    refused(['run', 't'], 65, /t\/checkpoints: is a symbolic link; the tools write only to plain files and folders/);
    refused(['reset', 't'], 65, /t\/checkpoints: is a symbolic link/);
    fs.rmSync(checkpoints);
    // A journal that is a link to a file elsewhere would have lines appended to it.
    fs.rmSync(ws.file('t', 'journal.jsonl'), { force: true });
    fs.symlinkSync(path.join(outside, 'precious.txt'), ws.file('t', 'journal.jsonl'));
    refused(['run', 't'], 65, /t\/journal\.jsonl: is a symbolic link/);
    assert.equal(fs.readFileSync(path.join(outside, 'precious.txt'), 'utf8'), 'keep me\n');
  });

  it('a step log that is a symbolic link: nothing is written through it; the task pauses, saying why', () => {
    ws.define('t', { steps: [{ id: 'a', run: 'echo hello' }, { id: 'b', run: 'true' }] });
    fs.mkdirSync(ws.file('t', 'logs'), { recursive: true });
    fs.symlinkSync(path.join(outside, 'precious.txt'), ws.file('t', path.join('logs', 'a.log')));
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /Paused 't': it is a symbolic link writing \S+\/logs\/a\.log\. .* Fix it, then resume with: ptask resume t/);
    assert.equal(fs.readFileSync(path.join(outside, 'precious.txt'), 'utf8'), 'keep me\n');
    assert.equal(status(ws, 't').status, 'paused');
  });

  it('a forEach items file that is a symbolic link out of the workspace: the step fails, naming it; one inside is read', () => {
    fs.writeFileSync(path.join(outside, 'items.txt'), 'secret-1\nsecret-2\n');
    fs.symlinkSync(path.join(outside, 'items.txt'), path.join(ws.root, 'items.txt'));
    const seen = path.join(ws.root, 'seen.txt');
    ws.define('t', { steps: [{ id: 'a', run: 'echo "$ITEM" >> "$SEEN"', env: { SEEN: seen }, forEach: { file: 'items.txt' } }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /forEach\.file: \S+\/items\.txt is a symbolic link that leads out of the workspace folder \(to .*ptask-outside-/);
    assert.equal(fs.existsSync(seen), false, 'no item ran');
    // A link within the workspace is an ordinary file.
    fs.mkdirSync(path.join(ws.root, 'lists'));
    fs.writeFileSync(path.join(ws.root, 'lists', 'items.txt'), 'x\ny\n');
    fs.rmSync(path.join(ws.root, 'items.txt'));
    fs.symlinkSync('lists/items.txt', path.join(ws.root, 'items.txt'));
    const again = ptask(ws, 'run', 't', '--fresh');
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.deepEqual(readLines(seen), ['x', 'y']);
  });

  it('a forEach glob does not follow a linked folder out of the workspace', () => {
    fs.writeFileSync(path.join(outside, 'x.txt'), '');
    fs.mkdirSync(path.join(ws.root, 'data'));
    fs.writeFileSync(path.join(ws.root, 'data', 'in.txt'), '');
    fs.symlinkSync(outside, path.join(ws.root, 'data', 'link'));
    const seen = path.join(ws.root, 'seen.txt');
    ws.define('t', { steps: [{ id: 'a', run: 'echo "$ITEM" >> "$SEEN"', env: { SEEN: seen }, forEach: { glob: 'data/**/*.txt' } }] });
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(readLines(seen), ['data/in.txt']);
  });

  it('a definition with 100,000 steps is refused at once, with the limit; one with 10,000 is read in reasonable time', () => {
    const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, run: 'true' }));
    ws.define('huge', { steps: steps(100_000) });
    let t = Date.now();
    refused(['run', 'huge'], 65, /huge\.json: steps: too many steps \(100000; at most 10000\): a step with forEach runs one command for many items/);
    const [listed] = JSON.parse(ptask(ws, 'list', '--json').stdout);
    assert.match(listed.error, /too many steps/);
    assert.ok(Date.now() - t < 5000, `refused in ${Date.now() - t}ms`);
    fs.rmSync(path.join(ws.tasksDir, 'huge.json'));
    ws.define('big', { steps: steps(10_000) });
    t = Date.now();
    assert.equal(status(ws, 'big').stepsTotal, 10_000);
    assert.ok(Date.now() - t < 5000, `read in ${Date.now() - t}ms`);
  });

  it('a control file replaced by a folder: the runner goes on, the CLI says what is wrong', async () => {
    const marks = path.join(ws.root, 'marks.txt');
    const gate = path.join(ws.root, 'gate');
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'a', run: `${fixture('gate.js')} a` }, { id: 'b', run: `${fixture('mark.js')} b` }] });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('a to start', () => readLines(marks).length === 1);
    // The runner's own writes are over before the refusals are watched for changes: state.json shows a's process (it is written at most five times a second).
    await waitFor('state.json to show a running', () => Boolean(status(ws, 't')?.currentStep?.pidStartTime));
    fs.rmSync(ws.file('t', 'control.json'), { force: true });
    fs.mkdirSync(ws.file('t', 'control.json'));
    fs.mkdirSync(path.join(ws.tasksDir, '.control.json'));
    refused(['pause', 't'], 65, /t\/control\.json: is a directory, not a file/);
    refused(['interrupt', 't'], 65, /t\/control\.json: is a directory, not a file/);
    refused(['pause-all'], 65, /\.tasks\/\.control\.json: is a directory, not a file/);
    const shown = ptask(ws, 'status', 't');
    assert.equal(shown.code, 0);
    assert.match(shown.stderr, /warning: .*control\.json: is a directory, not a file/);
    await waitFor('the runner to report it', () => /control\.json: is a directory, not a file \(ignored until fixed\)/.test(runner.output()));
    fs.writeFileSync(gate, '');
    assert.equal(await runner.exited, 0, runner.output());
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'b']);
  });

  describe('runner.lock held by another process', () => {
    let unrelated: ReturnType<typeof spawn> | undefined;
    afterEach(() => unrelated?.kill('SIGKILL'));
    const lockFile = () => ws.file('t', 'runner.lock');
    const writeLock = (lock: object) => {
      fs.mkdirSync(ws.runDir('t'), { recursive: true });
      fs.writeFileSync(lockFile(), JSON.stringify({ v: 1, acquiredAt: '2020-01-01T00:00:00Z', purpose: 'run', ...lock }));
    };

    it('a live, unrelated process with the lock\'s pid but another start time (pid reuse): the lock is stale and taken over', () => {
      unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
      ws.define('t', { steps: [{ id: 'a', run: 'true' }] });
      writeLock({ pid: unrelated.pid, startTime: 'proc:1', host: HOST });
      const r = ptask(ws, 'run', 't');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(status(ws, 't').status, 'completed');
      assert.equal(fs.existsSync(lockFile()), false);
      assert.equal(unrelated.exitCode, null, 'the unrelated process is left alone');
    });

    it('the same pid and start time but another host: never taken over; says how to go on', () => {
      ws.define('t', { steps: [{ id: 'a', run: 'touch pwned' }] });
      writeLock({ pid: process.pid, startTime: ownProcessStartTime(), host: 'elsewhere.example' });
      const lock = fs.readFileSync(lockFile(), 'utf8');
      // The CLI records the request (control.json) before the runner meets the lock, as for any resume.
      const r = ptask(ws, 'run', 't');
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stderr, /'t' is held by a runner on another host \(pid \d+ on elsewhere\.example; this is .*\), which cannot be checked from here: if no runner runs there any more, delete \S+runner\.lock and resume/);
      assert.equal(fs.readFileSync(lockFile(), 'utf8'), lock, 'the lock is left alone');
      assert.equal(fs.existsSync(ws.file('t', 'state.json')), false);
      assert.equal(fs.existsSync(path.join(ws.root, 'pwned')), false);
    });
  });
});
