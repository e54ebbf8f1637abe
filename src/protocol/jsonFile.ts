/** Atomic JSON writes and validated reads: a reader never sees half a file, and a bad file is named. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as z from 'zod/mini';

/** A file that is missing, unreadable, not JSON or not of the expected shape. */
export class FileError extends Error {
  constructor(readonly file: string, readonly reason: string, readonly code: 'missing' | 'unreadable' | 'invalid') {
    super(`${file}: ${reason}`);
  }
}

export type ReadResult<T> = { ok: true; value: T } | { ok: false; error: FileError };

/** Larger files are refused unread: no file of ours is near this, and a huge one must not hang a reader. */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

export function describeZodError(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const where = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(top level)';
      return `${where}: ${issue.message}`;
    })
    .join('; ')
    .concat(error.issues.length > 5 ? `; and ${error.issues.length - 5} more` : '');
}

/** Parse text (already read) against a schema; never throws. */
export function parseJsonText<T>(file: string, text: string, schema: z.ZodMiniType<T>): ReadResult<T> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const detail = text.trim() === '' ? 'the file is empty' : `not valid JSON (${(err as Error).message})`;
    return { ok: false, error: new FileError(file, detail, 'invalid') };
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) return { ok: false, error: new FileError(file, describeZodError(parsed.error), 'invalid') };
  return { ok: true, value: parsed.data };
}

function readError(file: string, err: NodeJS.ErrnoException): ReadResult<never> {
  if (err.code === 'ENOENT') return { ok: false, error: new FileError(file, 'does not exist', 'missing') };
  if (err.code === 'EISDIR') return { ok: false, error: new FileError(file, 'is a directory, not a file', 'unreadable') };
  return { ok: false, error: new FileError(file, `cannot be read (${err.code ?? err.message})`, 'unreadable') };
}

export function readJsonSync<T>(file: string, schema: z.ZodMiniType<T>): ReadResult<T> {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_JSON_BYTES) return { ok: false, error: new FileError(file, `is too large (${size} bytes)`, 'invalid') };
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return readError(file, err as NodeJS.ErrnoException);
  }
  return parseJsonText(file, text, schema);
}

export async function readJson<T>(file: string, schema: z.ZodMiniType<T>): Promise<ReadResult<T>> {
  let text: string;
  try {
    const size = (await fs.promises.stat(file)).size;
    if (size > MAX_JSON_BYTES) return { ok: false, error: new FileError(file, `is too large (${size} bytes)`, 'invalid') };
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    return readError(file, err as NodeJS.ErrnoException);
  }
  return parseJsonText(file, text, schema);
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
}

/**
 * Write JSON atomically: temp file in the same folder, (fsync), rename over the target, (fsync the
 * folder). Returns the length of the text written.
 */
export function writeJsonAtomicSync(file: string, value: unknown, options: WriteOptions = {}): number {
  const text = JSON.stringify(value, null, 2) + '\n';
  const tmp = tempName(file);
  try {
    const fd = fs.openSync(tmp, 'w', 0o644);
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

/** The same, off the main thread: used where the write can overlap other work. */
export async function writeJsonAtomic(file: string, value: unknown, options: WriteOptions = {}): Promise<void> {
  const text = JSON.stringify(value, null, 2) + '\n';
  const tmp = tempName(file);
  try {
    const handle = await fs.promises.open(tmp, 'w', 0o644);
    try {
      await handle.writeFile(text);
      if (options.durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  if (options.durable) {
    const dir = await fs.promises.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
