import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AttemptSpec, ExecEnd } from '../../src/runner/executor';
import { SlotExecutor } from '../../src/runner/slotExecutor';

/**
 * A slot that records what it runs and dies before it reports any of it, as a slot in C killed
 * while it holds its reports would: the first request recorded ended (exit 0), the second
 * recorded started, the third not taken. A real process, killed with SIGKILL; a stand-in only for
 * what the slot wrote before it died.
 */
const DYING_SLOT = String.raw`
const fs = require('node:fs');
const records = process.argv[1];
let buffer = Buffer.alloc(0);
const requests = [];
process.stdin.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (let nl = buffer.indexOf(10); nl >= 0; nl = buffer.indexOf(10)) {
    const length = Number(buffer.subarray(0, nl).toString());
    if (buffer.length < nl + 1 + length) break;
    requests.push(buffer.subarray(nl + 1, nl + 1 + length).toString().split('\0'));
    buffer = buffer.subarray(nl + 1 + length);
  }
  if (requests.length < 3) return;
  const [a, b] = requests;
  fs.appendFileSync(records, [
    ['start', a[0], a[1], process.pid, a[2]], ['group', a[0], a[1], process.pid], ['end', a[0], a[1], 0, '', Math.floor(Date.now() / 1000)],
    ['start', b[0], b[1], process.pid, b[2]],
  ].map((f) => f.join('\t') + '\n').join(''));
  process.kill(process.pid, 'SIGKILL');
});
`;

describe('the slot executor, when a slot dies before it reports what it recorded', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-slot-gone-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('settles from the records: an attempt recorded ended ends so (not run again), one recorded started fails with the slot, one never taken is declined', async () => {
    const executor = new SlotExecutor(() => ({ file: process.execPath, args: ['-e', DYING_SLOT], name: 'dying' }), 1000, (n) => path.join(dir, 'attempts', `${n}.tsv`), path.join(dir, 'hold'));
    const spec = (key: string, behind: boolean): AttemptSpec => ({ command: 'true', cwd: dir, env: {}, logFile: path.join(dir, 'log'), logHeader: '', record: { key, attempt: 1 }, lane: 'each', behind });
    const a = executor.start(spec('each#0', false));
    const b = executor.start(spec('each#1', true));
    const c = executor.start(spec('each#2', true));
    const ends: ExecEnd[] = await Promise.all([a.ended, b.ended, c.ended]);
    assert.deepEqual(ends[0], { kind: 'exited', exitCode: 0, signal: null });
    assert.equal(ends[1].kind, 'spawn-error');
    assert.match((ends[1] as { error: string }).error, /its supervisor ended \(SIGKILL\)/);
    assert.deepEqual(ends[2], { kind: 'declined' });
    executor.close();
  });
});
