/**
 * Runs readers on damaged files and checks the three properties of every case: the reader returns
 * its error result or a valid value (never throws anything else), within 2 s, and changes no file.
 * One summary line per reader; a hang kills the process with the case named (a watchdog thread).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as fc from 'fast-check';
import { FileError } from '../../src/protocol/jsonFile';
import { FUZZ_RUNS, FUZZ_SEED, type HeavyCase } from './arbitraries';

/** A case slower than this is a failure. */
export const CASE_LIMIT_MS = 2000;
/** A sync reader still running after this long hangs: the watchdog names it and kills the process. */
const HANG_MS = 30_000;
/** Longest message a reader may put in front of a person. */
export const MAX_MESSAGE = 2000;
/** FUZZ_PROFILE=1: print the cases that take over 100 ms. */
const PROFILE = Boolean(process.env.FUZZ_PROFILE);

export interface Reader<C> {
  name: string;
  read(ctx: C): unknown;
  /** Checks a result; throws (an AssertionError) when it is not a valid value or a well-formed error. */
  verify(out: unknown, ctx: C): void;
  /** Errors this reader may throw by contract (e.g. readGlobalControl throws FileError); checked by verify. */
  mayThrow?: (err: unknown) => boolean;
}

export interface Case {
  label: string;
  bytes?: Buffer;
  directory?: true;
  missing?: true;
  sparse?: number;
}

interface Stats {
  cases: number;
  failures: number;
  /** How the cases came out: a valid value, or an error by code; shows the fuzzing reaches both. */
  outcomes: Map<string, number>;
}

/** "valid", "missing", "unreadable", "invalid" or "refused" (a documented throw), for the summary. */
function outcomeOf(out: unknown): string {
  const o = out as Record<string, any> | undefined;
  if (o && typeof o === 'object' && !Array.isArray(o)) {
    if ('thrown' in o) return o.thrown instanceof FileError ? o.thrown.code : 'refused';
    if (typeof o.ok === 'boolean') return o.ok ? 'valid' : o.error.code;
    if (Array.isArray(o.problems)) return o.problems.length ? 'invalid' : 'valid';
    if (Array.isArray(o.fileProblems)) return o.problem !== undefined || o.fileProblems.length ? 'invalid' : 'valid';
  }
  return out === undefined ? 'none' : 'valid';
}

// ---- checks ------------------------------------------------------------------------------------

const CONTROL_CHARS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

/** Words a person can read: not empty, not huge, no control characters (no "\n" unless allowed). */
export function assertReadable(text: unknown, what: string, multiline = false): asserts text is string {
  assert.equal(typeof text, 'string', `${what} is a string`);
  const s = text as string;
  assert.ok(/[a-z]{2}/i.test(s), `${what} has words: ${JSON.stringify(s.slice(0, 300))}`);
  assert.ok(s.length <= MAX_MESSAGE, `${what} is at most ${MAX_MESSAGE} characters, not ${s.length}: ${JSON.stringify(s.slice(0, 300))}…`);
  assert.ok(!CONTROL_CHARS.test(s) && (multiline || !s.includes('\n')), `${what} has no control characters: ${JSON.stringify(s.slice(0, 300))}`);
}

/** A FileError naming one of `files`, with a code and a readable reason. */
export function assertFileError(err: unknown, files: string[], what: string): void {
  assert.ok(err instanceof FileError, `${what}: a FileError, not ${(err as Error)?.constructor?.name}: ${(err as Error)?.message ?? err}`);
  assert.ok(files.includes(err.file), `${what}: names ${err.file}, one of ${files.join(', ')}`);
  assert.ok(['missing', 'unreadable', 'invalid'].includes(err.code), `${what}: code ${err.code}`);
  assertReadable(err.reason, `${what}: the reason`);
  assert.equal(err.message, `${err.file}: ${err.reason}`);
}

/** `{ ok: true, value }` that the schema accepts, or `{ ok: false, error: FileError }`. */
export function assertReadResult(out: unknown, files: string[], isValid: (value: unknown) => boolean, what: string): void {
  const r = out as { ok: boolean; value?: unknown; error?: unknown };
  assert.equal(typeof r?.ok, 'boolean', `${what}: a ReadResult`);
  if (r.ok) assert.ok(isValid(r.value), `${what}: the value is valid`);
  else assertFileError(r.error, files, what);
}

// ---- the file tree, to prove nothing changed ---------------------------------------------------

/**
 * Every file and folder under root with its inode, size, mtime and ctime: a write, even one that
 * restored the mtime, changes the ctime. The bytes of the fuzzed file are compared at the end of each case.
 */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    const st = fs.lstatSync(p, { bigint: true });
    out.set(p, `${st.isDirectory() ? 'dir' : 'file'} ${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(root);
  return out;
}

function sameBytes(file: string, c: Case): boolean {
  if (!c.bytes) return true; // a folder, nothing, or a sparse file: the snapshot covers them
  return fs.readFileSync(file).equals(c.bytes);
}

const OLD = new Date('2020-01-02T03:04:05.678Z');

/** Put the case's bytes (or a directory, or nothing) where the file goes; older mtime so a rewrite shows. */
export function place(file: string, c: Case): void {
  fs.rmSync(file, { recursive: true, force: true });
  if (c.missing) return;
  if (c.directory) fs.mkdirSync(path.join(file, 'inside'), { recursive: true });
  else if (c.sparse) {
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, c.sparse);
    fs.closeSync(fd);
  } else fs.writeFileSync(file, c.bytes!);
  fs.utimesSync(file, OLD, OLD);
}

// ---- the watchdog ------------------------------------------------------------------------------

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const started = new Float64Array(workerData.started);
const label = new Uint8Array(workerData.label);
setInterval(() => {
  const t = started[0];
  if (t && Date.now() - t > workerData.hangMs) {
    const what = Buffer.from(label).toString('utf8').replace(/\\0+$/, '');
    fs.writeSync(2, '\\nfuzz watchdog: ' + what + ' has run for ' + workerData.hangMs / 1000 + ' s: it hangs. Replay: FUZZ_SEED=' + workerData.seed + '\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}, 250);
`;

class Watchdog {
  private readonly started = new Float64Array(new SharedArrayBuffer(8));
  private readonly label = new Uint8Array(new SharedArrayBuffer(1024));
  private worker: Worker | undefined;

  start(): void {
    this.worker = new Worker(WATCHDOG, { eval: true, execArgv: [], workerData: { started: this.started.buffer, label: this.label.buffer, hangMs: HANG_MS, seed: FUZZ_SEED } });
    this.worker.unref();
  }

  begin(what: string): void {
    this.label.fill(0);
    this.label.set(Buffer.from(what).subarray(0, this.label.length));
    this.started[0] = Date.now();
  }

  end(): void {
    this.started[0] = 0;
  }

  stop(): Promise<number> | undefined {
    return this.worker?.terminate();
  }
}

// ---- running -----------------------------------------------------------------------------------

export function describeCase(c: Case): string {
  if (c.label) return c.label;
  const b = c.bytes!;
  const text = b.subarray(0, 120).toString('utf8');
  return `${b.length} bytes: ${JSON.stringify(text)}${b.length > 120 ? '…' : ''}`;
}

async function timed<T>(reader: string, run: () => T): Promise<T> {
  const start = performance.now();
  let out = run();
  if (out instanceof Promise) {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${reader}: did not settle within ${CASE_LIMIT_MS} ms`)), CASE_LIMIT_MS)));
    try {
      out = (await Promise.race([out, limit])) as T;
    } finally {
      clearTimeout(timer);
    }
  }
  const ms = performance.now() - start;
  assert.ok(ms <= CASE_LIMIT_MS, `${reader}: took ${Math.round(ms)} ms (limit ${CASE_LIMIT_MS} ms)`);
  return out;
}

export interface FileFuzz<C> {
  /** What the summary calls the file, e.g. "state.json". */
  title: string;
  ctx: C;
  /** The file the case's bytes go to. */
  file: string;
  /** The tree that must not change (the workspace). */
  root: string;
  readers: Reader<C>[];
  arbitrary: fc.Arbitrary<Buffer>;
  /** Run once each, before the generated cases: heavy files and regressions of bugs found. */
  fixed: (HeavyCase | Case)[];
  /** Before each case, after the bytes are placed (e.g. reset a cache). */
  beforeEach?: () => void;
}

/** Every reader on every case; prints one line per reader; throws the first failure, with the case. */
export async function fuzzFile<C>(spec: FileFuzz<C>): Promise<void> {
  const stats = new Map<string, Stats>(spec.readers.map((r) => [r.name, { cases: 0, failures: 0, outcomes: new Map() }]));
  const protoKeys = Object.getOwnPropertyNames(Object.prototype).join();
  const watchdog = new Watchdog();
  watchdog.start();

  const runCase = async (c: Case) => {
    place(spec.file, c);
    spec.beforeEach?.();
    const before = snapshot(spec.root);
    for (const reader of spec.readers) {
      const s = stats.get(reader.name)!;
      const t0 = performance.now();
      s.cases++;
      try {
        watchdog.begin(`${spec.title}: ${reader.name} on ${describeCase(c).slice(0, 300)}`);
        let out: unknown;
        try {
          out = await timed(reader.name, () => reader.read(spec.ctx));
        } catch (err) {
          if (err instanceof assert.AssertionError || !reader.mayThrow?.(err)) throw err;
          out = { thrown: err };
        } finally {
          watchdog.end();
        }
        reader.verify(out, spec.ctx);
        const outcome = outcomeOf(out);
        s.outcomes.set(outcome, (s.outcomes.get(outcome) ?? 0) + 1);
        if (PROFILE && performance.now() - t0 > 100) console.log(`        ${Math.round(performance.now() - t0)} ms: ${reader.name} on ${describeCase(c).slice(0, 100)}`);
        assert.deepEqual(snapshot(spec.root), before, `${reader.name}: changed no file`);
        assert.equal(Object.getOwnPropertyNames(Object.prototype).join(), protoKeys, `${reader.name}: left Object.prototype alone`);
        assert.equal(({} as Record<string, unknown>).polluted, undefined, `${reader.name}: left Object.prototype alone`);
      } catch (err) {
        s.failures++;
        const e = err instanceof Error ? err : new Error(String(err));
        if (!(e instanceof assert.AssertionError)) e.message = `${reader.name} threw ${e.constructor.name}: ${e.message}`;
        else e.message = `${reader.name}: ${e.message}`;
        throw e;
      }
    }
    assert.ok(sameBytes(spec.file, c), 'the bytes of the file are unchanged');
  };

  let failure: Error | undefined;
  try {
    for (const c of spec.fixed) {
      try {
        await runCase(c);
      } catch (err) {
        throw new Error(`on ${describeCase(c)}: ${(err as Error).message}`, { cause: err });
      }
    }
    const details = await fc.check(
      fc.asyncProperty(spec.arbitrary, (bytes) => runCase({ label: '', bytes })),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
    );
    if (details.failed) failure = new Error(`${fc.defaultReportMessage(details)}\n${(details.errorInstance as Error)?.message ?? details.errorInstance}`, { cause: details.errorInstance });
  } catch (err) {
    failure = err as Error;
  } finally {
    await watchdog.stop();
    for (const [name, s] of stats) {
      const outcomes = [...s.outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ');
      console.log(`      ${spec.title}: ${name}: ${s.cases} cases, ${s.failures} failures (${outcomes})`);
    }
  }
  if (failure) throw failure;
}

export function banner(): void {
  console.log(`      fuzz: seed ${FUZZ_SEED} (set FUZZ_SEED to change it), ${FUZZ_RUNS} generated cases a reader (FUZZ_RUNS)`);
}
