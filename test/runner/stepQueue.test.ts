/**
 * A chain's next step is sent ahead to the slot of the step running (stepQueue.ts), which starts
 * it the moment that one ends. What the runner would have decided between the two, the slot must
 * decide the same way: these steps make each decision go the other way from a plain run. (A pause
 * asked for by the step itself is declined by the hold file when the runner saw it in time, else
 * by the control file's stamp: test/unit/slotScript.test.ts checks the stamp alone.)
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, powerLoss, ptask, ptaskChild, readLines, recordsText, RUNNER, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: a chain step queued behind the one before', () => {
  let ws: Workspace;
  let marks: string;
  let m: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    m = JSON.stringify(marks);
  });
  afterEach(() => ws.cleanup());

  const cli = (...args: string[]) => [process.execPath, RUNNER, ...args, '--root', ws.root].map((a) => JSON.stringify(a)).join(' ');

  it('a step that asks for a pause as its last act, and exits 0: the step behind it does not start', () => {
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo a >> ${m}; ${cli('pause', 't')} > /dev/null` },
        { id: 'b', run: `echo b >> ${m}` },
        { id: 'c', run: `echo c >> ${m}` },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['a'], 'b was queued, and declined: a control file was written since it was sent');
    assert.equal(status(ws, 't').status, 'paused');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c']);
  });

  it('a trivial step that writes a pause into control.json itself as its last act: nothing behind it starts, however the race with the watcher falls', () => {
    // No slow `ptask pause` in between: the step behind was sent ahead on the file's stamp, and the
    // slot declines it. The runner, whose boundary may not look again within 5 ms of its last look,
    // looks before it starts a declined step itself (a window this test does not reliably hit).
    const control = path.join(ws.runDir('t'), 'control.json');
    const pause = `n=$(sed -n 's/.*"seq": *\\([0-9]*\\).*/\\1/p' ${JSON.stringify(control)}); ` +
      `printf '{"v":1,"seq":%d,"desired":"paused","requestedAt":"2026-01-01T00:00:00.000Z","requestedBy":"test"}' $((\${n:-0} + 1)) > ${JSON.stringify(control)}.tmp && mv ${JSON.stringify(control)}.tmp ${JSON.stringify(control)}`;
    for (const at of [3, 8, 14]) {
      fs.rmSync(marks, { force: true });
      ws.define('t', { steps: Array.from({ length: 20 }, (_, i) => ({ id: `s${i}`, run: i === at ? `echo ${i} >> ${m}; ${pause}` : `echo ${i} >> ${m}` })) });
      const r = ptask(ws, 'run', 't', '--fresh');
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.deepEqual(readLines(marks), Array.from({ length: at + 1 }, (_, i) => String(i)), `the steps after s${at} did not start`);
      assert.equal(ptask(ws, 'resume', 't').code, 0);
      assert.deepEqual(readLines(marks), Array.from({ length: 20 }, (_, i) => String(i)), 'resume ran the rest once');
    }
  });

  it('two chains at concurrency 2, each sent ahead in its own slot: a step of one asks for a pause as its last act; both drain, each step runs once, in its chain\'s order, and resume runs the rest', () => {
    const chain = (c: string) => Array.from({ length: 30 }, (_, i) => ({ id: `${c}${i}`, needs: i ? [`${c}${i - 1}`] : [], run: `echo ${c}${i} >> ${m}${c === 'a' && i === 10 ? `; ${cli('pause', 't')} > /dev/null` : ''}` }));
    ws.define('t', { concurrency: 2, steps: [...chain('a'), ...chain('b')] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(status(ws, 't').status, 'paused');
    const inOrder = (c: string, n?: number) => {
      const mine = readLines(marks).filter((l) => l.startsWith(c));
      assert.deepEqual(mine, Array.from({ length: n ?? mine.length }, (_, i) => `${c}${i}`), `chain ${c}: each step once, in order`);
    };
    inOrder('a');
    inOrder('b');
    assert.deepEqual(readLines(marks).filter((l) => l.startsWith('a')).at(-1), 'a10', 'nothing of a after the step that paused');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    inOrder('a', 30);
    inOrder('b', 30);
  });

  it('a step that pauses every task (the global control file) as its last act: the same', () => {
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo a >> ${m}; ${cli('pause-all')} > /dev/null` },
        { id: 'b', run: `echo b >> ${m}` },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['a']);
  });

  it('a step that sends its runner Ctrl+C as its last act: however the race falls, the task pauses with each step run at most once, and resume runs the rest once', () => {
    // The runner may see the signal before the slot decides on b (b is declined: the hold file), or
    // after (b was in flight: it finishes, and is committed), and under load even after b ended (c,
    // queued too, ran as well). A signal changes no control file, so only the hold file stops them.
    // The step's parent is its slot, and the slot's parent its runner (/proc/<pid>/stat's 4th field).
    const runnerPid = '$(cut -d" " -f4 /proc/$PPID/stat)';
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo a >> ${m}; kill -INT ${runnerPid}` },
        { id: 'b', run: `echo b >> ${m}` },
        { id: 'c', run: `echo c >> ${m}` },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const first = readLines(marks);
    assert.ok(['a', 'a,b', 'a,b,c'].includes(first.join(',')), `ran ${first.join(',')}: in order, each at most once`);
    const done = ws.readJson('t', 'checkpoint.json').completed.map((s: { id: string }) => s.id);
    assert.deepEqual(done, first, 'what ran is committed, nothing more');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c']);
  });

  it('a hold file while the run goes on (here a step writes it): what was queued is declined and sent again to an idle slot, and there it starts', () => {
    // The soak met a pause's hold file landing just after a step was sent to an idle slot: the slot
    // declined it, and the runner took that for a fault. A request sent to an idle slot is the
    // runner's decision of now; only what was queued waits for the hold.
    const hold = `${JSON.stringify(ws.file('t', 'attempts'))}/$(cut -d" " -f4 /proc/$PPID/stat).hold`;
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo a >> ${m}; touch ${hold}` },
        { id: 'b', run: `echo b >> ${m}` },
        { id: 'c', run: `echo c >> ${m}` },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c']);
  });

  it('a step that writes outputs: the step behind it starts again with them, and the one behind that too', () => {
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo '{"n": 1}' > "$TASK_STEP_OUTPUT"` },
        { id: 'b', run: `echo "b $TASK_OUTPUT_A_N" >> ${m}; echo '{"n": 2}' > "$TASK_STEP_OUTPUT"` },
        { id: 'c', run: `echo "c $TASK_OUTPUT_A_N $TASK_OUTPUT_B_N" >> ${m}`, needs: ['a', 'b'] },
        { id: 'd', run: `echo "d" >> ${m}` },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['b 1', 'c 1 2', 'd'], 'each ran once, with the outputs before it');
  });

  it('in a graph, a step that waits for two is not queued behind the one still running on the word of the one that ended', () => {
    // x and a start together (a last); x waits for a's gate, so a ends first and d then waits for x alone.
    const gate = path.join(ws.root, 'a-ran');
    ws.define('t', {
      concurrency: 2,
      steps: [
        { id: 'x', run: `${fixture('gate.js')} x && echo '{"n": 7}' > "$TASK_STEP_OUTPUT"`, env: { GATE: gate }, needs: [] },
        { id: 'a', run: `touch ${JSON.stringify(gate)}`, needs: [] },
        { id: 'd', run: `echo "d $TASK_OUTPUT_X_N" >> ${m}`, needs: ['a', 'x'] },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['d 7'], "d ran after x, with x's outputs");
  });

  it('a step that fails and succeeds on its retry: the step behind it runs once, after the retry', () => {
    const once = path.join(ws.root, 'failed-once');
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo a >> ${m}; [ -f ${JSON.stringify(once)} ] || { touch ${JSON.stringify(once)}; exit 3; }`, retries: 1, retryDelay: '10ms' },
        { id: 'b', run: `echo b >> ${m}` },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks), ['a', 'a', 'b']);
  });

  it('a power loss after a step ended, its journal line not yet synced: resume commits it from its synced end record, and does not run it again', async () => {
    const slow = path.join(ws.root, 'slow');
    fs.writeFileSync(slow, '');
    ws.define('t', {
      steps: [
        { id: 'a', run: `echo a >> ${m}` },
        { id: 'b', run: `echo b >> ${m}` },
        { id: 'c', run: `echo c-started >> ${m}; while [ -f ${JSON.stringify(slow)} ]; do sleep 0.05; done; echo c >> ${m}` },
      ],
    });
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('step c to run', () => readLines(marks).includes('c-started'));
    powerLoss(ws);
    await runner.exited;
    fs.rmSync(slow);
    // What the power loss may take: the journal lines of a and b, which wait for the group commit
    // (their slot synced their ends before anything after them started).
    const journal = ws.file('t', 'journal.jsonl');
    const kept = readLines(journal).filter((line) => !/"step-completed"/.test(line));
    fs.writeFileSync(journal, kept.map((line) => line + '\n').join(''));
    assert.match(recordsText(ws, 't'), /^end\tb\t1\t0\t/m, "b's end is in the records");
    const r = ptask(ws, 'resume', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Adopting what the lost runner left/);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c-started', 'c-started', 'c'], 'a and b ran once; c, in flight, ran again');
    assert.deepEqual(ws.readJson('t', 'checkpoint.json').completed.map((s: { id: string }) => s.id), ['a', 'b', 'c']);
  });
});
