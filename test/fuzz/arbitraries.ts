/**
 * Generators of damaged files for the fuzz tests: every file the tools read, valid, then cut,
 * retyped, flipped, re-encoded, nested 100,000 deep, or replaced by noise. Shared by the reader
 * fuzzing (in process) and the process-level tests (runner, CLI).
 */
import * as fc from 'fast-check';
import { definitionHash, definitionSchema, publicDefinition } from '../../src/protocol/schemas';

/** Cases per reader: 300 in `npm test`, 10,000 in `npm run fuzz`. */
export const FUZZ_RUNS = positive(process.env.FUZZ_RUNS, 300);
/** Fixed by default so a failure replays; any other seed explores other cases. */
export const FUZZ_SEED = Number.isSafeInteger(Number(process.env.FUZZ_SEED)) && process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_240_611;
/** Process-level cases (a runner or a CLI process each): a few dozen, more under `npm run fuzz`. */
export const PROCESS_RUNS = positive(process.env.FUZZ_PROCESS_RUNS, FUZZ_RUNS >= 10_000 ? 96 : 24);

function positive(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw && Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

// ---- valid files, to damage ---------------------------------------------------------------------

const T0 = '2024-06-11T08:00:00.000Z';
const T1 = '2024-06-11T08:05:00.000Z';

export const validDefinitions: object[] = [
  { steps: [{ id: 'a', run: 'true' }] },
  {
    $schema: '../dist/task.schema.json',
    name: 'Nightly embeddings',
    description: 'Fetch, embed, publish',
    cwd: '.',
    env: { BATCH: '64', API_TOKEN: 'x' },
    steps: [
      { id: 'fetch', name: 'Fetch', run: 'node fetch.mjs', cwd: 'scripts', env: { N: '1' }, timeout: '10m', retries: 2, retryDelay: 1.5 },
      { id: 'embed', run: 'echo "$ITEM"', forEach: { glob: 'data/**/*.txt' }, concurrency: 4, continueOnError: true },
      { id: 'list', run: 'true', forEach: { items: ['a', 1, 'c'] } },
      { id: 'lines', run: 'true', forEach: { file: 'items.txt' }, timeout: 30 },
    ],
    pauseOn: { exitCodes: [75, 3], outputMatches: ['rate limit', '/429|quota/i'], autoResume: { after: '5m', backoff: 2, maxAttempts: 5 } },
  },
];

export const validStates: object[] = [
  {
    v: 1, taskId: 't', runId: 'run-1', status: 'running', pid: 4_194_301, host: 'elsewhere.example', startedAt: T0, updatedAt: T1, heartbeatAt: T1,
    stepsTotal: 4, stepsDone: 1, appliedSeq: 2, appliedGlobalSeq: 0,
    currentStep: {
      id: 'embed', index: 1, attempt: 2, startedAt: T0, pid: 4_194_302, pidStartTime: 'proc:1', progress: { done: 3, total: 10 },
      items: { done: 3, total: 10, failed: 1, running: 2 }, processes: [{ pid: 4_194_303, pidStartTime: 'proc:2', item: 4 }],
    },
  },
  {
    v: 1, taskId: 't', runId: 'run-1', status: 'paused', pid: 4_194_301, host: 'elsewhere.example', startedAt: T0, updatedAt: T1, heartbeatAt: T1,
    stepsTotal: 4, stepsDone: 2, currentStep: null, appliedSeq: 3, appliedGlobalSeq: 1, pausedBy: 'failure', reason: 'rate limit',
    resumeAt: T1, autoResume: { attempt: 1, maxAttempts: 5 }, endedAt: T1, extra: 'a newer writer',
  },
];

export const validControls: object[] = [{ v: 1, seq: 3, desired: 'paused', requestedAt: T0, requestedBy: 'cli' }];
/** Valid control files that keep a task running: what the runner test may write while it runs. */
export const runningControls: object[] = [{ v: 1, seq: 1, desired: 'running', requestedAt: T0, requestedBy: 'fuzz' }];
export const validGlobalControls: object[] = [{ v: 1, seq: 7, desired: 'paused', requestedAt: T0, requestedBy: 'vscode' }];

export const validLocks: object[] = [
  { v: 1, pid: 4_194_301, startTime: 'proc:123', host: 'elsewhere.example', acquiredAt: T0, purpose: 'run' },
  { v: 1, pid: 4_194_301, startTime: 'proc:123', host: 'HOST', acquiredAt: T0, purpose: 'reset' },
];

const completed = (id: string, index: number) => ({ id, index, exitCode: 0, attempts: 1, startedAt: T0, endedAt: T1, durationMs: 1200, outputs: { rows: 3, path: '/x' } });

export const validCheckpoints: object[] = [
  { v: 1, taskId: 't', runId: 'run-1', reason: 'started', writtenAt: T0, definitionHash: 'h', definition: {}, journalSeq: 0, completed: [], unfinished: null },
  {
    // Written for validDefinitions[1]: a resume of it goes on.
    v: 1, taskId: 't', runId: 'run-1', reason: 'paused', writtenAt: T1, definitionHash: definitionHash(definitionSchema.parse(validDefinitions[1])),
    definition: publicDefinition(definitionSchema.parse(validDefinitions[1])), journalSeq: 2,
    completed: [completed('fetch', 0)],
    unfinished: { id: 'embed', index: 1, attempts: 1, startedAt: T0, endedAt: T1, outcome: 'paused', exitCode: 75, signal: null, error: 'rate limit', state: { page: 3 }, stateText: '' },
    failurePause: { reason: 'rate limit', at: T1, autoResumes: 1, resumeAt: T1 },
    batch: {
      stepId: 'embed', source: { glob: 'data/**/*.txt' }, resolvedAt: T0, total: 4, done: '0,2', failed: [{ index: 1, item: 'b', attempts: 2, error: 'exit code 1', endedAt: T1 }],
      states: { '3': { state: { offset: 10 } } }, items: ['a', 'b', 'c', 'd'],
    },
  },
];

/** Journal entries that follow validCheckpoints[1] (journalSeq 2). */
export const validJournalEntries: object[] = [
  { seq: 3, type: 'item-done', stepId: 'embed', index: 3 },
  { seq: 4, type: 'item-failed', stepId: 'embed', index: 1, attempts: 3, error: 'exit code 1', endedAt: T1 },
  { seq: 5, type: 'item-done', stepId: 'embed', index: 1 },
  { seq: 6, type: 'step-completed', step: completed('embed', 1) },
  { seq: 7, type: 'step-completed', step: completed('list', 2) },
];
export const validJournal = validJournalEntries.map((e) => JSON.stringify(e) + '\n').join('');

export const validItemsFile = 'first item\r\nsecond item\n\n  third  \n';

// ---- damage ------------------------------------------------------------------------------------

type Key = string | number;

/** Every place in a JSON value, the root included. */
export function jsonPaths(value: unknown, at: Key[] = [], out: Key[][] = []): Key[][] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => jsonPaths(v, [...at, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) jsonPaths(v, [...at, k], out);
  return out;
}

function getAt(doc: unknown, at: Key[]): unknown {
  return at.reduce<any>((v, k) => v?.[k], doc);
}

/** A copy of doc with the value at `at` replaced (or removed, with `remove`). */
export function setAt(doc: unknown, at: Key[], value: unknown, remove = false): unknown {
  if (!at.length) return value;
  const copy = structuredClone(doc) as any;
  const parent = getAt(copy, at.slice(0, -1)) as any;
  const key = at[at.length - 1];
  if (remove) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else parent[key] = value;
  return copy;
}

const jsonKind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Numbers JSON can spell but a double cannot hold: written as text in place of a marker. */
const RAW_NUMBERS = ['1e400', '-1e400', '1e-400', '-0', '123456789012345678901234567890', '0.1e99999', '9007199254740993', '-9007199254740993', '4.000000000000000000001'];
const RAW = '\u0000raw:';
const rawToken = (text: string) => `${RAW}${text}`;
/** JSON text of a value in which raw-number markers are spelled as the raw text. */
export function stringifyWithRaw(value: unknown, indent?: number): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v) => (typeof v === 'string' && v.startsWith(RAW) ? `${RAW}${raws.push(v.slice(RAW.length)) - 1}` : v), indent);
  return text.replace(/"\\u0000raw:(\d+)"/g, (_, i: string) => raws[Number(i)]);
}

const weirdKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'v', 'seq', 'a\u0000b', '\u001b[31mred', '\ud800', 'é', 'x'.repeat(300));

/** Any JSON value of each kind, edge values weighted up. */
const valueOfKind: Record<string, fc.Arbitrary<unknown>> = {
  null: fc.constant(null),
  boolean: fc.boolean(),
  number: fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(-1, 0, 0.5, 1.5, 2 ** 31, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER + 2, 1e308, -1e308, 5e-324),
    fc.constantFrom(...RAW_NUMBERS).map(rawToken),
  ),
  string: fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom('', ' ', 'running', 'paused', 'PAUSED', '../../etc/passwd', '2024-13-45T99:99:99Z', 'NaN', '\u0000', '\u001b[2J', '\ud800\udc00', '\udfff', '"}]', '0-99999999999'),
    fc.nat({ max: 200_000 }).map((n) => 'x'.repeat(n)),
  ),
  array: fc.oneof(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }), fc.nat({ max: 50_000 }).map((n) => new Array(n).fill(0))),
  object: fc.oneof(fc.dictionary(fc.oneof(fc.string(), weirdKeys), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }), fc.constant({})),
};
const KINDS = Object.keys(valueOfKind);
const anyValue = fc.oneof(...KINDS.map((k) => valueOfKind[k]));

/** Deeply nested JSON text: arrays or objects, closed or not, up to 100,000 levels. */
export const deepText = fc
  .record({ depth: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 2000, max: 100_000 }), fc.constant(100_000)), kind: fc.constantFrom('[', '{"a":', '[{"a":'), closed: fc.boolean() })
  .map(({ depth, kind, closed }) => nested(depth, kind, closed));

export function nested(depth: number, open: '[' | '{"a":' | '[{"a":' | string, closed: boolean): string {
  if (!closed) return open.repeat(depth);
  const close = open === '[' ? ']' : open === '{"a":' ? '}' : '}]';
  return open.repeat(depth) + (open === '[' ? '' : '0') + close.repeat(depth);
}

/** Structural damage to a valid document: the result is still JSON text (or nearly). */
function docDamage(docs: object[]): fc.Arbitrary<string> {
  const doc = fc.constantFrom(...docs);
  const place = (d: unknown) => fc.constantFrom(...jsonPaths(d));
  return fc.oneof(
    // valid, as written by a tool or by hand
    fc.tuple(doc, fc.constantFrom(0, 2, 4)).map(([d, indent]) => JSON.stringify(d, null, indent)),
    // a field replaced by a value of another JSON type
    doc.chain((d) =>
      fc.tuple(place(d), fc.nat(), fc.record(valueOfKind)).map(([at, pick, values]) => {
        const kinds = KINDS.filter((k) => k !== jsonKind(getAt(d, at)));
        return stringifyWithRaw(setAt(d, at, (values as any)[kinds[pick % kinds.length]]));
      }),
    ),
    // a field given another value of its type: often still valid, with content chosen to hurt
    doc.chain((d) => fc.tuple(place(d), fc.record(valueOfKind)).map(([at, values]) => stringifyWithRaw(setAt(d, at, (values as any)[jsonKind(getAt(d, at))])))),
    // a field given any value, its own type included (a negative count, an unknown enum value)
    doc.chain((d) => fc.tuple(place(d), anyValue).map(([at, v]) => stringifyWithRaw(setAt(d, at, v)))),
    // a field removed
    doc.chain((d) => fc.constantFrom(...jsonPaths(d).filter((p) => p.length)).map((at) => JSON.stringify(setAt(d, at, undefined, true)))),
    // an extra field, its name chosen to hurt (prototype keys, control characters)
    doc.chain((d) =>
      fc.tuple(fc.constantFrom(...jsonPaths(d).filter((p) => jsonKind(getAt(d, p)) === 'object')), weirdKeys, anyValue).map(([at, key, v]) => {
        const text = stringifyWithRaw(at.length ? getAt(d, at) : d);
        const withKey = `{${JSON.stringify(key)}:${stringifyWithRaw(v)}${text === '{}' ? '' : ','}${text.slice(1)}`;
        return at.length ? stringifyWithRaw(setAt(d, at, rawToken(withKey))) : withKey;
      }),
    ),
    // a field nested deep
    doc.chain((d) => fc.tuple(place(d), deepText).map(([at, deep]) => stringifyWithRaw(setAt(d, at, rawToken(deep))))),
    // two documents, or one with something after it
    fc.tuple(doc, doc, fc.constantFrom('', '\n', ' garbage', ',', '}')).map(([a, b, sep]) => JSON.stringify(a) + sep + JSON.stringify(b)),
    // random JSON
    fc.jsonValue().map((v) => JSON.stringify(v)),
    deepText,
  );
}

const INVALID_UTF8: number[][] = [[0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98]];

/** Damage to the bytes of a text, valid or already damaged. */
function byteDamage(text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> {
  const bytes = text.map((t) => Buffer.from(t, 'utf8'));
  const edits = <T>(arb: fc.Arbitrary<T>) => fc.array(fc.tuple(fc.nat(), arb), { minLength: 1, maxLength: 8 });
  const insert = (buf: Buffer, at: [number, number[]][]) => {
    let out = buf;
    for (const [pos, ins] of at) {
      const p = out.length ? pos % (out.length + 1) : 0;
      out = Buffer.concat([out.subarray(0, p), Buffer.from(ins), out.subarray(p)]);
    }
    return out;
  };
  return fc.oneof(
    { weight: 3, arbitrary: bytes },
    // cut short, as by a crash or a full disk
    { weight: 3, arbitrary: fc.tuple(bytes, fc.nat()).map(([b, n]) => b.subarray(0, b.length ? n % b.length : 0)) },
    // bytes flipped, dropped or added
    {
      weight: 2,
      arbitrary: fc.tuple(bytes, edits(fc.tuple(fc.constantFrom('flip', 'drop', 'add'), fc.integer({ min: 0, max: 255 })))).map(([b, ed]) => {
        const out = [...b];
        for (const [pos, [op, byte]] of ed) {
          const p = out.length ? pos % out.length : 0;
          if (op === 'add' || !out.length) out.splice(p, 0, byte);
          else if (op === 'drop') out.splice(p, 1);
          else out[p] ^= byte || 1;
        }
        return Buffer.from(out);
      }),
    },
    // not UTF-8
    { weight: 2, arbitrary: fc.tuple(bytes, edits(fc.constantFrom(...INVALID_UTF8))).map(([b, ed]) => insert(b, ed)) },
    // NUL bytes inside, or a file of zeros (what some file systems leave after a crash)
    { weight: 1, arbitrary: fc.tuple(bytes, edits(fc.constant<number[]>([0]))).map(([b, ed]) => insert(b, ed)) },
    { weight: 1, arbitrary: bytes.map((b) => Buffer.alloc(b.length)) },
    // a byte order mark: UTF-8's, or the whole text in UTF-16 (Windows PowerShell's `>`)
    { weight: 1, arbitrary: bytes.map((b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b])) },
    { weight: 1, arbitrary: fc.tuple(text, fc.boolean()).map(([t, le]) => utf16(t, le)) },
    // line endings of another system, and white space
    { weight: 1, arbitrary: fc.tuple(text, fc.constantFrom('\r\n', '\r', '\n\n', '\t', '\u00a0', '\u2028')).map(([t, nl]) => Buffer.from(t.replace(/\n/g, nl), 'utf8')) },
    // noise
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '\n', '\r\n', 'null', 'true', '0', '""', '[]', '{}', '{', '}', '[', '"', '\\', '/*', '\ufeff').map((t) => Buffer.from(t, 'utf8')) },
  );
}

function utf16(text: string, littleEndian: boolean): Buffer {
  const le = Buffer.from('\ufeff' + text, 'utf16le');
  if (littleEndian) return le;
  for (let i = 0; i + 1 < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1], le[i]];
  return le;
}

/** The bytes of a damaged JSON file whose valid forms are `docs`. */
export function damagedJson(docs: object[]): fc.Arbitrary<Buffer> {
  return byteDamage(docDamage(docs));
}

/** A damaged journal: valid lines with some lines damaged, reordered, dropped, or torn at the end. */
export function damagedJournal(entries: object[]): fc.Arbitrary<Buffer> {
  const line = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...entries).map((e) => JSON.stringify(e)) }, { weight: 1, arbitrary: docDamage(entries) });
  const text = fc
    .tuple(fc.array(line, { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
    .map(([lines, nl, endsWithNewline]) => lines.join(nl) + (endsWithNewline && lines.length ? nl : ''));
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(Buffer.from(validJournal)) },
    { weight: 4, arbitrary: byteDamage(text) },
    { weight: 1, arbitrary: fc.shuffledSubarray(entries).map((es) => Buffer.from(es.map((e) => JSON.stringify(e) + '\n').join(''))) },
  );
}

/** A damaged items file (forEach.file): any text, lines with NUL, invalid UTF-8, CRLF. */
export function damagedItems(): fc.Arbitrary<Buffer> {
  return byteDamage(fc.oneof(fc.constant(validItemsFile), fc.array(fc.string({ unit: 'binary' }), { maxLength: 20 }).map((ls) => ls.join('\n'))));
}

// ---- heavy cases: run once for every reader ----------------------------------------------------

export type HeavyCase = { label: string; bytes?: Buffer; directory?: true; missing?: true; sparse?: number };

const MB10 = 10 * 1024 * 1024;

/** Deterministic noise (an LCG): the same 10 MB at every run. */
let noiseCache: Buffer | undefined;
function noise(length: number, seed = 1): Buffer {
  if (noiseCache?.length === length) return noiseCache;
  const out = (noiseCache = Buffer.alloc(length));
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * Files no generator makes often: a directory, nothing, empty, 10 MB of several kinds, 100,000
 * levels of nesting, a sparse file over the size limit. `valid` is a valid document of the file.
 */
export function heavyCases(valid: object): HeavyCase[] {
  const text = JSON.stringify(valid, null, 2);
  const paths = jsonPaths(valid);
  const firstOf = (kind: string) => paths.find((p) => p.length && jsonKind(getAt(valid, p)) === kind);
  const stringAt = firstOf('string');
  const arrayAt = paths.find((p) => p.length && Array.isArray(getAt(valid, p)) && (getAt(valid, p) as unknown[]).length);
  const cases: HeavyCase[] = [
    { label: 'a directory', directory: true },
    { label: 'no file', missing: true },
    { label: 'an empty file', bytes: Buffer.alloc(0) },
    { label: 'a UTF-8 byte order mark, then the valid file', bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]) },
    { label: 'the valid file in UTF-16 LE with its byte order mark', bytes: utf16(text, true) },
    { label: '10 MB of noise', bytes: noise(MB10) },
    { label: '10 MB of NUL bytes', bytes: Buffer.alloc(MB10) },
    { label: '10 MB of "["', bytes: Buffer.alloc(MB10, '[') },
    { label: '10 MB of "{"a":', bytes: Buffer.from('{"a":'.repeat(MB10 / 5)) },
    { label: '10 MB of white space, then the valid file', bytes: Buffer.concat([Buffer.alloc(MB10, ' '), Buffer.from(text)]) },
    { label: 'a number of 10 MB of digits', bytes: Buffer.from(`[${'9'.repeat(MB10)}]`) },
    { label: '100,000 levels of [ ]', bytes: Buffer.from(nested(100_000, '[', true)) },
    { label: '100,000 levels of [', bytes: Buffer.from(nested(100_000, '[', false)) },
    { label: '100,000 levels of {"a": }', bytes: Buffer.from(nested(100_000, '{"a":', true)) },
    { label: 'a sparse file of 65 MB (over the size limit)', sparse: 65 * 1024 * 1024 },
  ];
  if (stringAt) cases.push({ label: `the valid file with a string of 10 MB at ${stringAt.join('.')}`, bytes: Buffer.from(JSON.stringify(setAt(valid, stringAt, 'x'.repeat(MB10)))) });
  if (stringAt) cases.push({ label: `the valid file with 100,000 levels of [ ] at ${stringAt.join('.')}`, bytes: Buffer.from(stringifyWithRaw(setAt(valid, stringAt, rawToken(nested(100_000, '[', true))))) });
  for (const at of paths.filter((p) => p.length && jsonKind(getAt(valid, p)) === 'object' && p.length <= 2).slice(0, 4))
    cases.push({ label: `the valid file with 100,000 levels of [ ] inside ${at.join('.')}`, bytes: Buffer.from(stringifyWithRaw(setAt(valid, [...at, 'deep'], rawToken(nested(100_000, '[', true))))) });
  if (arrayAt) {
    // The longest plausible file: its first list grown to 10 MB with copies of its first element.
    const element = JSON.stringify((getAt(valid, arrayAt) as unknown[])[0]);
    const copies = Math.ceil(MB10 / (element.length + 1));
    const grown = stringifyWithRaw(setAt(valid, arrayAt, rawToken(`[${new Array(copies).fill(element).join(',')}]`)));
    cases.push({ label: `the valid file with ${arrayAt.join('.')} grown to 10 MB (${copies} elements)`, bytes: Buffer.from(grown) });
  }
  return cases;
}
