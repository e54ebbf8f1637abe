/**
 * A forEach that finds no items fails, saying why and what to do, unless the step says
 * "allowEmpty": true; and the one rule for symbolic links: followed, to files and folders alike,
 * only when the target is inside the workspace folder, each folder walked once.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { globFiles, globWalk } from '../../src/protocol/glob';
import { stepSchema } from '../../src/protocol/schemas';
import { ItemsError, resolveItems } from '../../src/runner/items';

const IF_FINE = /add "allowEmpty": true to the step if no items is fine/;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('forEach with no items', () => {
  let root: string;
  let outside: string;
  beforeEach(() => {
    // Real paths: on macOS the temp folder itself is behind a link.
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-empty-')));
    outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-empty-outside-')));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret\n');
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const write = (rel: string, text = '') => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  const link = (target: string, rel: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(root, rel));
  };
  /** resolveItems must refuse with an ItemsError matching every pattern, and give [] with allowEmpty. */
  const refused = (source: Parameters<typeof resolveItems>[0], folder: string, ...messages: RegExp[]) => {
    let thrown: unknown;
    try {
      resolveItems(source, folder, root);
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown instanceof ItemsError, `an ItemsError, not ${String(thrown)}`);
    for (const m of [...messages, IF_FINE]) assert.match(thrown.message, m);
    assert.ok(!thrown.message.includes('\n'), 'one line');
    assert.deepEqual(resolveItems(source, folder, root, true), [], 'allowEmpty: no items is fine');
    return thrown.message;
  };

  it('items: [] is refused, naming the source', () => {
    refused({ items: [] }, root, /^forEach\.items: the list is empty/);
    assert.deepEqual(resolveItems({ items: ['a'] }, root, root), ['a'], 'a list with items is unchanged');
  });

  it('an empty file, or one with only blank lines, is refused, naming the file and which it is', () => {
    write('list.txt');
    refused({ file: 'list.txt' }, root, new RegExp(`^forEach\\.file: ${escape(path.join(root, 'list.txt'))} is empty, so there are no items`));
    write('list.txt', '\n  \r\n\t\n');
    refused({ file: 'list.txt' }, root, /^forEach\.file: \S+list\.txt has only blank lines, so there are no items/);
  });

  it('a glob whose folder does not exist says so, naming the pattern, the folder searched and the missing folder', () => {
    const message = refused({ glob: 'data/*.txt' }, root, new RegExp(`^forEach\\.glob: "data/\\*\\.txt" matched no file in ${escape(root)} \\(its folder data does not exist;`));
    assert.doesNotMatch(message, /symbolic link/);
    write('data/other.csv');
    refused({ glob: 'data/raw/**/*.txt' }, root, /\(its folder data\/raw does not exist;/);
    write('notes', 'a file');
    refused({ glob: 'notes/*.txt' }, root, /\(its folder notes is not a folder;/);
  });

  it('a glob that matches nothing in a folder that exists says so', () => {
    write('data/a.csv');
    const message = refused({ glob: 'data/*.txt' }, root, /matched no file in \S+ \(no file there matches it;/);
    assert.doesNotMatch(message, /does not exist|symbolic link/);
  });

  it('a glob through a link to a folder outside the workspace says the link was not followed, and where it leads', () => {
    fs.mkdirSync(path.join(root, 'sub'));
    link(outside, 'sub/data');
    const folder = path.join(root, 'sub');
    const message = refused({ glob: 'data/*.txt' }, folder, new RegExp(`data is a symbolic link to ${escape(outside)}, outside the workspace folder, so it was not followed;`));
    assert.doesNotMatch(message, /does not exist/, 'the link is there: the folder is not "missing"');
    // The same link met by ** further down.
    link(outside, 'sub/in/deep/elsewhere');
    refused({ glob: 'in/**/*.txt' }, folder, /in\/deep\/elsewhere is a symbolic link to \S+, outside the workspace folder, so it was not followed/);
  });

  it('a glob through a dangling link, or links in a circle, says the target cannot be reached', () => {
    link('nowhere', 'data');
    refused({ glob: 'data/*.txt' }, root, /data is a symbolic link to "nowhere", which does not exist;/);
    fs.rmSync(path.join(root, 'data'));
    link('loop-b', 'loop-a');
    link('loop-a', 'loop-b');
    refused({ glob: 'loop-a/*' }, root, /loop-a is a symbolic link to "loop-b", which cannot be reached \(ELOOP\)/);
  });

  it('names at most three links not followed, then how many more', () => {
    for (const n of [1, 2, 3, 4, 5]) link(outside, `data/l${n}`);
    const message = refused({ glob: 'data/*/*.txt' }, root, /and 2 more links not followed;/);
    assert.equal(message.match(/is a symbolic link/g)?.length, 3);
  });

  it('a step folder that does not exist fails even with allowEmpty: the step could not run there', () => {
    for (const allowEmpty of [false, true])
      assert.throws(() => resolveItems({ glob: '*.txt' }, path.join(root, 'nope'), root, allowEmpty), /forEach\.glob: .*the folder to search does not exist/);
  });

  it('allowEmpty is a boolean, and only for a step with forEach', () => {
    assert.ok(stepSchema.safeParse({ id: 'a', run: 'true', forEach: { items: [] }, allowEmpty: true }).success);
    const bad = stepSchema.safeParse({ id: 'a', run: 'true', allowEmpty: true });
    assert.ok(!bad.success && /allowEmpty applies only to a step with forEach/.test(bad.error.message), 'without forEach');
    assert.ok(!stepSchema.safeParse({ id: 'a', run: 'true', forEach: { items: [] }, allowEmpty: 'yes' }).success, 'not a boolean');
  });
});

describe('symbolic links in forEach: followed only inside the workspace folder, files and folders alike', () => {
  let root: string;
  let outside: string;
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-links-')));
    outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-links-outside-')));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret\n');
    fs.mkdirSync(path.join(outside, 'more'));
    fs.writeFileSync(path.join(outside, 'more', 'x.txt'), '');
    for (const f of ['shared/one.txt', 'shared/deep/two.txt', 'sub/own.txt', 'top.txt']) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.writeFileSync(path.join(root, f), f);
    }
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });
  const sub = () => path.join(root, 'sub');

  it('a link to a folder inside the workspace is followed, even from another folder; the items are paths through the link', () => {
    fs.symlinkSync('../shared', path.join(sub(), 'data'));
    assert.deepEqual(resolveItems({ glob: 'data/**/*.txt' }, sub(), root), ['data/deep/two.txt', 'data/one.txt']);
    assert.deepEqual(resolveItems({ glob: '**/*.txt' }, sub(), root), ['data/deep/two.txt', 'data/one.txt', 'own.txt']);
    // Each item is a path the command can open from the step's folder.
    for (const item of resolveItems({ glob: 'data/**/*.txt' }, sub(), root)) assert.ok(fs.statSync(path.join(sub(), item)).isFile(), item);
  });

  it('a link to a file counts only when the file is inside the workspace', () => {
    fs.symlinkSync('../top.txt', path.join(sub(), 'alias.txt'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(sub(), 'leak.txt'));
    assert.deepEqual(resolveItems({ glob: '*.txt' }, sub(), root), ['alias.txt', 'own.txt']);
    const walked = globWalk(sub(), '*.txt', [sub(), root]);
    assert.deepEqual(walked.notFollowed, [{ path: 'leak.txt', why: 'outside', target: path.join(outside, 'secret.txt') }]);
    // forEach.file follows the same rule.
    fs.writeFileSync(path.join(root, 'list.txt'), 'a\nb\n');
    fs.symlinkSync('../list.txt', path.join(sub(), 'list.txt'));
    assert.deepEqual(resolveItems({ file: 'list.txt' }, sub(), root), ['a', 'b']);
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(sub(), 'out.txt'));
    assert.throws(() => resolveItems({ file: 'out.txt' }, sub(), root), /forEach\.file: \S+out\.txt is a symbolic link that leads out of the workspace folder/);
  });

  it('a link to a folder outside the workspace is not followed, by a literal segment or by **', () => {
    fs.symlinkSync(outside, path.join(sub(), 'ext'));
    assert.deepEqual(resolveItems({ glob: '**/*.txt' }, sub(), root), ['own.txt']);
    assert.throws(() => resolveItems({ glob: 'ext/*.txt' }, sub(), root), /ext is a symbolic link to \S+, outside the workspace folder, so it was not followed/);
  });

  it('without a workspace folder given, the folder searched is the limit', () => {
    fs.symlinkSync('../shared', path.join(sub(), 'data'));
    assert.deepEqual(globFiles(sub(), 'data/*.txt'), []);
    assert.deepEqual(globFiles(sub(), 'data/*.txt', [root]), ['data/one.txt']);
  });

  it('a link back up (a cycle) ends the walk; a folder reached by a link and by its own path is walked once, by its own path', () => {
    fs.symlinkSync('..', path.join(root, 'shared', 'deep', 'up')); // shared/deep/up -> shared
    fs.symlinkSync('.', path.join(root, 'self'));
    fs.symlinkSync('shared', path.join(root, 'again'));
    const t = Date.now();
    const all = resolveItems({ glob: '**/*.txt' }, root, root);
    assert.ok(Date.now() - t < 2000, `ended in ${Date.now() - t}ms`);
    assert.deepEqual(all, ['shared/deep/two.txt', 'shared/one.txt', 'sub/own.txt', 'top.txt']);
    // Named through the link, the folder is walked by that path.
    assert.deepEqual(resolveItems({ glob: 'again/*.txt' }, root, root), ['again/one.txt']);
    assert.deepEqual(resolveItems({ glob: 'self/self/top.txt' }, root, root), ['self/self/top.txt']);
  });

  it('a step folder that is itself a link outside the workspace: its own files are its items', () => {
    fs.symlinkSync(outside, path.join(root, 'away'));
    assert.deepEqual(resolveItems({ glob: '**/*.txt' }, path.join(root, 'away'), root), ['more/x.txt', 'secret.txt']);
    assert.throws(() => globFiles(path.join(root, 'away'), '*.txt', [root]), /the folder to search is a symbolic link that leads out of/);
  });
});
