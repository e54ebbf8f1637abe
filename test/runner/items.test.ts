/**
 * The items of a stopped forEach step: what status and `ptask items` say of them, and a person's
 * skip-item and retry-item, taken by the next runner. Each item appends its mark as its last act:
 * a mark twice is an item run twice.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('items of a stopped forEach step: shown, skipped, run again', () => {
  let ws: Workspace;
  let marks: string;
  const items = ['a', 'b', 'c', 'd', 'e'];
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    // c's input is gone: it fails, every time, saying so.
    ws.define('t', {
      steps: [
        { id: 'embed', forEach: { items }, continueOnError: true, run: `if [ "$ITEM" = c ] && [ ! -e ${ws.root}/c.txt ]; then echo "c.txt is gone" >&2; exit 3; fi; echo "$ITEM" >> ${marks}` },
        { id: 'after', run: `echo after >> ${marks}` },
      ],
    });
  });
  afterEach(() => ws.cleanup());

  const failedRun = () => {
    const run = ptask(ws, 'run', 't');
    assert.equal(run.code, 1, run.stdout + run.stderr);
  };
  const journal = () => fs.readFileSync(ws.file('t', 'journal.jsonl'), 'utf8');

  it('a failed forEach shows its items in status (text and --json, with the failed ones) and in ptask items', () => {
    failedRun();
    const text = ptask(ws, 'status', 't');
    assert.match(text.stdout, /items {5}4\/5 done, 0 running, 1 failed \(see: ptask items t embed --failed\)/);
    const s = status(ws, 't');
    assert.deepEqual(s.items, { done: 4, total: 5, failed: 1, running: 0 });
    assert.equal(s.stoppedIn, 'embed');
    assert.deepEqual(s.failedItems, [{ index: 2, item: 'c', attempts: 1, error: 'exit code 3' }]);
    const table = ptask(ws, 'items', 't', 'embed');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^embed: 4\/5 done, 1 failed\nindex +state +attempts +item +error\n0 +done +a\n/);
    assert.match(table.stdout, /\n2 +failed +1 +c +exit code 3\n/);
    const failed = JSON.parse(ptask(ws, 'items', 't', 'embed', '--failed', '--json').stdout);
    assert.deepEqual({ ...failed, items: failed.items.map((r: any) => [r.index, r.state]) }, { step: 'embed', total: 5, done: 4, failed: 1, skipped: 0, toRun: 0, log: ws.file('t', 'logs/embed.log'), items: [[2, 'failed']] });
  });

  it('skip-item lets the step complete without the item whose input vanished; the next step runs; nothing else runs again', () => {
    failedRun();
    const skip = ptask(ws, 'skip-item', 't', 'embed', '2');
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stdout, /Item 2 \(c\) of step 'embed' is skipped/);
    assert.match(journal(), /"type":"item-skipped","stepId":"embed","index":2,"by":"cli"/);
    const resume = ptask(ws, 'resume', 't');
    assert.equal(resume.code, 0, resume.stdout + resume.stderr);
    assert.match(resume.stdout, /5 items, 4 already done, 1 skipped/);
    assert.deepEqual(readLines(marks), ['a', 'b', 'd', 'e', 'after'], 'c skipped, the others not run again');
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.deepEqual(checkpoint.completed.map((c: any) => [c.id, c.items, c.skipped]), [['embed', 5, 1], ['after', undefined, undefined]]);
    assert.match(ptask(ws, 'items', 't', 'embed').stdout, /^embed: 4\/5 done, 1 skipped/);
  });

  it('retry-item runs a done item again on resume, from its first attempt, and only it', () => {
    failedRun();
    fs.writeFileSync(path.join(ws.root, 'c.txt'), ''); // c's input is back: resume retries it anyway
    const retry = ptask(ws, 'retry-item', 't', 'embed', '0');
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /Item 0 \(a\) of step 'embed' is to run again from its first attempt \(it was done\)/);
    const resume = ptask(ws, 'resume', 't');
    assert.equal(resume.code, 0, resume.stdout + resume.stderr);
    assert.deepEqual(readLines(marks), ['a', 'b', 'd', 'e', 'a', 'c', 'after']);
    assert.match(fs.readFileSync(ws.file('t', 'logs/embed.log'), 'utf8'), /\[0\] === embed item 0 attempt 1 · .* ITEM=a ===[\s\S]*\[0\] === embed item 0 attempt 1 /, 'from its first attempt');
  });

  it('refuses, saying why and writing nothing: a running task, an unknown step, an index past the end, an item done already, a step not started', async () => {
    failedRun();
    const before = journal();
    const refusals: [string[], RegExp][] = [
      [['skip-item', 't', 'nope', '1'], /step 'nope' is not the forEach step 't' stopped in \(that is 'embed'\)/],
      [['skip-item', 't', 'embed', '9'], /step 'embed' has items 0 to 4: there is no item 9/],
      [['skip-item', 't', 'embed', '1'], /item 1 of step 'embed' is done already/],
      [['skip-item', 't', 'embed', 'c'], /the item is given by its index/],
      [['items', 't', 'after'], /step 'after' has no forEach/],
      [['items', 't', 'nope'], /'t' has no step 'nope' \(its steps: embed, after\)/],
    ];
    for (const [args, message] of refusals) {
      const r = ptask(ws, ...args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.equal(journal(), before, 'nothing written');
    // While a runner runs it: pause or interrupt first.
    const gate = path.join(ws.root, 'gate');
    ws.define('slow', { steps: [{ id: 's', forEach: { items: ['x', 'y'] }, run: `while [ ! -e ${gate} ]; do sleep 0.02; done` }] });
    const run = ptaskChild(ws, 'run', 'slow');
    await waitFor('slow to run', () => status(ws, 'slow').status === 'running');
    const busy = ptask(ws, 'skip-item', 'slow', 's', '1');
    assert.equal(busy.code, 64, busy.stdout + busy.stderr);
    assert.match(busy.stderr, /'slow' is running: pause or interrupt it first, then change its items/);
    fs.writeFileSync(gate, '');
    assert.equal(await run.exited, 0, run.output());
  });
});
