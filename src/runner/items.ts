/**
 * The items of a forEach step, resolved in the step's folder (the task's cwd, then the step's
 * own cwd): the list as written, the lines of a file, or the files matching a glob. Resolved once,
 * when the step first starts; the runner then freezes the list in the checkpoint. No items is an
 * error, saying why there were none, unless the step allows it (`allowEmpty`).
 *
 * Symbolic links, to files and folders alike, are followed only when their target is inside the
 * workspace folder (or the step's folder, should that itself be a link elsewhere).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { globWalk, GlobError, type GlobResult } from '../protocol/glob';
import { MAX_JSON_BYTES } from '../protocol/jsonFile';
import { isInside } from '../protocol/paths';
import type { ForEachSource } from '../protocol/schemas';

export class ItemsError extends Error {}

const IF_FINE = 'add "allowEmpty": true to the step if no items is fine';
/** At most this many links not followed are named in a message. */
const MAX_LINKS_NAMED = 3;

/**
 * `root`: the workspace folder; links are followed to targets within it, or within `folder`.
 * `allowEmpty`: no items is a result, not an ItemsError.
 */
export function resolveItems(source: ForEachSource, folder: string, root = folder, allowEmpty = false): string[] {
  let items: string[];
  if (source.items !== undefined) {
    items = source.items.map(String);
    if (!items.length && !allowEmpty) throw new ItemsError(`forEach.items: the list is empty (add items, or ${IF_FINE})`);
  } else if (source.file !== undefined) {
    const file = path.resolve(folder, source.file);
    const text = readItemsFile(file, [folder, root]);
    items = itemLines(text);
    if (!items.length && !allowEmpty) throw new ItemsError(`forEach.file: ${file} ${text === '' ? 'is empty' : 'has only blank lines'}, so there are no items (write one a line, or ${IF_FINE})`);
  } else {
    let result: GlobResult;
    try {
      result = globWalk(folder, source.glob!, [folder, root]);
    } catch (err) {
      if (err instanceof GlobError) throw new ItemsError(`forEach.glob: ${err.message}`);
      throw err;
    }
    items = result.files;
    if (!items.length && !allowEmpty) throw new ItemsError(`forEach.glob: ${JSON.stringify(source.glob)} matched no file in ${folder} (${whyNoMatch(result)}; ${IF_FINE})`);
  }
  const bad = items.findIndex((item) => item.includes('\0'));
  if (bad >= 0) throw new ItemsError(`item ${bad} contains a NUL character, which cannot be passed in the environment as ITEM`);
  return items;
}

/** Why a glob matched nothing, in words: its folder is missing, a link on the way was not followed, or nothing matches. */
function whyNoMatch(result: GlobResult): string {
  const reasons: string[] = [];
  if (result.deadEnd) reasons.push(`its folder ${result.deadEnd.path} ${result.deadEnd.why === 'missing' ? 'does not exist' : 'is not a folder'}`);
  const links = result.notFollowed.slice(0, MAX_LINKS_NAMED).map((link) =>
    link.why === 'outside'
      ? `${link.path} is a symbolic link to ${link.target}, outside the workspace folder, so it was not followed`
      : `${link.path} is a symbolic link to ${JSON.stringify(link.target)}, which ${link.code === 'ENOENT' ? 'does not exist' : `cannot be reached (${link.code})`}`,
  );
  reasons.push(...links);
  const more = result.notFollowed.length - links.length;
  if (more > 0) reasons.push(`and ${more} more link${more > 1 ? 's' : ''} not followed`);
  if (!reasons.length) reasons.push('no file there matches it');
  return reasons.join('; ');
}

/** The text of an items file, refused if a link leads out of `within` or it is too large. */
function readItemsFile(file: string, within: string[]): string {
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
  return text;
}

/** One item a line; blank lines are skipped, a "\r" before the "\n" is dropped, the rest is kept as written. */
function itemLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
    .filter((line) => line.trim() !== '');
}
