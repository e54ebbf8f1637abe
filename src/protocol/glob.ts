/**
 * Glob patterns for `forEach.glob`, matched over a walk of one folder that never leaves it:
 * `*` and `?` match within a path segment, `**` (a whole segment) any number of segments,
 * `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` one character of a class, and `\` escapes the next
 * character. As in shells, wildcards do not match a name starting with "." unless the pattern
 * segment starts with a literal ".", and `**` does not enter such folders. The walk does not follow
 * symbolic links to folders (so it cannot leave the folder); a symbolic link to a file is a file.
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

/** The files under `root` that match `pattern`, as sorted `/`-separated relative paths. */
export function globFiles(root: string, pattern: string | CompiledGlob): string[] {
  const { segments } = typeof pattern === 'string' ? compileGlob(pattern) : pattern;
  const found = new Set<string>();
  // Each (folder, segment) pair once: "**/a/**/b" could otherwise reach a folder many ways.
  const visited = new Set<string>();

  const walk = (rel: string, si: number): void => {
    const key = `${si}\0${rel}`;
    if (visited.has(key)) return;
    visited.add(key);
    const segment = segments[si];
    const last = si === segments.length - 1;
    const dir = rel === '' ? root : path.join(root, rel);
    const join = (name: string) => (rel === '' ? name : `${rel}/${name}`);
    if (segment.kind === 'literal') {
      // A literal segment needs no listing: look the name up.
      const kind = entryKind(path.join(dir, segment.name));
      if (last && kind === 'file') found.add(join(segment.name));
      else if (!last && kind === 'dir') walk(join(segment.name), si + 1);
      return;
    }
    const entries = listFolder(dir);
    if (segment.kind === 'globstar') {
      walk(rel, si + 1); // zero folders
      for (const entry of entries) if (!entry.name.startsWith('.') && entry.isDirectory()) walk(join(entry.name), si);
      return;
    }
    for (const entry of entries) {
      if (!segment.regex.test(entry.name)) continue;
      const kind = entry.isSymbolicLink() ? entryKind(path.join(dir, entry.name)) : entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : 'other';
      if (last && kind === 'file') found.add(join(entry.name));
      else if (!last && kind === 'dir' && !entry.isSymbolicLink()) walk(join(entry.name), si + 1);
    }
  };

  if (entryKind(root) !== 'dir') throw new GlobError(`${root}: the folder to search does not exist`);
  walk('', 0);
  return [...found].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A file (a symbolic link to one counts), a real folder (links to folders are not followed), or other. */
function entryKind(file: string): 'file' | 'dir' | 'other' | 'missing' {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
    if (stat.isSymbolicLink()) return fs.statSync(file).isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
  return stat.isFile() ? 'file' : stat.isDirectory() ? 'dir' : 'other';
}

function listFolder(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    // An unreadable folder would silently change what "every item" means: say so instead.
    throw new GlobError(`${dir}: cannot be listed (${(err as NodeJS.ErrnoException).code})`);
  }
}
