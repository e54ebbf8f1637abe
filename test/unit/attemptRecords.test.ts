import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { adoptableAttempts, RecordsTail, type AttemptRecord } from '../../src/runner/attemptRecords';

describe('attempt records, read back by a successor', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-records-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, lines: string[], mtimeSec: number) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, lines.map((l) => l + '\n').join(''));
    fs.utimesSync(file, mtimeSec, mtimeSec);
  };

  it('an item that ran again under the same attempt number, in another slot: its last request wins, whichever file was written last', async () => {
    // Item 3 paused its task (a 429, exit 1: not a failure, so its attempt number stays 1) in slot 0;
    // the step went on and ran it again in slot 1, where it succeeded as the runner died. Slot 0
    // went on with another item and so wrote last (the chaos soak met this: the old run's end, read
    // last, failed the step).
    write('r.1.1.tsv', ['slot\t0\t', 'start\tb#3\t1\t0\t1796156896395000', 'group\tb#3\t1\t4242', 'end\tb#3\t1\t0\t\t1796156896'], 1_000);
    write('r.1.0.tsv', ['slot\t0\t', 'start\tb#3\t1\t0\t1796156895873000', 'group\tb#3\t1\t4241', 'end\tb#3\t1\t1\t\t1796156895', 'start\tb#4\t1\t0\t1796156896400000', 'group\tb#4\t1\t4243', 'end\tb#4\t1\t0\t\t1796156896'], 2_000);
    const records = new Map((await adoptableAttempts(dir, 0)).map((r) => [r.key, r]));
    assert.deepEqual(records.get('b#3')?.end, { kind: 'exited', exitCode: 0, signal: null });
    assert.equal(records.get('b#3')?.pgid, 4242);
    assert.deepEqual(records.get('b#4')?.end, { kind: 'exited', exitCode: 0, signal: null });
  });

  it('a higher attempt number wins over a later request of a lower one', async () => {
    write('r.1.0.tsv', ['slot\t0\t', 'start\ts\t2\t0\t100', 'end\ts\t2\t0\t\t1'], 1_000);
    write('r.1.1.tsv', ['slot\t0\t', 'start\ts\t1\t0\t200', 'end\ts\t1\t4\t\t1'], 2_000);
    const [record] = await adoptableAttempts(dir, 0);
    assert.equal(record.attempt, 2);
    assert.deepEqual(record.end, { kind: 'exited', exitCode: 0, signal: null });
  });

  it('reads the lines a slot wrote over the zeros it wrote ahead, up to the first NUL; a tail sees the lines written there later, and not a line cut short', async () => {
    const file = path.join(dir, 'r.1.0.tsv');
    const lines = (...l: string[]) => Buffer.from(l.map((x) => x + '\n').join(''));
    const first = lines('slot\t0\t', 'start\ts1\t1\t0\t100', 'end\ts1\t1\t0\t\t1');
    fs.writeFileSync(file, Buffer.concat([first, Buffer.alloc(65536)]));
    const tail = new RecordsTail(file);
    const seen = new Map<string, AttemptRecord>();
    tail.read(seen);
    assert.deepEqual([...seen.keys()], ['s1']);
    assert.deepEqual([...(await adoptableAttempts(dir, 0))].map((r) => r.key), ['s1']);
    // The next step's lines, written in place; the last one cut short (its slot died mid-write).
    const fd = fs.openSync(file, 'r+');
    const second = lines('start\ts2\t1\t0\t200', 'group\ts2\t1\t4242', 'end\ts2\t1\t3\t\t2');
    fs.writeSync(fd, second, 0, second.length - 5, first.length);
    fs.closeSync(fd);
    tail.read(seen);
    assert.equal(seen.get('s2')?.pgid, 4242);
    assert.equal(seen.get('s2')?.end, undefined, 'the end line is cut short');
    const fd2 = fs.openSync(file, 'r+');
    fs.writeSync(fd2, second, 0, second.length, first.length);
    fs.closeSync(fd2);
    tail.read(seen);
    assert.deepEqual(seen.get('s2')?.end, { kind: 'exited', exitCode: 3, signal: null });
    const all = new Map((await adoptableAttempts(dir, 0)).map((r) => [r.key, r]));
    assert.deepEqual(all.get('s2')?.end, { kind: 'exited', exitCode: 3, signal: null });
  });
});
