import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compiledSlot, perlSlot } from '../../src/runner/slotProgram';
import { readLines, RUNNER, workspace, type Workspace } from './helpers';

// The rest of the suite runs under whichever slot program the machine gives (the compiled one where
// there is a cc); here a runner is made to use each, and a real run shows which one forked its items.
describe('runner: the slot programs', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  for (const [name, program, exe] of [
    ['perl', perlSlot(), /\/perl[\d.]*$/],
    ['compiled', compiledSlot(), /\/slot-[0-9a-f]{16}$/],
  ] as const) {
    it(`a forEach under the ${name} slot (PTASK_SLOT=${name === 'perl' ? 'perl' : 'unset'}): every item once, its output prefixed in the log, a failure retried`, function () {
      if (!program) this.skip();
      const marks = path.join(ws.root, 'marks.txt');
      const parents = path.join(ws.root, 'parents.txt');
      const failedOnce = path.join(ws.root, 'failed-once');
      const run = `echo "out $ITEM"; readlink /proc/$PPID/exe >> ${parents}; if [ "$ITEM" = i5 ] && [ ! -e ${failedOnce} ]; then touch ${failedOnce}; exit 3; fi; echo "$ITEM" >> ${marks}`;
      ws.define('t', { steps: [{ id: 'each', run, forEach: { items: Array.from({ length: 12 }, (_, i) => `i${i}`) }, concurrency: 2, retries: 1, retryDelay: "0s" }] });
      const env = { ...process.env, PTASK_SLOT: name === 'perl' ? 'perl' : '' };
      const r = spawnSync(process.execPath, [RUNNER, 'run', 't', '--root', ws.root], { encoding: 'utf8', cwd: ws.root, env });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readLines(marks).sort(), Array.from({ length: 12 }, (_, i) => `i${i}`).sort());
      for (const parent of readLines(parents)) assert.match(parent, exe, `an item's parent is ${parent}`);
      assert.equal(readLines(parents).length, 13, 'twelve items and one retry');
      const log = fs.readFileSync(ws.file('t', 'logs/each.log'), 'utf8');
      assert.match(log, /^\[5\] === each item 5 attempt 2 · /m);
      for (let i = 0; i < 12; i++) assert.match(log, new RegExp(`^\\[${i}\\] out i${i}$`, 'm'));
    });
  }

  it('a compiled slot removed while a task runs (its cache cleaned): the next slot made is compiled again, and every item runs', function () {
    if (!compiledSlot()) this.skip();
    const cache = path.join(ws.root, 'cache');
    const marks = path.join(ws.root, 'marks.txt');
    // One slot for the first step; the second step starts its three items at once (one pass of the runner), so two slots are made, after the cache is gone.
    ws.define('t', {
      steps: [
        { id: 'clean', run: `rm -f ${cache}/slot-*` },
        { id: 'each', run: `echo "$ITEM" >> ${marks}`, forEach: { items: ['a', 'b', 'c'] }, concurrency: 3 },
      ],
    });
    const r = spawnSync(process.execPath, [RUNNER, 'run', 't', '--root', ws.root], { encoding: 'utf8', cwd: ws.root, env: { ...process.env, PTASK_CACHE: cache } });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(readLines(marks).sort(), ['a', 'b', 'c']);
    assert.equal(fs.readdirSync(cache).filter((n) => n.startsWith('slot-')).length, 1, 'compiled again');
  });
});
