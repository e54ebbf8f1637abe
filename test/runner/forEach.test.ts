import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatRanges } from '../../src/protocol/ranges';
import { fixture, pidAlive, ptask, readLines, status, waitFor, workspace, type Workspace } from './helpers';

/** The marks of test/fixtures/item.js: which items started (with their pids) and ended, in order. */
function itemMarks(file: string) {
  const starts: number[] = [];
  const ends: number[] = [];
  const pids = new Map<number, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  for (const line of readLines(file)) {
    const [kind, index, pid] = line.split(' ');
    if (kind === 'start') {
      starts.push(Number(index));
      pids.set(Number(index), Number(pid));
      maxInFlight = Math.max(maxInFlight, ++inFlight);
    } else {
      ends.push(Number(index));
      inFlight--;
    }
  }
  return { starts, ends, pids, maxInFlight };
}

const range = (n: number) => [...Array(n).keys()];

describe('runner: forEach steps', () => {
  let ws: Workspace;
  let marks: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks.txt');
  });
  afterEach(() => ws.cleanup());

  it('runs a step once per item from a list, a file or a glob, with ITEM and ITEM_INDEX, in the step folder', () => {
    const work = path.join(ws.root, 'work');
    fs.mkdirSync(path.join(work, 'data', 'deeper'), { recursive: true });
    for (const name of ['b.txt', 'a.txt', '.hidden.txt', 'notes.md', 'deeper/c.txt']) fs.writeFileSync(path.join(work, 'data', name), name);
    fs.writeFileSync(path.join(work, 'list.txt'), 'first line\r\n\n  \nsecond\n');
    const record = (name: string) => `printf '%s|%s|%s\\n' "$ITEM_INDEX" "$ITEM" "$(cat "$ITEM" 2>/dev/null)" >> ${name}`;
    ws.define('t', {
      cwd: 'work',
      steps: [
        { id: 'listed', run: record('listed.txt'), forEach: { items: ['a b', 7, 'ü'] } },
        { id: 'lines', run: record('lines.txt'), forEach: { file: 'list.txt' } },
        { id: 'files', run: record('files.txt'), forEach: { glob: 'data/**/*.txt' }, concurrency: 2 },
        { id: 'none', run: 'exit 1', forEach: { items: [] }, allowEmpty: true },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stderr);
    const read = (name: string) => readLines(path.join(work, name)).sort();
    assert.deepEqual(read('listed.txt'), ['0|a b|', '1|7|', '2|ü|']);
    assert.deepEqual(read('lines.txt'), ['0|first line|', '1|second|']);
    assert.deepEqual(read('files.txt'), ['0|data/a.txt|a.txt', '1|data/b.txt|b.txt', '2|data/deeper/c.txt|deeper/c.txt']);
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.deepEqual(checkpoint.completed.map((c: { id: string; items: number }) => [c.id, c.items]), [['listed', 3], ['lines', 2], ['files', 3], ['none', 0]]);
    assert.equal(checkpoint.batch, undefined, 'no batch is left in progress');
  });

  it('runs at most `concurrency` items at once, reports their progress in state.json, and logs each line with its item', async () => {
    ws.define('t', {
      env: { MARKS: marks, ITEM_MS: '120' },
      steps: [{ id: 'each', run: `${fixture('item.js')}; echo "out $ITEM"; echo "err $ITEM" >&2`, forEach: { items: range(12).map((i) => `i${i}`) }, concurrency: 3 }],
    });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    // Each item in flight has its process group recorded: an item counts as running once it is
    // sent, its group once its slot's report of its start is heard (held up to 10 ms), so a
    // state.json written between the two lists one group fewer.
    const seen = await waitFor('items in flight in state.json, each with its process group', () => {
      const s = status(ws, 't');
      return s.items?.running === 3 && s.items.done >= 1 && s.currentStep?.processes?.length === 3 && s;
    });
    assert.equal(seen.items.total, 12);
    assert.deepEqual(seen.progress, { done: seen.items.done, total: 12 });
    await waitFor('completed', () => status(ws, 't').status === 'completed');
    const m = itemMarks(marks);
    assert.deepEqual([...m.starts].sort((a, b) => a - b), range(12));
    assert.ok(m.maxInFlight <= 3, `${m.maxInFlight} items ran at once`);
    const log = fs.readFileSync(ws.file('t', 'logs/each.log'), 'utf8');
    assert.match(log, /^\[4\] === each item 4 attempt 1 · .* · ITEM=i4 ===$/m);
    assert.match(log, /^\[4\] out i4$/m);
    assert.match(log, /^\[4\] err i4$/m);
  });

  it('pause stops starting items and waits for those in flight; resume runs the rest, each once', async () => {
    ws.define('t', { env: { MARKS: marks, ITEM_MS: '150' }, steps: [{ id: 'each', run: fixture('item.js'), forEach: { items: range(40).map(String) }, concurrency: 4 }, { id: 'after', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('items to start', () => itemMarks(marks).starts.length >= 6);
    assert.equal(ptask(ws, 'pause', 't').code, 0);
    // From the moment the pause is seen, done + running + failed can only stay as they are: nothing new starts.
    const pausing = await waitFor('pausing', () => {
      const s = ws.readJson('t', 'state.json');
      return s.status === 'pausing' && s.currentStep.items;
    });
    const started = pausing.done + pausing.running + pausing.failed;
    assert.ok(pausing.running > 0, 'items were in flight when the pause came');
    assert.ok(fs.existsSync(ws.file('t', 'pause-requested')), 'TASK_PAUSE_REQUESTED exists while the items in flight finish');
    // Watched until the pause lands: the count of items started must not move meanwhile.
    let startedWhilePausing: number | undefined;
    await waitFor('paused', () => {
      const items = ws.readJson('t', 'state.json').currentStep?.items;
      if (items && items.done + items.running + items.failed !== started) startedWhilePausing ??= items.done + items.running + items.failed;
      return status(ws, 't').status !== 'pausing';
    });
    assert.equal(startedWhilePausing ?? started, started, 'no item started while pausing');
    const s = status(ws, 't');
    assert.equal(s.status, 'paused');
    const m = itemMarks(marks);
    assert.equal(m.starts.length, started, 'no item started after the pause was seen');
    assert.deepEqual([...m.ends].sort(), [...m.starts].sort(), 'the items in flight finished');
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.equal(checkpoint.unfinished.outcome, 'paused');
    assert.equal(checkpoint.batch.total, 40);
    // Exactly the items that ran are done (not always the first ones: an item queued in one slot is declined by the pause while another slot ran a later one).
    const ran = new Set(m.starts);
    assert.equal(checkpoint.batch.done, formatRanges(40, (i) => ran.has(i)), 'done items are index ranges');

    assert.equal(ptask(ws, 'resume', 't').code, 0);
    const all = itemMarks(marks);
    assert.deepEqual([...all.starts].sort((a, b) => a - b), range(40), 'every item ran exactly once');
    assert.equal(status(ws, 't').status, 'completed');
  });

  it('interrupt stops every item in flight (each its own process group); resume runs those again and the rest', async () => {
    const gate = path.join(ws.root, 'gate');
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'each', run: fixture('item.js'), forEach: { items: range(6).map(String) }, concurrency: 3 }] });
    assert.equal(ptask(ws, 'run', 't', '--detach', '--grace-ms', '300').code, 0);
    await waitFor('three items in flight', () => itemMarks(marks).starts.length === 3);
    const pids = [...itemMarks(marks).pids.values()];
    assert.equal(ptask(ws, 'interrupt', 't', '--wait', '--timeout', '20').code, 0);
    for (const pid of pids) assert.equal(pidAlive(pid), false, `item process ${pid} was stopped`);
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.equal(checkpoint.unfinished.outcome, 'interrupted');
    assert.equal(checkpoint.batch.done, '');
    assert.deepEqual(checkpoint.batch.failed, [], 'interrupted items are not failed');
    fs.writeFileSync(gate, '');
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    const counts = new Map<number, number>();
    for (const i of itemMarks(marks).starts) counts.set(i, (counts.get(i) ?? 0) + 1);
    assert.deepEqual(range(6).map((i) => counts.get(i)), [2, 2, 2, 1, 1, 1]);
  });

  it('a failed item fails the step after its retries; the items in flight finish; resume retries it and runs the rest', async () => {
    const fixed = path.join(ws.root, 'fixed');
    ws.define('t', {
      env: { MARKS: marks, ITEM_MS: '40' },
      steps: [{ id: 'each', run: `${fixture('item.js')} && { [ "$ITEM" != 3 ] || [ -f ${fixed} ]; } || exit 4`, forEach: { items: range(10).map(String) }, concurrency: 2, retries: 1, retryDelay: '10ms' }],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step 'each' failed: item 3 \(3\) failed: exit code 4/);
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.deepEqual(
      checkpoint.batch.failed.map((f: { index: number; item: string; attempts: number; error: string }) => [f.index, f.item, f.attempts, f.error]),
      [[3, '3', 2, 'exit code 4']],
    );
    // Nothing starts once the failure is known; the other slot may have started an item queued
    // in it (slotScript.ts) as the failure was being noticed, not more.
    const lines = readLines(marks);
    const failedAt = lines.lastIndexOf('end 3');
    const after = lines.slice(failedAt + 1).filter((line) => line.startsWith('start '));
    assert.ok(failedAt >= 0 && after.length <= 1, `at most one item started after the failure (after it: ${after.join(', ')})`);
    fs.writeFileSync(fixed, '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    const counts = new Map<number, number>();
    for (const i of itemMarks(marks).starts) counts.set(i, (counts.get(i) ?? 0) + 1);
    assert.equal(counts.get(3), 3, 'item 3: two failed attempts, then one on resume');
    for (const i of range(10)) if (i !== 3) assert.equal(counts.get(i), 1, `item ${i} ran once`);
  });

  it('at concurrency 1 nothing follows a failed attempt before the runner has decided: its retry comes before the next item (queued in the slot, declined)', () => {
    const once = path.join(ws.root, 'failed-once');
    ws.define('t', {
      env: { MARKS: marks },
      // Item 1 fails its first attempt; each item is quick, so the next one already waits in the slot.
      steps: [{ id: 'each', run: `echo "start $ITEM_INDEX" >> "$MARKS"; [ "$ITEM" != 1 ] || [ -f ${once} ] || { touch ${once}; exit 4; }`, forEach: { items: range(6).map(String) }, retries: 1, retryDelay: '50ms' }],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(itemMarks(marks).starts, [0, 1, 1, 2, 3, 4, 5]);
  });

  it("a timeout counts from an item's start, not from the moment it was queued behind another", () => {
    // Quick items first (items are queued only while they are quick), then slow ones: item 9 is
    // queued behind item 8 and waits 0.3 s for it, then runs 0.3 s of its own.
    ws.define('t', { env: { MARKS: marks }, steps: [{ id: 'each', run: '[ "$ITEM" -lt 8 ] || sleep 0.3; echo "start $ITEM_INDEX" >> "$MARKS"', forEach: { items: range(14).map(String) }, timeout: '550ms' }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(itemMarks(marks).starts, range(14));
  });

  it('continueOnError runs every item, then fails the step listing the failed ones; resume retries just those', () => {
    const fixed = path.join(ws.root, 'fixed');
    ws.define('t', {
      env: { MARKS: marks },
      steps: [
        { id: 'each', run: `${fixture('item.js')} && { [ $((ITEM % 4)) != 1 ] || [ -f ${fixed} ]; } || exit 5`, forEach: { items: range(12).map(String) }, concurrency: 3, continueOnError: true },
        { id: 'after', run: 'true' },
      ],
    });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /3 of 12 items failed \(item 1 \(1\): exit code 5; item 5 \(5\): exit code 5; item 9 \(9\): exit code 5\); resume retries them/);
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.deepEqual(checkpoint.batch.failed.map((f: { index: number }) => f.index), [1, 5, 9]);
    assert.equal(checkpoint.batch.done, '0,2-4,6-8,10-11');
    assert.equal(checkpoint.completed.length, 0, 'the next step did not run');
    fs.writeFileSync(fixed, '');
    fs.writeFileSync(marks, '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(itemMarks(marks).starts.sort((a, b) => a - b), [1, 5, 9]);
  });

  it('freezes the item list when the step first starts: files that match later are not items of this run', async () => {
    const gate = path.join(ws.root, 'gate');
    fs.mkdirSync(path.join(ws.root, 'data'));
    for (const name of ['1.txt', '2.txt', '3.txt']) fs.writeFileSync(path.join(ws.root, 'data', name), '');
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'each', run: fixture('item.js'), forEach: { glob: 'data/*.txt' } }] });
    assert.equal(ptask(ws, 'run', 't', '--detach').code, 0);
    await waitFor('the first item', () => itemMarks(marks).starts.length === 1);
    assert.equal(ptask(ws, 'pause', 't').code, 0);
    fs.writeFileSync(gate, '');
    await waitFor('paused', () => status(ws, 't').status === 'paused');
    fs.writeFileSync(path.join(ws.root, 'data', '0.txt'), '');
    fs.writeFileSync(path.join(ws.root, 'data', '4.txt'), '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(itemMarks(marks).starts, [0, 1, 2]);
    assert.deepEqual(ws.readJson('t', 'checkpoint.json').completed[0].items, 3);
  });

  it('resume after the forEach changed resolves the items again; the ones done before (same text) stay done', async () => {
    const gate = path.join(ws.root, 'gate');
    fs.mkdirSync(path.join(ws.root, 'data', 'more'), { recursive: true });
    for (const name of ['a.txt', 'b.txt', 'c.txt', 'more/d.txt']) fs.writeFileSync(path.join(ws.root, 'data', name), '');
    const step = { id: 'each', run: `echo "$ITEM" >> ${marks}; [ -f ${gate} ] || [ "$ITEM" != data/b.txt ] || exit 3` };
    ws.define('t', { steps: [{ ...step, forEach: { glob: 'data/*.txt' } }] });
    assert.equal(ptask(ws, 'run', 't').code, 1, 'b fails');
    assert.deepEqual(readLines(marks), ['data/a.txt', 'data/b.txt']);
    ws.define('t', { steps: [{ ...step, forEach: { glob: 'data/**/*.txt' } }] });
    assert.match(ptask(ws, 'plan', 't').stdout, /step "each" changed its forEach[\s\S]*run +each +it stopped here/);
    fs.writeFileSync(gate, '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(readLines(marks), ['data/a.txt', 'data/b.txt', 'data/b.txt', 'data/c.txt', 'data/more/d.txt']);
  });

  it('a source of items that cannot be read fails the step, saying which and why; resume reads it again', () => {
    ws.define('t', { steps: [{ id: 'each', run: 'true', forEach: { file: 'missing.txt' } }] });
    const r = ptask(ws, 'run', 't');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step 'each' failed: forEach\.file: .*missing\.txt does not exist/);
    fs.writeFileSync(path.join(ws.root, 'missing.txt'), 'a\nb\n');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.equal(ws.readJson('t', 'checkpoint.json').completed[0].items, 2);
  });
});
