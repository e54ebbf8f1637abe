import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileGlob, globFiles } from '../../src/protocol/glob';

describe('glob patterns for forEach', () => {
  let root: string;
  let outside: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-glob-'));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-glob-outside-'));
    const files = [
      'a.txt', 'b.txt', 'ab.md', 'c1.txt', 'c22.txt', '.hidden.txt', 'star*.txt', '[x].txt',
      'data/one.txt', 'data/two.csv', 'data/deep/three.txt', 'data/deep/deeper/four.txt',
      'data/.git/ignored.txt', 'node_modules/pkg/index.txt', 'Upper.TXT',
    ];
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.writeFileSync(path.join(root, f), f);
    }
    fs.mkdirSync(path.join(root, 'empty-dir.txt')); // a folder whose name matches is not an item
    fs.writeFileSync(path.join(outside, 'secret.txt'), '');
    fs.symlinkSync(outside, path.join(root, 'data', 'link-out')); // never followed
    fs.symlinkSync(path.join(root, 'a.txt'), path.join(root, 'data', 'alias.txt')); // a link to a file is a file
    fs.symlinkSync(path.join(root, 'missing'), path.join(root, 'data', 'dangling.txt'));
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const cases: [string, string[]][] = [
    ['*.txt', ['[x].txt', 'a.txt', 'b.txt', 'c1.txt', 'c22.txt', 'star*.txt']],
    ['?.txt', ['a.txt', 'b.txt']],
    ['c?.txt', ['c1.txt']],
    ['c*.txt', ['c1.txt', 'c22.txt']],
    ['[ab]*', ['a.txt', 'ab.md', 'b.txt']],
    ['[a-b].txt', ['a.txt', 'b.txt']],
    ['[!a-b]*.txt', ['[x].txt', 'c1.txt', 'c22.txt', 'star*.txt']],
    ['[^a]?.txt', ['c1.txt']],
    ['[]x[]*', ['[x].txt']],
    ['\\[x].txt', ['[x].txt']],
    ['star\\*.txt', ['star*.txt']],
    ['.*', ['.hidden.txt']],
    ['data/*', ['data/alias.txt', 'data/one.txt', 'data/two.csv']],
    ['./data/*.txt', ['data/alias.txt', 'data/one.txt']],
    ['data/**/*.txt', ['data/alias.txt', 'data/deep/deeper/four.txt', 'data/deep/three.txt', 'data/one.txt']],
    ['**/three.txt', ['data/deep/three.txt']],
    ['data/**/**/four.txt', ['data/deep/deeper/four.txt']],
    ['**/deep/*.txt', ['data/deep/three.txt']],
    ['data/.git/*', ['data/.git/ignored.txt']],
    ['**/*.TXT', ['Upper.TXT']],
    ['data/link-out/*', []],
    ['nothing/*.txt', []],
    ['a.txt', ['a.txt']],
    ['empty-dir.txt', []],
  ];
  for (const [pattern, expected] of cases) {
    it(`${pattern} → ${expected.length ? expected.join(', ') : 'nothing'}`, () => assert.deepEqual(globFiles(root, pattern), expected));
  }

  it('** matches any depth but never enters hidden folders or follows links to folders', () => {
    const all = globFiles(root, '**/*');
    assert.ok(all.includes('node_modules/pkg/index.txt'));
    assert.ok(!all.some((f) => f.includes('.git') || f.includes('secret') || f.startsWith('.hidden')), all.join(' '));
    assert.ok(!all.includes('data/dangling.txt'), 'a dangling link is not a file');
    assert.deepEqual(all, [...all].sort(), 'sorted');
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['/etc/*', /must be relative/],
    ['../*.txt', /must not contain "\.\."/],
    ['data/../../x', /must not contain "\.\."/],
    ['data/', /ends with "\/"/],
    ['data//x', /empty segment/],
    ['**', /ends with "\*\*"/],
    ['.', /names the folder itself/],
    ['[abc', /"\[" at position 1 is not closed/],
    ['x[z-a]', /range "z-a" is reversed/],
    ['x\\', /escapes nothing/],
  ];
  for (const [pattern, message] of bad) {
    it(`refuses ${JSON.stringify(pattern)}`, () => assert.throws(() => compileGlob(pattern), message));
  }

  it('says when the folder to search does not exist', () => {
    assert.throws(() => globFiles(path.join(root, 'nope'), '*'), /the folder to search does not exist/);
  });
});
