/** `::progress <done>/<total>`: only what state.json can hold, whatever a step prints. */
import * as assert from 'node:assert/strict';
import { progressSchema } from '../../src/protocol/schemas';
import { parseProgress } from '../../src/runner/lines';

describe('parseProgress', () => {
  const digits400 = '9'.repeat(400);
  const ignored: [string, string][] = [
    ['400 digits done', `::progress ${digits400}/5`],
    ['400 digits total', `::progress 3/${digits400}`],
    ['400 digits both', `::progress ${digits400}/${digits400}`],
    ['20 digits (loses precision)', '::progress 12345678901234567890/12345678901234567890'],
    ['just above the safe range', '::progress 9007199254740992/9007199254740993'],
    ['a negative done', '::progress -1/5'],
    ['a negative total', '::progress 1/-5'],
    ['NaN', '::progress NaN/3'],
    ['Infinity', '::progress Infinity/Infinity'],
    ['a fraction', '::progress 1.5/3'],
    ['an exponent', '::progress 1e3/5000'],
    ['hex', '::progress 0x10/20'],
    ['other digits', '::progress ３/５'],
    ['a space inside', '::progress 3 /5'],
    ['two spaces after the word', '::progress  3/5'],
    ['a space before', ' ::progress 3/5'],
    ['no total', '::progress 3/'],
    ['text after', '::progress 3/5 files'],
    ['no number', '::progress'],
  ];
  for (const [what, line] of ignored) {
    it(`ignores ${what}`, () => assert.equal(parseProgress(line), undefined));
  }

  const parsed: [string, string, { done: number; total: number }][] = [
    ['a valid one', '::progress 3/5', { done: 3, total: 5 }],
    ['trailing spaces', '::progress 3/5   \t', { done: 3, total: 5 }],
    ['leading zeros, even 400 of them', `::progress ${'0'.repeat(400)}3/005`, { done: 3, total: 5 }],
    ['0/0', '::progress 0/0', { done: 0, total: 0 }],
    ['done above total, clamped', '::progress 7/5', { done: 5, total: 5 }],
    ['a total of 0, done clamped to it', '::progress 3/0', { done: 0, total: 0 }],
    ['the largest safe integers', '::progress 9007199254740991/9007199254740991', { done: 9007199254740991, total: 9007199254740991 }],
  ];
  for (const [what, line, expected] of parsed) {
    it(`reads ${what}`, () => assert.deepEqual(parseProgress(line), expected));
  }

  it('whatever it returns is valid in state.json, as written and read back', () => {
    for (const [, line] of [...ignored, ...parsed]) {
      const p = parseProgress(line);
      if (!p) continue;
      assert.ok(p.done <= p.total, line);
      assert.ok(progressSchema.safeParse(JSON.parse(JSON.stringify(p))).success, line);
    }
  });
});
