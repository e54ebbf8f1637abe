/**
 * Work that outlives its runner: attempts run under slots that record their own end, so a runner
 * killed with -9 orphans nothing. The next runner adopts what it left: attempts still running are
 * waited for, not run again; attempts that ended while no runner watched are committed from their
 * records. Each item and step appends its mark as its last act: a mark twice is work run twice.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countOf, pidAlive, ptask, ptaskChild, readLines, recordsText, status, waitFor, workspace, type Workspace } from './helpers';

const gated = (dir: string, name: string) => `echo ${name} >> ${JSON.stringify(path.join(dir, 'starts'))}; while [ ! -e ${JSON.stringify(path.join(dir, `gate-${name}`))} ]; do sleep 0.02; done`;
const mark = (dir: string, name: string) => `echo ${name} >> ${JSON.stringify(path.join(dir, 'marks'))}`;


/** `ptask run` in the foreground, killed with -9 once `count` attempts have started. */
async function runKilledAfter(ws: Workspace, id: string, count: number): Promise<void> {
  const first = ptaskChild(ws, 'run', id);
  await waitFor(`${count} attempt(s) to start`, () => readLines(path.join(ws.root, 'starts')).length === count);
  first.child.kill('SIGKILL');
  await first.exited;
}

describe('runner: work that outlives its runner', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  it('an item mid-way when its runner is killed is adopted and finishes once; one that ends while no runner is alive is committed from its record', async () => {
    const dir = ws.root;
    ws.define('t', { steps: [{ id: 'e', run: `${gated(dir, '$ITEM')}; ${mark(dir, '$ITEM')}`, forEach: { items: ['a', 'b', 'c'] }, concurrency: 2 }] });
    await runKilledAfter(ws, 't', 2);
    // Item a ends while no runner is alive: its slot records the end.
    fs.writeFileSync(path.join(dir, 'gate-a'), '');
    await waitFor('a to end, recorded', () => readLines(path.join(dir, 'marks')).includes('a') && /^end\te#0\t1\t0\t/m.test(recordsText(ws, 't')));
    const second = ptaskChild(ws, 'resume', 't');
    const resumed = await waitFor('the resume to adopt both', () => {
      const s = status(ws, 't');
      return s.status === 'running' && s.adopted && s;
    });
    assert.deepEqual(resumed.adopted, { running: 1, ended: 1 });
    assert.match(ptask(ws, 'status', 't').stdout, /adopted +from the lost runner: 1 attempt\(s\) still running, 1 that had ended while no runner watched/);
    fs.writeFileSync(path.join(dir, 'gate-b'), '');
    fs.writeFileSync(path.join(dir, 'gate-c'), '');
    assert.equal(await second.exited, 0, second.output());
    assert.equal(status(ws, 't').status, 'completed');
    assert.deepEqual(readLines(path.join(dir, 'starts')).sort(), ['a', 'b', 'c'], 'no item started twice');
    assert.deepEqual(readLines(path.join(dir, 'marks')).sort(), ['a', 'b', 'c']);
    assert.ok(!fs.existsSync(ws.file('t', 'attempts')), 'the records go once the run has committed them');
  });

  it('a step mid-way is adopted: not run again, its outputs reach the next step', async () => {
    const dir = ws.root;
    const out = path.join(dir, 'b-saw');
    ws.define('t', {
      steps: [
        { id: 'a', run: `${gated(dir, 'a')}; echo '{"answer":"42"}' > "$TASK_STEP_OUTPUT"; ${mark(dir, 'a')}` },
        { id: 'b', run: `echo "$TASK_OUTPUT_A_ANSWER" > ${JSON.stringify(out)}; ${mark(dir, 'b')}` },
      ],
    });
    await runKilledAfter(ws, 't', 1);
    const second = ptaskChild(ws, 'resume', 't');
    await waitFor('the resume to adopt a', () => status(ws, 't').adopted?.running === 1);
    fs.writeFileSync(path.join(dir, 'gate-a'), '');
    assert.equal(await second.exited, 0, second.output());
    assert.deepEqual(readLines(path.join(dir, 'starts')), ['a']);
    assert.deepEqual(readLines(path.join(dir, 'marks')), ['a', 'b']);
    assert.equal(fs.readFileSync(out, 'utf8').trim(), '42');
  });

  it('interrupt stops an adopted attempt; resume runs it again', async () => {
    const dir = ws.root;
    ws.define('t', { steps: [{ id: 'a', run: `${gated(dir, 'a')}; ${mark(dir, 'a')}` }] });
    await runKilledAfter(ws, 't', 1);
    const second = ptaskChild(ws, 'resume', 't');
    await waitFor('the resume to adopt a', () => status(ws, 't').adopted?.running === 1);
    assert.equal(ptask(ws, 'interrupt', 't', '--wait', '--timeout', '10').code, 0);
    assert.equal(await second.exited, 4, second.output());
    assert.equal(status(ws, 't').status, 'interrupted');
    fs.writeFileSync(path.join(dir, 'gate-a'), '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(readLines(path.join(dir, 'starts')), ['a', 'a'], 'stopped, then run again');
    assert.deepEqual(readLines(path.join(dir, 'marks')), ['a']);
  });

  it('an item that failed with a pauseOn line while no runner watched pauses the task on resume, as if watched', async () => {
    const dir = ws.root;
    ws.define('t', {
      pauseOn: { outputMatches: ['rate limit'] },
      steps: [{ id: 'e', run: `${gated(dir, '$ITEM')}; [ -e ${JSON.stringify(path.join(dir, 'fixed'))} ] || { echo "429 rate limit for $ITEM"; exit 1; }; ${mark(dir, '$ITEM')}`, forEach: { items: ['a'] } }],
    });
    await runKilledAfter(ws, 't', 1);
    fs.writeFileSync(path.join(dir, 'gate-a'), '');
    await waitFor('a to fail, recorded', () => /^end\te#0\t1\t1\t/m.test(recordsText(ws, 't')));
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 2, resumed.stdout + resumed.stderr);
    const s = status(ws, 't');
    assert.equal(s.status, 'paused');
    assert.equal(s.pausedBy, 'failure');
    assert.match(s.reason, /429 rate limit for a/);
    fs.writeFileSync(path.join(dir, 'fixed'), '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(readLines(path.join(dir, 'marks')), ['a']);
  });

  it('a slot killed under its attempt: the attempt fails saying so, its group is stopped, and resume runs it again', async () => {
    const dir = ws.root;
    const pidFile = path.join(dir, 'pid');
    ws.define('t', { steps: [{ id: 'a', run: `echo $$ > ${JSON.stringify(pidFile)}; ${gated(dir, 'a')}; ${mark(dir, 'a')}` }] });
    const r = ptaskChild(ws, 'run', 't');
    await waitFor('a to start', () => readLines(path.join(dir, 'starts')).length === 1);
    const slot = Number(/^slot\t(\d+)\t/m.exec(recordsText(ws, 't'))![1]);
    const shell = Number(readLines(pidFile)[0]);
    process.kill(slot, 'SIGKILL');
    assert.equal(await r.exited, 1, r.output());
    assert.match(status(ws, 't').reason, /step 'a' failed: could not start: its supervisor ended \(SIGKILL\)/);
    await waitFor('the step left without a supervisor to be stopped', () => !pidAlive(shell));
    fs.writeFileSync(path.join(dir, 'gate-a'), '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(readLines(path.join(dir, 'marks')), ['a']);
  });

  /** kill -9 at random moments, each followed by a resume, until the task completes: every mark once. */
  async function killAndResume(id: string, expected: string[], kills: number, maxDelayMs: number): Promise<void> {
    const marks = path.join(ws.root, 'marks');
    let seed = Number(process.env.ADOPTION_SEED ?? 20261201);
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let k = 0; k < kills; k++) {
      // Killed before it wrote anything, the task is still idle: run it, else resume it.
      const r = ptaskChild(ws, status(ws, id).status === 'idle' ? 'run' : 'resume', id);
      await new Promise((resolve) => setTimeout(resolve, 30 + random() * maxDelayMs)); // a random moment, not a synchronisation
      r.child.kill('SIGKILL');
      await r.exited;
      if (status(ws, id).status === 'completed') break;
    }
    const last = ptaskChild(ws, status(ws, id).status === 'idle' ? 'run' : 'resume', id);
    const code = await last.exited;
    assert.ok(code === 0 || status(ws, id).status === 'completed', last.output());
    assert.equal(status(ws, id).status, 'completed', `exit ${code}: ${last.output()}`);
    const twice = [...countOf(readLines(marks))].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no work that had finished ran again');
    assert.deepEqual([...countOf(readLines(marks)).keys()].sort(), [...expected].sort(), 'every item or step done');
  }

  it('kill -9 at random moments of a forEach of 2,000 items at concurrency 4, 20 times, each followed by a resume: every item once', async function () {
    this.timeout(180_000);
    const items = Array.from({ length: 2000 }, (_, i) => `i${i}`);
    ws.define('t', { steps: [{ id: 'e', run: mark(ws.root, '$ITEM'), forEach: { items }, concurrency: 4 }] });
    await killAndResume('t', items, 20, 400);
  });

  it('kill -9 at random moments of a chain of 300 steps, 20 times, each followed by a resume: every step once', async function () {
    this.timeout(180_000);
    const ids = Array.from({ length: 300 }, (_, i) => `s${i}`);
    ws.define('t', { steps: ids.map((id) => ({ id, run: mark(ws.root, id) })) });
    await killAndResume('t', ids, 20, 400);
  });

  it('kill -9 at random moments of two chains of 150 steps at concurrency 2 (each sent ahead in its own slot), 20 times, each followed by a resume: every step once', async function () {
    this.timeout(180_000);
    const chains = ['a', 'b'].map((c) => Array.from({ length: 150 }, (_, i) => ({ id: `${c}${i}`, run: mark(ws.root, `${c}${i}`), needs: i ? [`${c}${i - 1}`] : [] })));
    ws.define('t', { concurrency: 2, steps: chains.flat() });
    await killAndResume('t', chains.flat().map((s) => s.id), 20, 400);
  });
});
