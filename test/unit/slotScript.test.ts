import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOG_FLAGS, slotRequest, wholeEnv, type RequestEnv } from '../../src/runner/slotExecutor';
import { compiledSlot, perlSlot, type SlotProgram } from '../../src/runner/slotProgram';
import { SLOT_SCRIPT } from '../../src/runner/slotScript';
import { SLOT_C } from '../../src/runner/slotNative';
import { fileStamp, type AttemptSpec } from '../../src/runner/executor';
import { waitFor } from '../runner/helpers';

/** A slot fed its requests at once (they wait in its stdin, as queued ones do), run to its end. */
function slot(program: SlotProgram, dir: string, requests: string[], hold = '', records = path.join(dir, 'records.tsv')) {
  const r = spawnSync(program.file, [...program.args, records, '0', '1000', '250', String(LOG_FLAGS), '', hold], { input: requests.join(''), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

/**
 * Its reports but starts and Q, each end without the times the C slot adds (ms since 1970, the
 * start's no later than the end's, both within the last minute), which are checked here.
 */
function reportsOf(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line && !line.startsWith('S ') && line !== 'Q')
    .map((line) => {
      const fields = line.split(' ');
      if (fields[0] !== 'X' || fields.length === 5) return line;
      const [started, ended] = fields.slice(5).map(Number);
      assert.ok(fields.length === 7 && Date.now() - 60_000 < started && started <= ended && ended <= Date.now(), `the times of an end: ${line}`);
      return fields.slice(0, 5).join(' ');
    });
}

/** The same, with its reports and its records. */
function runSlot(program: SlotProgram, dir: string, requests: string[], hold = '') {
  const r = slot(program, dir, requests, hold);
  const records = fs.existsSync(path.join(dir, 'records.tsv')) ? fs.readFileSync(path.join(dir, 'records.tsv'), 'utf8').split('\0')[0] : '';
  return { reports: reportsOf(r.stdout), records, log: fs.readFileSync(path.join(dir, 'log'), 'utf8') };
}

function request(dir: string, key: string, command: string, env: RequestEnv, queued: boolean, more: Partial<AttemptSpec> = {}): string {
  const spec: AttemptSpec = { command, cwd: dir, env: {}, logFile: path.join(dir, 'log'), logHeader: `== ${key}\n`, logPrefix: `[${key}] `, record: { key, attempt: 1 }, ...more };
  return slotRequest(spec, env, false, queued)!;
}

describe('the slot programs', () => {
  it('the C one holds the reports of what ended while it had more to run, and writes them when half of what waited has started (one wake-up of the runner for several ends); a failure at once', async function () {
    const program = compiledSlot();
    if (!program) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-slot-'));
    try {
      const child = spawn(program.file, [...program.args, path.join(dir, 'records.tsv'), '0', '1000', '250', String(LOG_FLAGS), '', ''], { stdio: ['pipe', 'pipe', 'ignore'] });
      const chunks: string[] = [];
      child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
      const add: RequestEnv = { form: '+', entries: [] };
      // All six wait in its stdin at once, as queued ones do.
      // d runs a while: the second write is not read with the first. Each of the six is under PIPE_BUF: one write, read at once.
      const commands = { a: 'true', b: 'true', c: 'true', d: 'sleep 0.2', e: 'true', f: 'sleep 0.3; exit 3' };
      child.stdin.end(Object.entries(commands).map(([name, command], i) => request(dir, name, command, add, i > 0)).join(''));
      const code = await new Promise((resolve) => child.on('close', resolve));
      assert.equal(code, 0);
      const lines = (chunk: string) => chunk.split('\n').filter((l) => l && l !== 'Q').map((l) => (l.startsWith('X ') ? reportsOf(l)[0] : l.replace(/^S \d+$/, 'S')));
      const writes = chunks.map(lines);
      // a starts with five waiting, d with two (half): the first write. e starts with one waiting, f with none: the second.
      assert.deepEqual(writes.slice(0, 2), [['S', 'X 0  0 0', 'S', 'X 0  0 0', 'S', 'X 0  0 0', 'S'], ['X 0  0 0', 'S', 'X 0  0 0', 'S']], `the writes: ${JSON.stringify(chunks)}`);
      assert.deepEqual(writes.slice(2).flat(), ['X 3  0 0']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the C one writes the reports it holds when the runner asks (SIGUSR1: a stop waits for a start to be heard), and goes on', async function () {
    const program = compiledSlot();
    if (!program) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-slot-'));
    try {
      const records = path.join(dir, 'records.tsv');
      const child = spawn(program.file, [...program.args, records, '0', '1000', '250', String(LOG_FLAGS), '', ''], { stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const closed = new Promise<[number | null, string | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
      const add: RequestEnv = { form: '+', entries: [] };
      const gate = path.join(dir, 'gate');
      // a waits for the gate with three behind it: its start is held.
      const commands = [`while [ ! -e '${gate}' ]; do sleep 0.01; done`, 'true', 'true', 'true'];
      child.stdin.write(commands.map((command, i) => request(dir, String.fromCharCode(97 + i), command, add, i > 0)).join(''));
      await waitFor('a to start', () => fs.existsSync(records) && fs.readFileSync(records, 'utf8').includes('group\ta\t'));
      child.kill('SIGUSR1');
      await waitFor('its start to be heard', () => /^S \d+$/m.test(out));
      fs.writeFileSync(gate, '');
      child.stdin.end();
      assert.deepEqual(await closed, [0, null], 'it went on after the signal');
      assert.deepEqual(reportsOf(out), ['X 0  0 0', 'X 0  0 0', 'X 0  0 0', 'X 0  0 0']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Perl one compiles under strict and warnings (an error here would fail every attempt as "its supervisor ended"; slots load neither, to fork lighter)', function () {
    if (!perlSlot()) this.skip();
    const r = spawnSync('perl', ['-Mstrict', '-Mwarnings', '-c', '-e', SLOT_SCRIPT], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /syntax OK/);
  });

  it('the C one compiles without a warning under -Wall -Wextra -pedantic, and is what a runner uses when there is a cc', function () {
    if (spawnSync('cc', ['--version']).status !== 0) this.skip();
    const out = path.join(os.tmpdir(), `ptask-slot-${process.pid}`);
    const r = spawnSync('cc', ['-std=c99', '-D_POSIX_C_SOURCE=200809L', '-D_DEFAULT_SOURCE', '-Wall', '-Wextra', '-pedantic', '-O2', '-o', out, '-x', 'c', '-'], { input: SLOT_C, encoding: 'utf8' });
    fs.rmSync(out, { force: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(compiledSlot(), 'the compiled slot is made (in PTASK_CACHE or ~/.cache/pausable-tasks)');
  });
});

for (const [name, program] of [['Perl', perlSlot()], ['C', compiledSlot()]] as const) describe(`the slot program in ${name}`, () => {
  let dir: string;
  beforeEach(function () {
    if (!program) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-slot-'));
  });
  afterEach(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it('starts queued requests one after the other, and declines one queued behind an attempt that did not succeed', () => {
    const add: RequestEnv = { form: '+', entries: [] };
    const { reports, records, log } = runSlot(program!, dir, [
      request(dir, 'a', 'echo one', add, false),
      request(dir, 'b', 'exit 3', add, true),
      request(dir, 'c', 'echo never', add, true), // behind a failure: the runner decides what follows
      request(dir, 'd', 'echo sent again', add, false), // sent once the runner saw the failure: it runs
      request(dir, 'e', 'kill -9 $$', add, false),
      request(dir, 'f', 'echo never either', add, true), // behind a signal
    ]);
    assert.deepEqual(reports, ['X 0  0 0', 'X 3  0 0', 'D', 'X 0  0 0', 'X  9 0 0', 'D']);
    assert.doesNotMatch(log, /never/);
    assert.match(log, /^\[a\] one$/m);
    assert.match(log, /^\[d\] sent again$/m);
    // A declined request leaves no record: it never ran.
    assert.deepEqual(records.split('\n').filter((l) => l.startsWith('start')).map((l) => l.split('\t')[1]), ['a', 'b', 'd', 'e']);
  });

  it('starts a queued request only while its files are as stamped, and declines what is queued behind one it declined', () => {
    const add: RequestEnv = { form: '+', entries: [] };
    const outputs = path.join(dir, 'a.output.json');
    const control = path.join(dir, 'control.json');
    fs.writeFileSync(control, '{"seq":1}');
    const gates = [
      { file: outputs, stamp: fileStamp(outputs) },
      { file: control, stamp: fileStamp(control) },
    ];
    assert.equal(gates[0].stamp, '-');
    assert.match(gates[1].stamp, /^\d+:9:\d+$/);
    const first = runSlot(program!, dir, [request(dir, 'a', 'echo a', add, false), request(dir, 'b', 'echo b', add, true, { startsIf: gates })]);
    assert.deepEqual(first.reports, ['X 0  0 0', 'X 0  0 0'], 'nothing changed: it starts');
    // The step before wrote outputs: the one behind it is declined (its environment would lack them), and so is the next.
    const wrote = runSlot(program!, dir, [request(dir, 'c', `echo '{}' > ${outputs}`, add, false), request(dir, 'd', 'echo never', add, true, { startsIf: gates }), request(dir, 'e', 'echo never', add, true)]);
    assert.deepEqual(wrote.reports, ['X 0  0 0', 'D', 'D']);
    fs.rmSync(outputs);
    // A control file written meanwhile (replaced whole, as every writer does): declined, and what follows it too, whatever its own gates.
    const replace = `echo '{"seq":2}' > ${control}.tmp && mv ${control}.tmp ${control}`;
    const controlled = runSlot(program!, dir, [request(dir, 'f', replace, add, false), request(dir, 'g', 'echo never', add, true, { startsIf: gates }), request(dir, 'h', 'echo never', add, true, { startsIf: [] })]);
    assert.deepEqual(controlled.reports, ['X 0  0 0', 'D', 'D']);
    assert.doesNotMatch(controlled.log, /never/);
  });

  it('syncs a durable end record before it reports it (the report says so)', () => {
    const add: RequestEnv = { form: '+', entries: [] };
    const { reports, records } = runSlot(program!, dir, [request(dir, 'a', 'exit 4', add, false, { durableEnd: true }), request(dir, 'b', 'true', add, false)]);
    assert.deepEqual(reports, ['X 4  0 1', 'X 0  0 0']);
    assert.match(records, /^end\ta\t1\t4\t\t\d+$/m);
  });

  it(`writes its records in order after what the file held${name === 'C' ? ', over zeros it wrote ahead once it synced an end' : ', appending'}`, () => {
    const add: RequestEnv = { form: '+', entries: [] };
    const file = path.join(dir, 'records.tsv');
    fs.writeFileSync(file, 'slot\t0\t\n');
    slot(program!, dir, ['a', 'b', 'c'].map((key, i) => request(dir, key, 'true', add, i > 0, { durableEnd: true })));
    const bytes = fs.readFileSync(file);
    const nul = bytes.indexOf(0);
    const text = bytes.toString('utf8', 0, nul < 0 ? bytes.length : nul);
    assert.deepEqual(text.split('\n').map((l) => l.split('\t')[0]), ['slot', ...['a', 'b', 'c'].flatMap(() => ['start', 'group', 'end']), '']);
    assert.deepEqual(text.split('\n').filter((l) => l.startsWith('end')).map((l) => l.split('\t')[1]), ['a', 'b', 'c']);
    if (name === 'C') {
      assert.ok(nul > 0 && bytes.length >= nul + 60_000, `zeros ahead of the lines (${bytes.length} bytes, the first NUL at ${nul})`);
      assert.ok(bytes.subarray(nul).every((b) => b === 0), 'nothing after the first NUL');
    } else assert.equal(nul, -1);
  });

  it('makes a log from a retired one it is given: emptied, renamed, never through a link or a second name', () => {
    const add: RequestEnv = { form: '+', entries: [] };
    const retired = path.join(dir, 'retired');
    fs.mkdirSync(retired);
    const reuse = path.join(retired, 'a.log');
    fs.writeFileSync(reuse, 'the old run\n');
    const inode = fs.statSync(reuse).ino;
    const log = (name: string) => path.join(dir, name);
    const spec = (name: string, logReuse: string): Partial<AttemptSpec> => ({ logFile: log(name), logReuse, logPrefix: undefined, logHeader: `== ${name}\n` });
    // Outside the retired folder, a file a link or a second name leads to: never emptied.
    const precious = path.join(dir, 'precious');
    fs.writeFileSync(precious, 'keep me\n');
    fs.symlinkSync(precious, path.join(retired, 'b.log'));
    fs.linkSync(precious, path.join(retired, 'c.log'));
    slot(program!, dir, [
      request(dir, 'a', 'echo new', add, false, spec('a.log', reuse)),
      request(dir, 'b', 'echo b', add, false, spec('b.log', path.join(retired, 'b.log'))),
      request(dir, 'c', 'echo c', add, false, spec('c.log', path.join(retired, 'c.log'))),
      request(dir, 'a', 'echo again', add, false, spec('a.log', path.join(retired, 'none.log'))),
    ]);
    assert.equal(fs.statSync(log('a.log')).ino, inode, 'the retired file is the log now');
    assert.equal(fs.readFileSync(log('a.log'), 'utf8'), '== a.log\nnew\n== a.log\nagain\n');
    assert.equal(fs.existsSync(reuse), false);
    assert.equal(fs.readFileSync(precious, 'utf8'), 'keep me\n');
    for (const name of ['b.log', 'c.log']) {
      assert.equal(fs.lstatSync(log(name)).isFile(), true);
      assert.notEqual(fs.statSync(log(name)).ino, fs.statSync(precious).ino);
      assert.equal(fs.readFileSync(log(name), 'utf8'), `== ${name}\n${name[0]}\n`);
    }
  });

  it('an end it could not record, or could not sync, is no commit: reported unsynced, and what is queued behind it is declined', function () {
    if (process.platform !== 'linux') this.skip();
    const add: RequestEnv = { form: '+', entries: [] };
    const requests = () => [request(dir, 'a', 'true', add, false, { durableEnd: true }), request(dir, 'b', 'echo never', add, true)];
    const reports = (r: ReturnType<typeof slot>) => reportsOf(r.stdout);
    // Records that cannot be written (a full disk): /dev/full refuses every write.
    assert.deepEqual(reports(slot(program!, dir, requests(), '', '/dev/full')), ['X 0  0 0', 'D']);
    // Records written, but their sync fails: a FIFO takes writes and refuses fsync (EINVAL).
    const fifo = path.join(dir, 'records.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    let read = '';
    reader.stdout.on('data', (chunk: Buffer) => (read += chunk.toString()));
    const closed = new Promise((resolve) => reader.on('close', resolve));
    assert.deepEqual(reports(slot(program!, dir, requests(), '', fifo)), ['X 0  0 0', 'D']);
    return closed.then(() => assert.match(read, /^end\ta\t1\t0\t\t\d+$/m, 'the end was written, only not synced'));
  });

  it('declines what was queued while the hold file exists; starts a request sent to it idle (the runner decided it then: a pause after finds it in flight)', () => {
    const hold = path.join(dir, 'hold');
    fs.writeFileSync(hold, '');
    const add: RequestEnv = { form: '+', entries: [] };
    const { reports, records, log } = runSlot(program!, dir, [request(dir, 'a', 'echo ran', add, false), request(dir, 'b', 'echo held', add, true)], hold);
    assert.deepEqual(reports, ['X 0  0 0', 'D']);
    assert.deepEqual(records.split('\n').filter((l) => l.startsWith('start')).map((l) => l.split('\t')[1]), ['a']);
    assert.doesNotMatch(log, /held/);
  });

  it('reports the start of a shell that closed its output, while it runs on (a slot that holds its reports lets them go)', async () => {
    const child = spawn(program!.file, [...program!.args, path.join(dir, 'records.tsv'), '0', '1000', '250', String(LOG_FLAGS), '', ''], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // One queued behind it: the slot has more to run, so nothing but time lets its held start go.
    const add: RequestEnv = { form: '+', entries: [] };
    child.stdin.write(request(dir, 'a', 'exec >/dev/null 2>&1; sleep 30', add, false) + request(dir, 'b', 'true', add, true));
    try {
      const started = await waitFor('its start reported while the shell runs', () => /^S (\d+)$/m.exec(out), 5000);
      process.kill(-Number(started[1]), 'SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('sets the environment a request changes, from the one before; the whole environment with form "="', () => {
    const show = 'echo "A=${A-unset} B=${B-unset} HOME=${HOME-unset}"';
    const { log } = runSlot(program!, dir, [
      request(dir, '1', show, { form: '+', entries: ['A=1', 'B=two words'] }, false),
      request(dir, '2', show, { form: '+', entries: ['A=changed'] }, false), // B stays as the request before set it
      request(dir, '3', show, { form: '+', entries: ['B', 'HOME'] }, false), // unset
      request(dir, '4', show, wholeEnv({ A: 'only' }), false),
    ]);
    const lines = log.split('\n').filter((l) => l.includes('A='));
    assert.deepEqual(lines, [
      `[1] A=1 B=two words HOME=${process.env.HOME}`,
      `[2] A=changed B=two words HOME=${process.env.HOME}`,
      '[3] A=changed B=unset HOME=unset',
      '[4] A=only B=unset HOME=unset',
    ]);
  });

  it('reads a request larger than its read buffer (a big environment variable), and the next one after it', () => {
    const big = 'v'.repeat(100_000); // one string may be at most 128 KiB on Linux (MAX_ARG_STRLEN)
    const { reports, log } = runSlot(program!, dir, [
      request(dir, 'a', 'echo "${#BIG}"', { form: '+', entries: [`BIG=${big}`] }, false),
      request(dir, 'b', 'echo "${#BIG} after"', { form: '+', entries: [] }, false),
    ]);
    assert.deepEqual(reports, ['X 0  0 0', 'X 0  0 0']);
    assert.match(log, /^\[a\] 100000$/m);
    assert.match(log, /^\[b\] 100000 after$/m);
  });

  it('prefixes each output line in the log and reports it when asked: a CR before the newline dropped, a line over 4,096 bytes cut however it was read, the last one kept without its newline', () => {
    const spec: AttemptSpec = { command: "printf 'one\\r\\ntwo\\n'; head -c 5000 /dev/zero | tr '\\0' x; echo; { head -c 5000 /dev/zero | tr '\\0' y; echo; } > long; cat long; printf last", cwd: dir, env: {}, logFile: path.join(dir, 'log'), logHeader: '== k\n', logPrefix: '[k] ', record: { key: 'k', attempt: 1 } };
    const r = slot(program!, dir, [slotRequest(spec, { form: '+', entries: [] }, true, false)!]);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('O ')).map((l) => l.slice(2));
    const long = 'x'.repeat(5000);
    // The x's come in two reads (tr writes 4,096 bytes at a time), the y's in one (cat's one write): cut the same.
    const ys = 'y'.repeat(5000);
    assert.deepEqual(lines, ['one', 'two', long.slice(0, 4096), long.slice(4096), ys.slice(0, 4096), ys.slice(4096), 'last']);
    assert.equal(fs.readFileSync(path.join(dir, 'log'), 'utf8'), ['== k', ...lines.map((l) => `[k] ${l}`), ''].join('\n'));
    assert.deepEqual(reportsOf(r.stdout).filter((l) => l.startsWith('X ')), ['X 0  0 0']);
  });

  // Queued behind another, the C slot's shell is started while that one runs (and waits for its word on a descriptor of its own).
  for (const queued of [false, true]) it(`gives the attempt /dev/null for stdin, its own process group and folder, and the slot's descriptors not at all${queued ? ' (queued behind another)' : ''}`, () => {
    const sub = path.join(dir, 'sub');
    fs.mkdirSync(sub);
    const spec: AttemptSpec = { command: 'read x; echo "read=$?"; pwd; ps -o pgid= -p $$; echo $$; grep SigIgn /proc/$$/status || echo SigIgn: 0000000000000000; ls -l /proc/$$/fd >&2', cwd: sub, env: {}, logFile: path.join(dir, 'log'), logHeader: '', logPrefix: '', record: { key: 'k', attempt: 1 } };
    const before = request(dir, 'before', 'true', { form: '+', entries: [] }, false, { logFile: path.join(dir, 'before.log') });
    slot(program!, dir, [...(queued ? [before] : []), slotRequest(spec, { form: '+', entries: [] }, false, queued)!]);
    const [read, pwd, pgid, pid, ignored, , ...fds] = fs.readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n').map((l) => l.trim());
    assert.equal(read, 'read=1', 'stdin is /dev/null: read meets its end');
    assert.equal(pwd, sub);
    assert.equal(pgid, pid, 'the shell leads its own process group');
    // No signal is ignored by the attempt (an ignored one stays so across exec; the slot handles PIPE). But glibc's
    // posix_spawn leaves its own two (32 and 33, below SIGRTMIN) ignored, as for make and ninja's children: not counted.
    const ignoredSet = BigInt(`0x${ignored.split(/\s+/)[1]}`) & ~(3n << 31n);
    assert.equal(ignoredSet.toString(16), '0', `the attempt ignores signals (${ignored})`);
    // Nothing of the slot's (requests, reports, records, log) leaks into the attempt: past 0-2 (and
    // the shell's own copy of 2 for its >&2, fd 10), only what this test itself was given from outside.
    if (process.platform === 'linux') {
      for (const line of fds) {
        const [, fd, target] = / (\d+) -> (.*)$/.exec(line) ?? [];
        if (!fd) continue; // "total 0"
        if (['0', '1', '2', '10'].includes(fd)) continue;
        let ours: string | undefined;
        try {
          ours = fs.readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          // not open here
        }
        assert.equal(target, ours, `fd ${fd} (${target}) came from the slot`);
      }
    }
  });
});

describe('the C slot starts the next queued shell ahead, and lets it run only where one started then would', () => {
  const program = compiledSlot();
  let dir: string;
  const add: RequestEnv = { form: '+', entries: [] };
  /** Processes whose command line holds `marker` (a shell started ahead shows its command there). */
  const holding = (marker: string) => spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim();
  /** A command that waits (at most 5 s) until the shell ahead, holding `marker`, is there: it is started while this one runs. */
  const awaitAhead = (marker: string) => `for i in $(seq 500); do pgrep -f '${marker.replace(/^./, '[$&]')}' >/dev/null && echo ahead && break; sleep 0.01; done`;
  beforeEach(function () {
    if (!program || spawnSync('pgrep', ['--version']).status !== 0) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-slot-'));
  });
  afterEach(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it('runs it in the folder its path names when it starts, not the one it named before (the step before made it again)', () => {
    const sub = path.join(dir, 'sub');
    fs.mkdirSync(sub);
    const { reports, log } = runSlot(program!, dir, [
      request(dir, 'a', `${awaitAhead('mark-a1')}; mv sub old && mkdir sub`, add, false),
      request(dir, 'b', 'touch here # mark-a1', add, true, { cwd: sub }),
    ]);
    assert.deepEqual(reports, ['X 0  0 0', 'X 0  0 0']);
    assert.match(log, /^\[a\] ahead$/m, 'the shell of b was started while a ran');
    assert.ok(fs.existsSync(path.join(sub, 'here')), 'b ran in the new folder');
    assert.ok(!fs.existsSync(path.join(dir, 'old', 'here')), 'not in the one it was started in');
  });

  it('starts a shell now when the one ahead was killed while it waited (a pkill of its words): the attempt runs once', () => {
    const { reports, log } = runSlot(program!, dir, [
      request(dir, 'a', `${awaitAhead('mark-a2')}; pkill -KILL -f '[m]ark-a2'`, add, false),
      request(dir, 'b', 'echo b ran # mark-a2', add, true),
    ]);
    assert.deepEqual(reports, ['X 0  0 0', 'X 0  0 0']);
    assert.match(log, /^\[a\] ahead$/m);
    assert.equal(log.match(/b ran/g)?.length, 1);
  });

  it('kills the shell ahead, having run nothing, when what it would run is declined (the step before failed)', () => {
    const { reports, log } = runSlot(program!, dir, [
      request(dir, 'a', `${awaitAhead('mark-a3')}; exit 1`, add, false),
      request(dir, 'b', 'echo b ran; touch b-ran # mark-a3', add, true),
      request(dir, 'c', 'echo c ran', add, false), // the runner's next decision: its own command
    ]);
    assert.deepEqual(reports, ['X 1  0 0', 'D', 'X 0  0 0']);
    assert.match(log, /^\[c\] c ran$/m);
    assert.match(log, /^\[a\] ahead$/m);
    assert.doesNotMatch(log, /b ran/);
    assert.ok(!fs.existsSync(path.join(dir, 'b-ran')));
    assert.equal(holding('mark-a3'), '', 'no shell of it is left');
  });

  it('a shell ahead runs nothing when its slot is killed (kill -9): it reads the end of its gate and exits', async () => {
    const child = spawn(program!.file, [...program!.args, path.join(dir, 'records.tsv'), '0', '1000', '250', String(LOG_FLAGS), '', ''], { stdio: ['pipe', 'ignore', 'ignore'] });
    let group = 0;
    try {
      child.stdin.write(request(dir, 'a', `echo $$ > a.pid; sleep 30`, add, false) + request(dir, 'b', 'touch b-ran # mark-a4', add, true));
      group = await waitFor('a runs, and the shell of b waits', () => (holding('mark-a4') && fs.existsSync(path.join(dir, 'a.pid')) ? Number(fs.readFileSync(path.join(dir, 'a.pid'), 'utf8')) : 0), 5000);
      child.kill('SIGKILL');
      await waitFor('the shell of b is gone', () => holding('mark-a4') === '', 5000);
      assert.ok(!fs.existsSync(path.join(dir, 'b-ran')), 'b ran nothing');
    } finally {
      child.kill('SIGKILL');
      if (group) process.kill(-group, 'SIGKILL');
    }
  });

  it('a command the shell cannot parse ends the same whether its shell was started ahead or not', () => {
    const alone = runSlot(program!, dir, [request(dir, 'b', 'if then fi', add, false, { logPrefix: '' })]);
    fs.rmSync(path.join(dir, 'log'));
    const queued = runSlot(program!, dir, [request(dir, 'a', 'true', add, false, { logHeader: '' }), request(dir, 'b', 'if then fi', add, true, { logPrefix: '' })]);
    assert.deepEqual(queued.reports, ['X 0  0 0', alone.reports[0]]);
    assert.match(alone.reports[0], /^X 2 /);
    assert.equal(queued.log.replace('[a] ', ''), alone.log);
  });
});
