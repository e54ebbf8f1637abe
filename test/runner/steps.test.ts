import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, pidAlive, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: what a step sees and how it ends', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  it('hands outputs to later steps, runs in cwd with env, and logs each step', () => {
    fs.mkdirSync(path.join(ws.root, 'work'));
    ws.define('t', {
      cwd: 'work',
      env: { GREETING: 'hi' },
      steps: [
        { id: 'produce', run: `echo '{"count": 3, "meta": {"lang": "en"}}' > "$TASK_STEP_OUTPUT"` },
        { id: 'consume', run: 'echo "$GREETING $TASK_OUTPUT_PRODUCE_COUNT $TASK_OUTPUT_PRODUCE_META $TASK_ID $TASK_STEP_ID $(pwd)" > seen.txt; echo to-stderr >&2' },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stderr);
    const seen = fs.readFileSync(path.join(ws.root, 'work', 'seen.txt'), 'utf8').trim();
    assert.equal(seen, `hi 3 {"lang":"en"} t consume ${fs.realpathSync(path.join(ws.root, 'work'))}`);
    assert.deepEqual(ws.readJson('t', 'checkpoint.json').completed[0].outputs, { count: 3, meta: { lang: 'en' } });
    assert.match(fs.readFileSync(ws.file('t', 'logs/consume.log'), 'utf8'), /=== consume attempt 1 .*\nto-stderr\n/);
  });

  it("each step sees its own environment only: a variable another step had in the same slot is gone (a slot's request carries only what changed)", () => {
    const seen = path.join(ws.root, 'seen.txt');
    const show = `echo "$TASK_STEP_ID A=\${A-unset} B=\${B-unset}" >> ${JSON.stringify(seen)}`;
    ws.define('t', { env: { B: 'task' }, steps: [{ id: 'one', run: show, env: { A: 'one', B: 'step' } }, { id: 'two', run: show }, { id: 'three', run: show, env: { A: 'three' } }] });
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(readLines(seen), ['one A=one B=step', 'two A=unset B=task', 'three A=three B=task']);
  });

  it('retries a failing step with a growing delay, then fails with the reason and resumes from that step', () => {
    const count = path.join(ws.root, 'count');
    ws.define('t', {
      steps: [
        { id: 'ok', run: 'true' },
        { id: 'flaky', run: `echo x >> ${count}; exit 3`, retries: 2, retryDelay: '50ms' },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step 'flaky' failed: exit code 3/);
    assert.equal(readLines(count).length, 3, 'one attempt and two retries');
    assert.match(r.stdout, /retrying in 50ms[\s\S]*retrying in 100ms/);
    const s = status(ws, 't');
    assert.equal(s.status, 'failed');
    assert.match(s.reason, /exit code 3/);
    ws.define('t', { steps: [{ id: 'ok', run: 'true' }, { id: 'flaky', run: `echo x >> ${count}; exit 0`, retries: 2, retryDelay: '50ms' }] });
    assert.equal(ptask(ws, 'resume', 't', '--force').code, 0);
    assert.equal(readLines(count).length, 4);
  });

  it('times out a step and kills its process group', () => {
    ws.define('t', { steps: [{ id: 'slow', run: `${fixture('forever.js')}`, timeout: '300ms' }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /timed out after 300ms/);
  });

  it('a step that writes outputs that are not a JSON object fails, saying so', () => {
    ws.define('t', { steps: [{ id: 'bad', run: 'echo "[1,2]" > "$TASK_STEP_OUTPUT"' }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TASK_STEP_OUTPUT.*not a JSON object/);
  });

  it('reports ::progress lines in state.json, and keeps the step state across an interrupt', async () => {
    const gate = path.join(ws.root, 'gate');
    ws.define('t', {
      env: { GATE: gate },
      steps: [
        {
          id: 'batch',
          run: `[ -f "$TASK_STEP_STATE" ] && echo "resumed from $(cat "$TASK_STEP_STATE")" > ${path.join(ws.root, 'resumed.txt')}; echo 7 > "$TASK_STEP_STATE"; echo "::progress 7/10"; while [ ! -f ${gate} ]; do sleep 0.02; done`,
        },
      ],
    });
    ptask(ws, 'run', 't', '--detach');
    const s = await waitFor('progress', () => {
      const st = status(ws, 't');
      return st.progress?.done === 7 && st;
    });
    assert.deepEqual(s.progress, { done: 7, total: 10 });
    assert.equal(ptask(ws, 'interrupt', 't', '--wait').code, 0);
    assert.deepEqual(ws.readJson('t', 'checkpoint.json').unfinished.state, 7);
    fs.rmSync(ws.file('t', 'steps'), { recursive: true }); // as after a reboot that lost the step files: the checkpoint hands it back
    fs.writeFileSync(gate, '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.equal(fs.readFileSync(path.join(ws.root, 'resumed.txt'), 'utf8').trim(), 'resumed from 7');
  });

  it('shows a task whose runner died as lost, and resumes it', async () => {
    const marks = path.join(ws.root, 'marks.txt');
    const gate = path.join(ws.root, 'gate');
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'a', run: `${fixture('gate.js')} a` }, { id: 'b', run: `${fixture('mark.js')} b` }] });
    ptask(ws, 'run', 't', '--detach');
    await waitFor('a to start', () => readLines(marks).length === 1);
    const pid = status(ws, 't').pid;
    process.kill(pid, 'SIGKILL');
    const lost = await waitFor('lost', () => {
      const st = status(ws, 't');
      return st.status === 'lost' && st;
    });
    assert.match(lost.reason, /runner \(pid \d+\) is no longer running|no runner\.lock/);
    const list = JSON.parse(ptask(ws, 'list', '--json').stdout);
    assert.equal(list[0].status, 'lost');
    const orphan = Number(readLines(marks)[0].split(' ')[1]);
    assert.ok(pidAlive(orphan), 'the step outlived its runner');
    const resume = ptaskChild(ws, 'resume', 't');
    await waitFor('a to be adopted', () => status(ws, 't').adopted?.running === 1);
    assert.ok(pidAlive(orphan), 'the step its runner left is waited for, not stopped');
    fs.writeFileSync(gate, '');
    assert.equal(await resume.exited, 0, resume.output());
    assert.match(resume.output(), /Adopting what the lost runner left: 1 attempt\(s\) still running/);
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'b'], 'a ran once');
  });

  it('reset forgets the progress and keeps the last checkpoint in the history', () => {
    ws.define('t', { steps: [{ id: 'a', run: 'exit 1' }] });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    assert.equal(ptask(ws, 'reset', 't').code, 0);
    assert.equal(status(ws, 't').status, 'idle');
    assert.equal(fs.existsSync(ws.file('t', 'checkpoint.json')), false);
    assert.ok(fs.readdirSync(ws.file('t', 'checkpoints')).some((n) => n.endsWith('-failed.json')));
  });

  it('pause-all pauses running tasks and starts none; resume-all resumes the ones it paused', async () => {
    const gate = path.join(ws.root, 'gate');
    for (const id of ['one', 'two']) ws.define(id, { env: { GATE: gate }, steps: [{ id: 'wait', run: `${fixture('gate.js')} ${id}` }, { id: 'then', run: 'true' }] });
    ws.define('three', { steps: [{ id: 'x', run: 'true' }] });
    fs.writeFileSync(path.join(ws.root, 'marks.txt'), '');
    for (const id of ['one', 'two']) assert.equal(ptask(ws, 'run', id, '--detach').code, 0);
    assert.equal(ptask(ws, 'pause-all').code, 0);
    const blocked = ptask(ws, 'run', 'three');
    assert.equal(blocked.code, 2);
    assert.match(blocked.stderr, /pause-all is on/);
    fs.writeFileSync(gate, '');
    for (const id of ['one', 'two']) await waitFor(`${id} paused`, () => status(ws, id).status === 'paused');
    assert.equal(status(ws, 'one').pausedBy, 'global');
    const r = ptask(ws, 'resume-all');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /resumed one, two/);
    for (const id of ['one', 'two']) await waitFor(`${id} completed`, () => status(ws, id).status === 'completed');
    assert.equal(status(ws, 'three').status, 'idle');
  });
});
