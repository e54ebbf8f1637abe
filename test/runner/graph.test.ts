/**
 * Steps that depend on each other (`needs`), run by real runners: parallel branches overlap, a
 * pause drains every branch, kill -9 and resume, a failure in one branch, what a step is handed,
 * bad graphs refused with nothing written; and steps up to date by their `inputs` and `outputs`.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pidAlive, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: a graph of steps (needs)', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
  });
  afterEach(() => ws.cleanup());

  const q = (p: string) => JSON.stringify(p);
  const file = (name: string) => path.join(ws.root, name);
  /** The step appends "start <id> <ns>" first and, when its body succeeds, "end <id> <ns>" as its last act. */
  const timed = (id: string, body = 'true') => `echo "start ${id} $(date +%s%N)" >> ${q(marks)}; ${body} && echo "end ${id} $(date +%s%N)" >> ${q(marks)}`;
  /** Says it started, then waits (at most 20 s, else fails) for `other` to have started too, then for the gate. */
  const branch = (id: string, other: string) =>
    timed(id, `touch ${q(file(`${id}.started`))}; n=0; while [ ! -f ${q(file(`${other}.started`))} ] || [ ! -f ${q(file('gate'))} ]; do n=$((n+1)); [ $n -gt 400 ] && exit 9; sleep 0.05; done`);
  /** a → (b, c) → d: b and c meet (each waits for the other to have started), then for the gate. */
  const diamond = () =>
    ws.define('g', {
      concurrency: 2,
      steps: [
        { id: 'a', run: timed('a') },
        { id: 'b', run: branch('b', 'c'), needs: ['a'] },
        { id: 'c', run: branch('c', 'b'), needs: ['a'] },
        { id: 'd', run: timed('d'), needs: ['b', 'c'] },
      ],
    });
  const events = () => readLines(marks).map((l) => l.split(' ')).map(([what, id, ns]) => ({ what, id, t: BigInt(ns) }));
  const ends = () => events().filter((e) => e.what === 'end').map((e) => e.id);
  const both = () => fs.existsSync(file('b.started')) && fs.existsSync(file('c.started'));
  /** Run the diamond until b and c both run and state.json (written at most every 100 ms) names both, with their pids. */
  const bothInFlight = async () => {
    diamond();
    const runner = ptaskChild(ws, 'run', 'g');
    await waitFor('both branches to run', both);
    const pids = await waitFor('state.json to show both steps in flight', () => {
      const s = ws.readJson('g', 'state.json');
      return s.currentStep?.id === 'b' && s.alsoRunning?.[0]?.id === 'c' && s.currentStep.pid && s.alsoRunning[0].pid && [s.currentStep.pid, s.alsoRunning[0].pid];
    });
    return { runner, pids };
  };

  it('runs independent branches at once: their times overlap, and each step runs once', () => {
    diamond();
    fs.writeFileSync(file('gate'), '');
    const r = ptask(ws, 'run', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const e = events();
    const at = (what: string, id: string) => e.find((x) => x.what === what && x.id === id)!.t;
    assert.ok(at('start', 'b') < at('end', 'c') && at('start', 'c') < at('end', 'b'), 'b and c overlap');
    assert.ok(at('end', 'a') < at('start', 'b') && at('end', 'a') < at('start', 'c'), 'both after a');
    assert.ok(at('end', 'b') < at('start', 'd') && at('end', 'c') < at('start', 'd'), 'd after both');
    assert.deepEqual(ends().sort(), ['a', 'b', 'c', 'd']);
  });

  it('two chains at concurrency 1 run one step at a time, in the order they are defined, each once (a chain\'s next steps are sent ahead)', () => {
    // One chain after the other (its next steps sent ahead), then the two interleaved (none is).
    for (const order of [['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3'], ['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3']]) {
      fs.rmSync(marks, { force: true });
      const steps = order.map((id) => ({ id, run: timed(id), ...(id.endsWith('0') ? {} : { needs: [`${id[0]}${Number(id[1]) - 1}`] }) }));
      ws.define('chains', { steps });
      const r = ptask(ws, 'run', 'chains', '--fresh');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // Each step's start after the end before it: never two at once.
      assert.deepEqual(events().map((e) => `${e.what} ${e.id}`), steps.flatMap((s) => [`start ${s.id}`, `end ${s.id}`]), order.join(' '));
    }
  });

  it('two chains at concurrency 2 run side by side, each step after the one before it in its chain, each once', () => {
    // a2 and b2 meet (each waits for the other to have started): the chains are in flight at once.
    const meet = (id: string, other: string) =>
      timed(id, `touch ${q(file(`${id}.started`))}; n=0; while [ ! -f ${q(file(`${other}.started`))} ]; do n=$((n+1)); [ $n -gt 400 ] && exit 9; sleep 0.05; done`);
    const chain = (c: string, other: string) =>
      Array.from({ length: 6 }, (_, i) => ({ id: `${c}${i}`, run: i === 2 ? meet(`${c}2`, `${other}2`) : timed(`${c}${i}`), needs: i ? [`${c}${i - 1}`] : [] }));
    ws.define('chains', { concurrency: 2, steps: [...chain('a', 'b'), ...chain('b', 'a')] });
    const r = ptask(ws, 'run', 'chains');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const at = (what: string, id: string) => events().find((e) => e.what === what && e.id === id)!.t;
    for (const c of ['a', 'b']) {
      const mine = events().filter((e) => e.id.startsWith(c)).map((e) => `${e.what} ${e.id}`);
      assert.deepEqual(mine, Array.from({ length: 6 }, (_, i) => [`start ${c}${i}`, `end ${c}${i}`]).flat(), `chain ${c}, each step once, in order`);
    }
    assert.ok(at('start', 'a2') < at('end', 'b2') && at('start', 'b2') < at('end', 'a2'), 'a2 and b2 overlap');
  });

  it('two chains at concurrency 2, one of them declined by its slot (a step wrote outputs): its steps still run in order, each once', () => {
    // a0 writes an output, so its slot declines what it queued (a1 to a32); a1 then runs while b's
    // steps end (each end a fill of the queues): nothing may be queued behind a1 ahead of a2.
    const a = Array.from({ length: 40 }, (_, i) => ({
      id: `a${i}`,
      run: i === 0 ? timed('a0', `echo '{"x":1}' > "$TASK_STEP_OUTPUT"`) : i === 1 ? timed('a1', `n=0; while [ ! -f ${q(file('b8.done'))} ]; do n=$((n+1)); [ $n -gt 400 ] && exit 9; sleep 0.02; done`) : timed(`a${i}`),
      needs: i ? [`a${i - 1}`] : [],
    }));
    const b = Array.from({ length: 10 }, (_, i) => ({ id: `b${i}`, run: timed(`b${i}`, i === 8 ? `touch ${q(file('b8.done'))}` : 'true'), needs: i ? [`b${i - 1}`] : [] }));
    ws.define('chains', { concurrency: 2, steps: [...a, ...b] });
    const r = ptask(ws, 'run', 'chains');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const [c, n] of [['a', 40], ['b', 10]] as const) {
      const mine = events().filter((e) => e.id.startsWith(c)).map((e) => `${e.what} ${e.id}`);
      assert.deepEqual(mine, Array.from({ length: n }, (_, i) => [`start ${c}${i}`, `end ${c}${i}`]).flat(), `chain ${c}, each step once, in order`);
    }
  });

  it('a retry of the step a chain was sent ahead behind: what follows is not queued behind the retry, ahead of the steps declined', () => {
    // a0 fails once (its slot declines a1, a2); w ends once the retry has started, and the retry
    // once w is committed: w's end makes a3 ready behind a2, and its commit fills the queues while
    // the retry runs.
    const journal = ws.file('g', 'journal.jsonl');
    ws.define('g', {
      concurrency: 2,
      steps: [
        { id: 'a0', needs: [], retries: 1, retryDelay: '10ms', run: timed('a0', `[ "$TASK_STEP_ATTEMPT" = 1 ] && exit 1; touch ${q(file('retry'))}; n=0; until grep -q '"w"' ${q(journal)}; do n=$((n+1)); [ $n -gt 400 ] && exit 9; sleep 0.02; done`) },
        { id: 'a1', needs: ['a0'], run: timed('a1') },
        { id: 'a2', needs: ['a1'], run: timed('a2') },
        { id: 'a3', needs: ['a2', 'w'], run: timed('a3') },
        { id: 'w', needs: [], run: timed('w', `n=0; until [ -f ${q(file('retry'))} ]; do n=$((n+1)); [ $n -gt 400 ] && exit 9; sleep 0.02; done`) },
      ],
    });
    const r = ptask(ws, 'run', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const order = events().filter((e) => e.what === 'start').map((e) => e.id).filter((id) => id !== 'w');
    assert.deepEqual(order, ['a0', 'a0', 'a1', 'a2', 'a3'], 'a0 twice (it failed once), then a1, a2, a3');
  });

  it('a failure in one chain: nothing queued in the other chain\'s slot starts after it is seen', () => {
    // a0 ends only once the runner has seen b0 fail (it holds what is queued); a1 was queued behind a0.
    const attempts = path.join(ws.runDir('g'), 'attempts');
    ws.define('g', {
      concurrency: 2,
      steps: [
        ...Array.from({ length: 6 }, (_, i) => ({
          id: `a${i}`,
          needs: i ? [`a${i - 1}`] : [],
          run: timed(`a${i}`, i ? 'true' : `n=0; until ls ${q(attempts)} | grep -q '[.]hold$'; do n=$((n+1)); [ $n -gt 400 ] && exit 9; sleep 0.02; done`),
        })),
        { id: 'b0', needs: [], run: 'exit 1' },
      ],
    });
    const r = ptask(ws, 'run', 'g');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.deepEqual(events().map((e) => `${e.what} ${e.id}`), ['start a0', 'end a0'], 'a0 finished; nothing after it started');
  });

  it('a pause while both branches run lets both finish and starts nothing; resume runs the rest once', async () => {
    const { runner } = await bothInFlight();
    assert.match(ptask(ws, 'status', 'g').stdout, /now {7}b and c since/);
    assert.equal(ptask(ws, 'pause', 'g').code, 0);
    await waitFor('the pause to be seen', () => ws.readJson('g', 'state.json').status === 'pausing');
    fs.writeFileSync(file('gate'), '');
    assert.equal(await runner.exited, 2, runner.output());
    assert.deepEqual(ends().sort(), ['a', 'b', 'c'], 'both branches finished; d did not start');
    const checkpoint = ws.readJson('g', 'checkpoint.json');
    assert.deepEqual(checkpoint.completed.map((s: { id: string }) => s.id).sort(), ['a', 'b', 'c']);
    assert.equal(status(ws, 'g').status, 'paused');
    const plan = JSON.parse(ptask(ws, 'plan', 'g', '--json').stdout);
    assert.deepEqual(plan.steps.map((s: { id: string; action: string }) => `${s.id}:${s.action}`), ['a:done', 'b:done', 'c:done', 'd:run']);
    const r = ptask(ws, 'resume', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(ends().sort(), ['a', 'b', 'c', 'd']);
  });

  it('kill -9 of the runner while both branches run, then resume: each step once, nothing finished runs again', async () => {
    const { runner } = await bothInFlight();
    runner.child.kill('SIGKILL');
    await runner.exited;
    assert.equal(status(ws, 'g').status, 'lost');
    fs.writeFileSync(file('gate'), '');
    const r = ptask(ws, 'resume', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const counts = new Map<string, number>();
    for (const id of ends()) counts.set(id, (counts.get(id) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { a: 1, b: 1, c: 1, d: 1 });
  });

  it('interrupt while two chains run at concurrency 2, each with steps queued in its slot: both stopped, nothing queued starts; resume runs the rest once', async () => {
    // a3 and b3 meet (each waits for the other to have started), then for the gate.
    const chain = (c: string, other: string) =>
      Array.from({ length: 8 }, (_, i) => ({ id: `${c}${i}`, run: i === 3 ? branch(`${c}3`, `${other}3`) : timed(`${c}${i}`), needs: i ? [`${c}${i - 1}`] : [] }));
    ws.define('g', { concurrency: 2, steps: [...chain('a', 'b'), ...chain('b', 'a')] });
    const runner = ptaskChild(ws, 'run', 'g');
    await waitFor('a3 and b3 to run', () => fs.existsSync(file('a3.started')) && fs.existsSync(file('b3.started')));
    assert.equal(ptask(ws, 'interrupt', 'g').code, 0);
    assert.equal(await runner.exited, 4, runner.output());
    assert.deepEqual(ends().sort(), ['a0', 'a1', 'a2', 'b0', 'b1', 'b2'], 'a3 and b3 stopped; nothing behind them started');
    assert.deepEqual(events().filter((e) => e.what === 'start').map((e) => e.id).sort(), ['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
    fs.writeFileSync(file('gate'), '');
    const r = ptask(ws, 'resume', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(ends().sort(), ['a', 'b'].flatMap((c) => Array.from({ length: 8 }, (_, i) => `${c}${i}`)).sort(), 'each step done once');
  });

  it('interrupt while both branches run stops them both; resume runs them again, and the rest, once', async () => {
    const { runner, pids } = await bothInFlight();
    assert.equal(ptask(ws, 'interrupt', 'g').code, 0);
    assert.equal(await runner.exited, 4, runner.output());
    for (const pid of pids) assert.ok(!pidAlive(pid), `step process ${pid} is gone`);
    assert.deepEqual(ends(), ['a']);
    const checkpoint = ws.readJson('g', 'checkpoint.json');
    assert.deepEqual([checkpoint.unfinished.id, ...checkpoint.alsoUnfinished.map((u: { id: string }) => u.id)], ['b', 'c'], 'both unfinished, in the checkpoint');
    fs.writeFileSync(file('gate'), '');
    const r = ptask(ws, 'resume', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(ends().sort(), ['a', 'b', 'c', 'd']);
  });

  it('a failure in one branch lets the other finish, starts nothing more, and fails the task; fixed, resume runs the rest', async () => {
    const fail = file('fail');
    fs.writeFileSync(fail, '');
    ws.define('g', {
      concurrency: 2,
      steps: [
        { id: 'a', run: timed('a') },
        { id: 'b', run: timed('b', `while [ ! -f ${q(file('c.started'))} ]; do sleep 0.02; done; [ ! -f ${q(fail)} ]`), needs: ['a'] },
        { id: 'c', run: timed('c', `touch ${q(file('c.started'))}; while [ ! -f ${q(file('b.failed'))} ]; do [ -f ${q(fail)} ] || break; sleep 0.02; done`), needs: ['a'] },
        { id: 'd', run: timed('d'), needs: ['b', 'c'] },
        { id: 'e', run: timed('e'), needs: ['b'] },
      ],
    });
    const runner = ptaskChild(ws, 'run', 'g');
    await waitFor('b to have failed, c still running', () => {
      const s = ws.readJson('g', 'state.json');
      return events().some((e) => e.what === 'start' && e.id === 'b') && s.currentStep?.id === 'c' && !s.alsoRunning;
    });
    fs.writeFileSync(file('b.failed'), '');
    assert.equal(await runner.exited, 1, runner.output());
    assert.deepEqual(ends().sort(), ['a', 'c'], 'c finished after b failed; d and e never started');
    const s = status(ws, 'g');
    assert.equal(s.status, 'failed');
    assert.match(s.reason, /step 'b' failed/);
    fs.rmSync(fail);
    const r = ptask(ws, 'resume', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(ends().sort(), ['a', 'b', 'c', 'd', 'e']);
  });

  it('a failure under pauseOn in one branch pauses the whole task: the other finishes, nothing starts; resume runs the rest', async () => {
    const once = file('failed-once');
    ws.define('g', {
      concurrency: 2,
      pauseOn: { exitCodes: [42] },
      steps: [
        { id: 'b', run: timed('b', `while [ ! -f ${q(file('c.started'))} ]; do sleep 0.02; done; [ -f ${q(once)} ] || { touch ${q(once)}; exit 42; }`), needs: [] },
        { id: 'c', run: timed('c', `touch ${q(file('c.started'))}; while [ ! -f ${q(file('go'))} ]; do sleep 0.02; done`), needs: [] },
        { id: 'd', run: timed('d'), needs: ['b', 'c'] },
      ],
    });
    const runner = ptaskChild(ws, 'run', 'g');
    await waitFor('the pause on b', () => ws.readJson('g', 'state.json').status === 'pausing');
    fs.writeFileSync(file('go'), '');
    assert.equal(await runner.exited, 2, runner.output());
    assert.deepEqual(ends(), ['c'], 'c finished; d did not start');
    const s = status(ws, 'g');
    assert.equal(s.status, 'paused');
    assert.equal(s.pausedBy, 'failure');
    const r = ptask(ws, 'resume', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(ends(), ['c', 'b', 'd']);
  });

  it("a step gets the outputs of the steps it needs, directly or through others, and no other's", () => {
    const out = (key: string) => `echo '{"v":"${key}"}' > "$TASK_STEP_OUTPUT"`;
    const env = (id: string) => `env | grep '^TASK_OUTPUT_' | sort | sed 's/^/${id} /' >> ${q(marks)}`;
    ws.define('g', {
      concurrency: 2,
      steps: [
        { id: 'a', run: out('a') },
        { id: 'side', run: out('side'), needs: [] },
        { id: 'b', run: `${env('b')}; ${out('b')}`, needs: ['a'] },
        { id: 'c', run: env('c'), needs: ['b'] },
      ],
    });
    const r = ptask(ws, 'run', 'g');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(readLines(marks).sort(), ['b TASK_OUTPUT_A_V=a', 'c TASK_OUTPUT_A_V=a', 'c TASK_OUTPUT_B_V=b']);
  });

  for (const [what, steps, message] of [
    ['a cycle', [{ id: 'a', run: 'true', needs: ['c'] }, { id: 'b', run: 'true', needs: ['a'] }, { id: 'c', run: 'true', needs: ['b'] }], /steps\[0\]\.needs: the steps' needs form a cycle: a → b → c → a/],
    ['a cycle through a step without needs', [{ id: 'a', run: 'true', needs: ['b'] }, { id: 'b', run: 'true' }], /form a cycle: a → b → a \("b" has no needs, so it needs the step before it/],
    ['an unknown need', [{ id: 'a', run: 'true' }, { id: 'b', run: 'true', needs: ['A2'] }], /steps\[1\]\.needs: step "b" needs "A2", which is not a step of this task/],
    ['a step needing itself', [{ id: 'a', run: 'true', needs: ['a'] }], /steps\[0\]\.needs: step "a" needs itself/],
  ] as const)
    it(`refuses ${what}, naming the file and the path, and writes nothing`, () => {
      ws.define('g', { steps });
      const r = ptask(ws, 'run', 'g');
      assert.equal(r.code, 65, r.stdout + r.stderr);
      assert.match(r.stderr, /g\.json/);
      assert.match(r.stderr, message);
      assert.ok(!fs.existsSync(ws.runDir('g')), 'no run folder');
    });
});

describe('runner: steps up to date by their inputs and outputs', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    fs.mkdirSync(path.join(ws.root, 'in'));
    for (const n of [1, 2, 3]) fs.writeFileSync(path.join(ws.root, 'in', `${n}.txt`), `data ${n}\n`);
    fs.writeFileSync(path.join(ws.root, 'title.txt'), 'Report\n');
  });
  afterEach(() => ws.cleanup());

  const q = (p: string) => JSON.stringify(p);
  const ran = () => readLines(marks);
  // sum: in/*.txt → sums.txt; report: sums.txt and title.txt → report.txt (needs sum); notes: on its own, no inputs.
  const define = () =>
    ws.define('t', {
      concurrency: 2,
      steps: [
        { id: 'sum', run: `echo sum >> ${q(marks)}; cat in/*.txt | sha256sum > sums.txt`, inputs: ['in/*.txt'], outputs: ['sums.txt'] },
        { id: 'report', run: `echo report >> ${q(marks)}; cat title.txt sums.txt > report.txt; echo '{"lines":2}' > "$TASK_STEP_OUTPUT"`, inputs: ['sums.txt', 'title.txt'], outputs: ['report.txt'] },
        { id: 'publish', run: `echo "publish $TASK_OUTPUT_REPORT_LINES" >> ${q(marks)}`, needs: ['report'] },
      ],
    });
  const plan = () => JSON.parse(ptask(ws, 'plan', 't', '--json').stdout).steps.map((s: { id: string; action: string }) => `${s.id}:${s.action}`).join(' ');

  it('a second run runs nothing that is up to date, and hands on its outputs from its last success', () => {
    define();
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(ran(), ['sum', 'report', 'publish 2']);
    assert.equal(plan(), 'sum:done report:done publish:run', 'publish says no inputs: it always runs');
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /= sum \(1\/3\) up to date: its command, environment and 3 inputs are as when it succeeded/);
    assert.deepEqual(ran(), ['sum', 'report', 'publish 2', 'publish 2'], 'only publish ran, with the output report gave last time');
    const completed = ws.readJson('t', 'checkpoint.json').completed;
    assert.equal(completed.find((s: { id: string }) => s.id === 'sum').attempts, 0);
    assert.ok(completed.find((s: { id: string }) => s.id === 'sum').upToDate);
  });

  it('changing one input runs exactly that step and what needs it; a missing output, or a changed command, runs it too', () => {
    define();
    assert.equal(ptask(ws, 'run', 't').code, 0);
    fs.writeFileSync(path.join(ws.root, 'title.txt'), 'Another title\n');
    const planned = JSON.parse(ptask(ws, 'plan', 't', '--json').stdout).steps;
    assert.equal(planned[1].action, 'run');
    assert.match(planned[1].reason, /its input title\.txt changed since it last succeeded/);
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(ran().slice(3), ['report', 'publish 2'], 'sum stayed up to date');
    // Same content written again: a new modification time, the same contents: still up to date.
    fs.writeFileSync(path.join(ws.root, 'in', '1.txt'), 'data 1\n');
    fs.utimesSync(path.join(ws.root, 'in', '1.txt'), new Date(), new Date(Date.now() + 5000));
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(ran().slice(5), ['publish 2']);
    fs.writeFileSync(path.join(ws.root, 'in', '2.txt'), 'changed\n');
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(ran().slice(6), ['sum', 'report', 'publish 2'], 'sum changed: what needs it runs');
    fs.rmSync(path.join(ws.root, 'report.txt'));
    assert.match(JSON.parse(ptask(ws, 'plan', 't', '--json').stdout).steps[1].reason, /its output report\.txt is missing/);
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(ran().slice(9), ['report', 'publish 2']);
  });

  it('a step that failed is not up to date afterwards, though its inputs are unchanged; reset forgets what was up to date', () => {
    define();
    assert.equal(ptask(ws, 'run', 't').code, 0);
    const def = JSON.parse(fs.readFileSync(path.join(ws.tasksDir, 't.json'), 'utf8'));
    const good = def.steps[1].run;
    def.steps[1].run = `echo report >> ${q(marks)}; exit 4`;
    ws.define('t', def);
    assert.equal(ptask(ws, 'run', 't').code, 1);
    def.steps[1].run = good;
    ws.define('t', def);
    // A failed task runs again from its first step with --fresh: sum is up to date, report is not.
    assert.equal(ptask(ws, 'run', 't', '--fresh').code, 0);
    assert.deepEqual(ran().slice(3), ['report', 'report', 'publish 2'], 'the failed run left no stamp: report ran again');
    assert.equal(ptask(ws, 'reset', 't').code, 0);
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.deepEqual(ran().slice(6), ['sum', 'report', 'publish 2']);
  });
});
