import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLines, RUNNER, workspace, type Workspace } from './helpers';

// `ptask` (dist/runner.js, src/cli/start.ts) runs the CLI's bundle from V8's code cache in PTASK_CACHE.
describe('runner: the CLI started from its code cache', () => {
  let ws: Workspace;
  let cache: string;
  beforeEach(() => {
    ws = workspace();
    cache = path.join(ws.root, 'cache');
  });
  afterEach(() => ws.cleanup());

  const ptask = (...args: string[]) => spawnSync(process.execPath, [RUNNER, ...args, '--root', ws.root], { encoding: 'utf8', cwd: ws.root, env: { ...process.env, PTASK_CACHE: cache } });
  const caches = () => (fs.existsSync(cache) ? fs.readdirSync(cache).filter((n) => n.startsWith('cli-')) : []);

  it('the first start writes the cache; the next is run from it (the file is not written again) and does the same work', () => {
    const marks = path.join(ws.root, 'marks.txt');
    ws.define('t', { steps: [{ id: 'each', run: `echo "$ITEM" >> ${marks}`, forEach: { items: ['a', 'b'] } }, { id: 'fails', run: 'exit 4' }] });
    const first = ptask('run', 't');
    assert.equal(first.status, 1, 'the task failed, and the exit code says so: ' + first.stderr);
    assert.deepEqual(caches().length, 1, caches().join(' '));
    const file = path.join(cache, caches()[0]);
    assert.ok(fs.statSync(file).size > 10_000, 'a cache of the compiled bundle');
    const before = fs.statSync(file);
    const second = ptask('run', 't', '--fresh');
    assert.equal(second.status, first.status, second.stderr);
    assert.deepEqual(readLines(marks), ['a', 'b', 'a', 'b']);
    const after = fs.statSync(file);
    assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs], 'V8 took the cache: it was not made again');
    assert.match(ptask('status', 't').stdout, /failed/);
  });

  it('a cache V8 rejects (another bundle, a torn write) is replaced; a cache of another bundle, and one a killed start left half written, are removed', () => {
    ws.define('t', { steps: [{ id: 's', run: 'true' }] });
    assert.equal(ptask('run', 't').status, 0);
    const name = caches()[0];
    fs.writeFileSync(path.join(cache, name), 'not a code cache');
    fs.writeFileSync(path.join(cache, 'cli-0123456789abcdef.v8'), 'an older bundle');
    fs.writeFileSync(path.join(cache, 'slot-0123456789abcdef'), 'not the CLI');
    // Left by a start killed as it wrote its cache (its pid is gone), and one being written now (this pid).
    const gone = spawnSync('true').pid;
    fs.writeFileSync(path.join(cache, `${name}.${gone}.tmp`), 'half a cache');
    fs.writeFileSync(path.join(cache, `${name}.${process.pid}.tmp`), 'a cache being written');
    const r = ptask('run', 't', '--fresh');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(caches().sort(), [name, `${name}.${process.pid}.tmp`].sort());
    assert.ok(fs.statSync(path.join(cache, name)).size > 10_000, 'written again');
    assert.ok(fs.existsSync(path.join(cache, 'slot-0123456789abcdef')), 'only caches of the CLI are removed');
  });

  it('no cache folder can be made (PTASK_CACHE under a file): the CLI runs as without a cache, and says nothing of it', () => {
    fs.writeFileSync(path.join(ws.root, 'a-file'), '');
    cache = path.join(ws.root, 'a-file', 'cache');
    ws.define('t', { steps: [{ id: 's', run: 'echo ran > out.txt' }] });
    const r = ptask('run', 't');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(ws.root, 'out.txt'), 'utf8'), 'ran\n');
    assert.doesNotMatch(r.stderr, /cache/i);
  });
});
