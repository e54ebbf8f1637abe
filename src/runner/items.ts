/**
 * The items of a forEach step, resolved in the step's folder (the task's cwd, then the step's
 * own cwd): the list as written, the lines of a file, or the files matching a glob. Resolved once,
 * when the step first starts; the runner then freezes the list in the checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { globFiles, GlobError } from '../protocol/glob';
import { MAX_JSON_BYTES } from '../protocol/jsonFile';
import { isInside } from '../protocol/paths';
import type { ForEachSource } from '../protocol/schemas';

export class ItemsError extends Error {}

/** `root`: the workspace folder; an items file may be a symbolic link within it, or within `folder`. */
export function resolveItems(source: ForEachSource, folder: string, root = folder): string[] {
  let items: string[];
  if (source.items !== undefined) items = source.items.map(String);
  else if (source.file !== undefined) items = readItemsFile(path.resolve(folder, source.file), [folder, root]);
  else {
    try {
      items = globFiles(folder, source.glob!);
    } catch (err) {
      if (err instanceof GlobError) throw new ItemsError(`forEach.glob: ${err.message}`);
      throw err;
    }
  }
  const bad = items.findIndex((item) => item.includes('\0'));
  if (bad >= 0) throw new ItemsError(`item ${bad} contains a NUL character, which cannot be passed in the environment as ITEM`);
  return items;
}

/** One item a line; blank lines are skipped, a "\r" before the "\n" is dropped, the rest is kept as written. */
function readItemsFile(file: string, within: string[]): string[] {
  let text: string;
  try {
    // The definition cannot name a file elsewhere ("..", absolute: refused when read); a link must not either.
    const real = fs.realpathSync(file);
    if (!within.some((dir) => isInside(fs.realpathSync(dir), real))) throw new ItemsError(`forEach.file: ${file} is a symbolic link that leads out of the workspace folder (to ${real})`);
    const size = fs.statSync(file).size;
    if (size > MAX_JSON_BYTES) throw new ItemsError(`forEach.file: ${file} is too large (${size} bytes)`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ItemsError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ItemsError(`forEach.file: ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`);
  }
  return text
    .split('\n')
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
    .filter((line) => line.trim() !== '');
}
