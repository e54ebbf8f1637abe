/**
 * A run folder deleted while its runner runs (`rm -rf .tasks/x`, or `git clean -fdX`, which deletes
 * run folders because the .gitignore the tools write ignores them), then a new run: the old runner
 * notices that runner.lock is no longer its own, stops its step, and writes nothing into the new run.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptaskChild, readLines, waitFor, workspace, type Workspace } from './helpers';

describe('runner: its run folder deleted while it runs', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    // A step ends once the test lets its run go on: the old run's never is, so its step is in flight when the folder goes.
    const go = JSON.stringify(path.join(ws.root, 'go-'));
    const step = (id: string) => ({ id, run: `echo "start ${id} $TASK_RUN_ID" >> ${JSON.stringify(marks)}; while [ ! -e ${go}"$TASK_RUN_ID" ]; do sleep 0.02; done; echo "end ${id} $TASK_RUN_ID" >> ${JSON.stringify(marks)}` });
    ws.define('t', { steps: [step('a'), step('b'), step('c')] });
  });
  afterEach(() => ws.cleanup());

  const deleteThenRunAgain = async (remove: () => void) => {
    const old = ptaskChild(ws, 'run', 't');
    const oldRun = await waitFor('the first run to start step a', () => readLines(marks).find((l) => l.startsWith('start a '))?.split(' ')[2]);
    remove();
    assert.equal(fs.existsSync(ws.runDir('t')), false, 'the run folder is gone');
    const again = ptaskChild(ws, 'run', 't');
    const newRunId = await waitFor('the new run to start step a', () => readLines(marks).find((l) => l.startsWith('start a ') && !l.endsWith(oldRun))?.split(' ')[2]);
    fs.writeFileSync(path.join(ws.root, `go-${newRunId}`), '');
    assert.equal(await again.exited, 0, again.output());
    const code = await old.exited;
    assert.ok(code === 1 || code === 3, `the old runner stops: exit ${code}\n${old.output()}`);
    assert.match(old.output(), /Stopped 't': (its run folder was deleted|another runner holds it now)/);

    const lines = readLines(marks);
    const newRun = fs.readFileSync(ws.file('t', 'checkpoint.json'), 'utf8').match(/"runId": "([^"]+)"/)![1];
    assert.notEqual(newRun, oldRun);
    assert.deepEqual(lines.filter((l) => l.endsWith(newRun)), ['a', 'b', 'c'].flatMap((s) => [`start ${s} ${newRun}`, `end ${s} ${newRun}`]), 'the new run ran each step once');
    assert.deepEqual(lines.filter((l) => l.endsWith(oldRun)), [`start a ${oldRun}`], 'the old run started nothing more, and its step was stopped');
    // Nothing of the old runner in the new run's files.
    const state = ws.readJson('t', 'state.json');
    assert.equal(state.status, 'completed');
    assert.equal(state.runId, newRun);
    const runnerLog = fs.existsSync(ws.file('t', 'runner.log')) ? fs.readFileSync(ws.file('t', 'runner.log'), 'utf8') : '';
    assert.doesNotMatch(runnerLog, new RegExp(`Stopp|${oldRun.slice(0, 8)}`));
    assert.equal(fs.readFileSync(ws.file('t', 'journal.jsonl'), 'utf8'), '');
  };

  it('rm -rf of the run folder, then a new run', () => deleteThenRunAgain(() => fs.rmSync(ws.runDir('t'), { recursive: true, force: true })));

  it('rm -rf, and the folder made again before the old runner looks: its state.json (a timer writes it) is not written there', async () => {
    // Control files looked at only when they change: the write that comes first is the heartbeat's.
    const old = ptaskChild(ws, 'run', 't', '--poll-ms', '600000');
    await waitFor('the run to start step a', () => readLines(marks).some((l) => l.startsWith('start a ')));
    fs.rmSync(ws.runDir('t'), { recursive: true, force: true });
    fs.mkdirSync(ws.runDir('t'));
    let code: number | undefined;
    void old.exited.then((c) => (code = c));
    // Within the heartbeat and then some; it wrote into the folder and ran on, before.
    await waitFor('the old runner to stop', () => code !== undefined, 10_000).finally(() => old.child.kill('SIGKILL'));
    assert.equal(code, 1, old.output());
    assert.match(old.output(), /Stopped 't': its run folder was deleted/);
    assert.deepEqual(fs.readdirSync(ws.runDir('t')), [], 'nothing written into the folder made again');
  });

  it('git clean -fdX (run folders are ignored, so it deletes them), then a new run', async () => {
    const git = (...args: string[]) => {
      const r = spawnSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: ws.root, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    git('init', '-q');
    // The .gitignore the tools write on the first run, written here before it.
    fs.writeFileSync(path.join(ws.tasksDir, '.gitignore'), '*/\n.control.json\n');
    fs.writeFileSync(path.join(ws.root, '.gitignore'), 'marks\n');
    git('add', '.');
    git('commit', '-qm', 'tasks');
    // The runner writes into the folder as git deletes it ("failed to remove .tasks/t/: Directory
    // not empty"): as a person would, run it again until the folder is gone.
    const clean = () => spawnSync('git', ['clean', '-fdXq', '.tasks'], { cwd: ws.root, encoding: 'utf8' });
    await deleteThenRunAgain(() => {
      for (let i = 0; i < 50 && fs.existsSync(ws.runDir('t')); i++) clean();
    });
    assert.ok(fs.existsSync(path.join(ws.tasksDir, 't.json')), 'the definition is kept');
  });
});
