/** Atomic JSON writes and validated reads: a reader never sees half a file, and a bad file is named. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as z from 'zod/mini';
import { controlSchema, globalControlSchema, lockSchema, stateSchema } from './schemas';

/** A file that is missing, unreadable, not JSON or not of the expected shape. */
export class FileError extends Error {
  constructor(readonly file: string, readonly reason: string, readonly code: 'missing' | 'unreadable' | 'invalid') {
    super(`${file}: ${reason}`);
  }
}

export type ReadResult<T> = { ok: true; value: T } | { ok: false; error: FileError };

/** Larger files are refused unread: no file of ours is near this, and a huge one must not hang a reader. */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;
/**
 * state.json, the control files and runner.lock hold a few hundred bytes, and are read often (the
 * runner polls, the extension refreshes): a larger one is damage, refused unread rather than parsed.
 */
export const MAX_SMALL_JSON_BYTES = 1024 * 1024;
const SMALL_FILES: ReadonlySet<unknown> = new Set([stateSchema, controlSchema, globalControlSchema, lockSchema]);
const sizeLimit = (schema: unknown) => (SMALL_FILES.has(schema) ? MAX_SMALL_JSON_BYTES : MAX_JSON_BYTES);
/**
 * Deeper nesting is refused before parsing: our files nest a few levels (a step's own state a few
 * more), JSON.parse takes seconds on 10 MB of "[", and a value this deep could not be written back
 * (JSON.stringify overflows the stack near 10,000 levels).
 */
export const MAX_JSON_DEPTH = 1000;
/** What a step writes (outputs, saved state) sits up to 5 levels down in the checkpoint, which must stay readable. */
export const MAX_STEP_JSON_DEPTH = MAX_JSON_DEPTH - 10;

/** Text from a file, fit to quote in a message: control characters escaped, cut at `max` characters. */
export function quotable(text: string, max = 200): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length <= max ? escaped : `${escaped.slice(0, max)}… (${escaped.length} characters)`;
}

export function describeZodError(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const where = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(top level)';
      // Both may quote the file (an unknown key): escaped and cut short.
      return `${quotable(where, 100)}: ${quotable(issue.message)}`;
    })
    .join('; ')
    .concat(error.issues.length > 5 ? `; and ${error.issues.length - 5} more` : '');
}

/** Does the text nest arrays and objects deeper than `limit`? One pass, strings skipped. */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

const tooDeep = (limit: number) => `nests arrays or objects more than ${limit} levels deep`;

/** JSON.parse for files that steps write (outputs, saved state): throws a SyntaxError, also for nesting too deep to keep. */
export function parseJson(text: string): unknown {
  if (nestsDeeperThan(text, MAX_STEP_JSON_DEPTH)) throw new SyntaxError(tooDeep(MAX_STEP_JSON_DEPTH));
  return JSON.parse(text);
}

/** Parse text (already read) against a schema; never throws. */
export function parseJsonText<T>(file: string, text: string, schema: z.ZodMiniType<T>): ReadResult<T> {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte order mark, as some Windows editors write
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return { ok: false, error: new FileError(file, tooDeep(MAX_JSON_DEPTH), 'invalid') };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const detail = text.trim() === '' ? 'the file is empty' : `not valid JSON (${jsonErrorDetail((err as Error).message, text)})`;
    return { ok: false, error: new FileError(file, detail, 'invalid') };
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) return { ok: false, error: new FileError(file, describeZodError(parsed.error), 'invalid') };
  return { ok: true, value: parsed.data };
}

/**
 * V8 quotes the text around a syntax error ('Unexpected token 'x', "{"API_TOKEN": x}" is not valid
 * JSON'), which may hold a secret and ends up in the CLI, the tree and the Problems panel: the
 * quote becomes the line it is on. A position becomes a line and column, which editors show.
 */
function jsonErrorDetail(message: string, text: string): string {
  const lineAt = (offset: number) => text.slice(0, offset).split('\n').length;
  const quoted = /^(.*?), (?:\.\.\.)?"(.*)"(?:\.\.\.)? is not valid JSON$/s.exec(message);
  if (quoted) {
    const at = quoted[2] ? text.indexOf(quoted[2]) : -1;
    return `${quotable(quoted[1])}${at < 0 ? '' : ` on line ${lineAt(at + Math.floor(quoted[2].length / 2))}`}`;
  }
  const position = /at position (\d+)/.exec(message);
  if (!position) return quotable(message);
  const offset = Number(position[1]);
  const column = offset - text.lastIndexOf('\n', offset - 1);
  return `${quotable(message)}: line ${lineAt(offset)}, column ${column}`;
}

function readError(file: string, err: NodeJS.ErrnoException): ReadResult<never> {
  if (err.code === 'ENOENT') return { ok: false, error: new FileError(file, 'does not exist', 'missing') };
  if (err.code === 'EISDIR') return { ok: false, error: new FileError(file, 'is a directory, not a file', 'unreadable') };
  return { ok: false, error: new FileError(file, `cannot be read (${err.code ?? err.message})`, 'unreadable') };
}

const tooLarge = (file: string, size: number, max: number): ReadResult<never> => ({ ok: false, error: new FileError(file, `is too large (${size} bytes; at most ${max})`, 'invalid') });

/** UTF-8 text of the bytes; a UTF-16 file (Windows PowerShell's `>` writes one) is named as such. */
function decode(file: string, bytes: Buffer): ReadResult<string> {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)))
    return { ok: false, error: new FileError(file, 'is UTF-16 text: save it as UTF-8', 'invalid') };
  return { ok: true, value: bytes.toString('utf8') };
}

/** A text file of ours, size-checked and decoded: JSON documents and the journal. */
export function readTextSync(file: string, maxBytes = MAX_JSON_BYTES): ReadResult<string> {
  let bytes: Buffer;
  try {
    const size = fs.statSync(file).size;
    if (size > maxBytes) return tooLarge(file, size, maxBytes);
    bytes = fs.readFileSync(file);
  } catch (err) {
    return readError(file, err as NodeJS.ErrnoException);
  }
  return decode(file, bytes);
}

export async function readText(file: string, maxBytes = MAX_JSON_BYTES): Promise<ReadResult<string>> {
  let bytes: Buffer;
  try {
    const size = (await fs.promises.stat(file)).size;
    if (size > maxBytes) return tooLarge(file, size, maxBytes);
    bytes = await fs.promises.readFile(file);
  } catch (err) {
    return readError(file, err as NodeJS.ErrnoException);
  }
  return decode(file, bytes);
}

export function readJsonSync<T>(file: string, schema: z.ZodMiniType<T>): ReadResult<T> {
  const text = readTextSync(file, sizeLimit(schema));
  return text.ok ? parseJsonText(file, text.value, schema) : text;
}

export async function readJson<T>(file: string, schema: z.ZodMiniType<T>): Promise<ReadResult<T>> {
  const text = await readText(file, sizeLimit(schema));
  return text.ok ? parseJsonText(file, text.value, schema) : text;
}

let tempCounter = 0;
const tempName = (file: string) => `${file}.${process.pid}.${++tempCounter}.tmp`;

export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface WriteOptions {
  /**
   * fsync the file before the rename, and the folder after it: survives a power loss, costs
   * milliseconds. Without it the write is still atomic for readers and survives a crash of the process.
   */
  durable?: boolean;
  /** The file's permissions (default 0644): 0600 for what only the owner may read. */
  mode?: number;
}

/**
 * Write JSON atomically: temp file in the same folder, (fsync), rename over the target, (fsync the
 * folder). Returns the length of the text written.
 */
export function writeJsonAtomicSync(file: string, value: unknown, options: WriteOptions = {}): number {
  const text = JSON.stringify(value, null, 2) + '\n';
  const tmp = tempName(file);
  try {
    const fd = fs.openSync(tmp, 'w', options.mode ?? 0o644);
    try {
      fs.writeFileSync(fd, text);
      if (options.durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  if (options.durable) fsyncDirSync(path.dirname(file));
  return text.length;
}
