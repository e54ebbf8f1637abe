/**
 * Glob patterns for `forEach.glob`, matched over a walk of one folder that never leaves it:
 * `*` and `?` match within a path segment, `**` (a whole segment) any number of segments,
 * `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` one character of a class, and `\` escapes the next
 * character. As in shells, wildcards do not match a name starting with "." unless the pattern
 * segment starts with a literal ".", and `**` does not enter such folders. A symbolic link, to a
 * file or to a folder, is followed only when its target is inside one of the `within` folders (by
 * default the folder searched); any other link is nothing to the walk, and is reported. The walk
 * enters each real folder once per pattern segment, so links that lead back (cycles) end.
 * Only files are matched, never folders. Results are `/`-separated paths, sorted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export class GlobError extends Error {}

type Segment = { kind: 'globstar' } | { kind: 'literal'; name: string } | { kind: 'pattern'; regex: RegExp };

export interface CompiledGlob {
  segments: Segment[];
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/-]/g;
const escapeRegex = (s: string) => s.replace(REGEX_SPECIAL, '\\$&');

/** The pattern compiled, or a GlobError that says what is wrong and where. */
export function compileGlob(pattern: string): CompiledGlob {
  if (pattern === '') throw new GlobError('the pattern is empty');
  if (pattern.startsWith('/')) throw new GlobError('the pattern must be relative (it starts with "/")');
  if (pattern.includes('\0')) throw new GlobError('the pattern contains a NUL character');
  const parts = pattern.split('/');
  const segments: Segment[] = [];
  for (const [i, part] of parts.entries()) {
    if (part === '.') continue; // "./data/*.txt" is "data/*.txt"
    if (part === '..') throw new GlobError('the pattern must not contain ".." (it would leave the folder)');
    if (part === '') throw new GlobError(i === parts.length - 1 ? 'the pattern ends with "/": it matches files, not folders' : 'the pattern has an empty segment ("//")');
    if (part === '**') {
      // "**/**" is the same as "**"
      if (segments[segments.length - 1]?.kind !== 'globstar') segments.push({ kind: 'globstar' });
      continue;
    }
    segments.push(compileSegment(part));
  }
  if (!segments.length) throw new GlobError('the pattern names the folder itself, not files in it');
  if (segments[segments.length - 1].kind === 'globstar') throw new GlobError('the pattern ends with "**": add a file pattern, e.g. "**/*"');
  return { segments };
}

function compileSegment(part: string): Segment {
  let source = '';
  let literal = '';
  let wild = false;
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c === '\\') {
      if (i + 1 >= part.length) throw new GlobError(`"${part}": "\\" at the end escapes nothing`);
      const next = part[++i];
      source += escapeRegex(next);
      literal += next;
    } else if (c === '*') {
      wild = true;
      // "a**b" inside a segment is a plain "*"
      if (!source.endsWith('[^/]*')) source += '[^/]*';
    } else if (c === '?') {
      wild = true;
      source += '[^/]';
    } else if (c === '[') {
      wild = true;
      const { regex, end } = compileClass(part, i);
      source += regex;
      i = end;
    } else {
      source += escapeRegex(c);
      literal += c;
    }
  }
  if (!wild) return { kind: 'literal', name: literal };
  // Hidden names only match a segment that starts with a literal ".".
  const hiddenOk = part.startsWith('.') || part.startsWith('\\.');
  return { kind: 'pattern', regex: new RegExp(`^${hiddenOk ? '' : '(?!\\.)'}${source}$`) };
}

/** A character class starting at `part[start]` ("["): its regex and the index of its "]". */
function compileClass(part: string, start: number): { regex: string; end: number } {
  let i = start + 1;
  let negate = false;
  if (part[i] === '!' || part[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < part.length; i++) {
    let c = part[i];
    if (c === ']' && !first) return { regex: `[${negate ? '^' : ''}${body}]`, end: i };
    first = false;
    if (c === '\\') {
      if (i + 1 >= part.length) break;
      c = part[++i];
    }
    if (part[i + 1] === '-' && part[i + 2] !== undefined && part[i + 2] !== ']') {
      let to = part[i + 2];
      let skip = 2;
      if (to === '\\' && part[i + 3] !== undefined) {
        to = part[i + 3];
        skip = 3;
      }
      if (to < c) throw new GlobError(`"${part}": the range "${c}-${to}" is reversed`);
      body += `${escapeRegex(c)}-${escapeRegex(to)}`;
      i += skip;
    } else {
      body += escapeRegex(c);
    }
  }
  throw new GlobError(`"${part}": "[" at position ${start + 1} is not closed by "]" (write "\\[" for a literal "[")`);
}

/** A symbolic link the walk met where the pattern needed it, and did not follow. */
export interface LinkNotFollowed {
  /** The link, relative to the folder searched. */
  path: string;
  /** "outside": its target is outside every `within` folder; "dangling": its target cannot be reached (`code`). */
  why: 'outside' | 'dangling';
  /** The real target ("outside"), or the link's text ("dangling"). */
  target: string;
  /** Why a dangling link's target cannot be reached: ENOENT (missing), ELOOP (links in a circle)… */
  code?: string;
}

export interface GlobResult {
  /** Sorted, `/`-separated, relative to the folder searched. */
  files: string[];
  /** The links not followed where the pattern matched them, in the order met. */
  notFollowed: LinkNotFollowed[];
  /** Where the pattern's leading literal folders ("data/raw" of "data/raw/*.txt") stop being a folder. */
  deadEnd?: { path: string; why: 'missing' | 'not a folder' };
}

/** The files under `root` that match `pattern`, as sorted `/`-separated relative paths. */
export function globFiles(root: string, pattern: string | CompiledGlob, within: string[] = [root]): string[] {
  return globWalk(root, pattern, within).files;
}

type Kind = { kind: 'file' } | { kind: 'dir'; real: string } | { kind: 'other' } | { kind: 'missing' };
const FILE: Kind = { kind: 'file' };
const OTHER: Kind = { kind: 'other' };
const MISSING: Kind = { kind: 'missing' };

/**
 * The files under `root` that match `pattern`, and why some were not reached. Links are followed
 * only to targets inside a `within` folder (real paths compared); `root` itself must be inside one.
 */
export function globWalk(root: string, pattern: string | CompiledGlob, within: string[] = [root]): GlobResult {
  const { segments } = typeof pattern === 'string' ? compileGlob(pattern) : pattern;
  let rootStat: fs.Stats | undefined;
  try {
    rootStat = fs.statSync(root);
  } catch {
    rootStat = undefined;
  }
  if (!rootStat?.isDirectory()) throw new GlobError(`${root}: the folder to search does not exist`);
  const realRoot = fs.realpathSync(root);
  const allowed = within.flatMap((dir) => {
    try {
      return [fs.realpathSync(dir)];
    } catch {
      return [];
    }
  });
  if (!allowed.some((dir) => inside(dir, realRoot))) throw new GlobError(`${root}: the folder to search is a symbolic link that leads out of ${within.join(' and ')} (to ${realRoot})`);

  const found = new Set<string>();
  const notFollowed = new Map<string, LinkNotFollowed>();
  let deadEnd: GlobResult['deadEnd'];
  // The segments before the first wildcard: where they lead, if not to a folder, explains an empty result.
  const firstWild = segments.findIndex((s) => s.kind !== 'literal');
  const leadingLiterals = firstWild < 0 ? segments.length : firstWild;
  // Each (real folder, segment) pair once: "**/a/**/b" could otherwise reach a folder many ways, and a link back up would loop.
  const visited = new Set<string>();
  const links = new Map<string, Kind>();

  /** What `name` in `dir` (real path `real`) is to the walk; `rel` is its path for reports. */
  const classify = (dir: string, real: string, name: string, rel: string, dirent?: fs.Dirent): Kind => {
    // Most entries are plain files and folders, known from the listing: no system call, no path built.
    if (dirent && !dirent.isSymbolicLink()) return dirent.isDirectory() ? { kind: 'dir', real: path.join(real, name) } : dirent.isFile() ? FILE : OTHER;
    const file = path.join(dir, name);
    if (!dirent) {
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(file);
      } catch {
        return MISSING;
      }
      if (!stat.isSymbolicLink()) return stat.isDirectory() ? { kind: 'dir', real: path.join(real, name) } : stat.isFile() ? FILE : OTHER;
    }
    const cached = links.get(file);
    if (cached) return cached;
    const kind = linkKind(file, rel);
    links.set(file, kind);
    return kind;
  };

  const linkKind = (file: string, rel: string): Kind => {
    let target: string;
    try {
      target = fs.realpathSync(file);
    } catch (err) {
      let text = '?';
      try {
        text = fs.readlinkSync(file);
      } catch {
        // gone meanwhile
      }
      if (!notFollowed.has(rel)) notFollowed.set(rel, { path: rel, why: 'dangling', target: text, code: (err as NodeJS.ErrnoException).code });
      return OTHER;
    }
    if (!allowed.some((dir) => inside(dir, target))) {
      if (!notFollowed.has(rel)) notFollowed.set(rel, { path: rel, why: 'outside', target });
      return OTHER;
    }
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      return MISSING;
    }
    return stat.isDirectory() ? { kind: 'dir', real: target } : stat.isFile() ? FILE : OTHER;
  };

  const walk = (rel: string, real: string, si: number): void => {
    const key = `${si}\0${real}`;
    if (visited.has(key)) return;
    visited.add(key);
    const segment = segments[si];
    const last = si === segments.length - 1;
    const dir = rel === '' ? root : path.join(root, rel);
    const join = (name: string) => (rel === '' ? name : `${rel}/${name}`);
    if (segment.kind === 'literal') {
      // A literal segment needs no listing: look the name up.
      const kind = classify(dir, real, segment.name, join(segment.name));
      if (last && kind.kind === 'file') found.add(join(segment.name));
      else if (!last && kind.kind === 'dir') walk(join(segment.name), kind.real, si + 1);
      else if (!last && si < leadingLiterals && !deadEnd && !notFollowed.has(join(segment.name)))
        deadEnd = { path: join(segment.name), why: kind.kind === 'missing' ? 'missing' : 'not a folder' };
      return;
    }
    const entries = listFolder(dir);
    if (segment.kind === 'globstar') {
      walk(rel, real, si + 1); // zero folders
      for (const entry of inWalkOrder(entries.filter((e) => !e.name.startsWith('.') && (e.isDirectory() || e.isSymbolicLink())))) {
        const kind = classify(dir, real, entry.name, join(entry.name), entry);
        if (kind.kind === 'dir') walk(join(entry.name), kind.real, si);
      }
      return;
    }
    const matched = entries.filter((e) => segment.regex.test(e.name));
    // The last segment only adds files (sorted at the end), in any order; before it only folders count.
    for (const entry of last ? matched : inWalkOrder(matched.filter((e) => e.isDirectory() || e.isSymbolicLink()))) {
      const name = join(entry.name);
      const kind = classify(dir, real, entry.name, name, entry);
      if (last && kind.kind === 'file') found.add(name);
      else if (!last && kind.kind === 'dir') walk(name, kind.real, si + 1);
    }
  };

  walk('', realRoot, 0);
  return { files: [...found].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), notFollowed: [...notFollowed.values()], ...(deadEnd ? { deadEnd } : {}) };
}

/**
 * A folder reached twice is walked once, by the path that reaches it first: so that this does not
 * depend on the order the file system lists entries in, folders come before links, each by name.
 */
function inWalkOrder(entries: fs.Dirent[]): fs.Dirent[] {
  const byName = (a: fs.Dirent, b: fs.Dirent) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...entries.filter((e) => !e.isSymbolicLink()).sort(byName), ...entries.filter((e) => e.isSymbolicLink()).sort(byName)];
}

/** `child` is `parent` or inside it (both real, absolute paths). */
function inside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function listFolder(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    // An unreadable folder would silently change what "every item" means: say so instead.
    throw new GlobError(`${dir}: cannot be listed (${(err as NodeJS.ErrnoException).code})`);
  }
}
