/**
 * A file the tools write could not be written. Full disks, quotas and read-only mounts are the
 * usual causes: the runner pauses the task on one (resume once the disk has room or is writable
 * again), the CLI says which file and why. Neither prints a stack trace for them.
 */

/** The errors of the disk rather than of the program: they go away when the disk is fixed. */
const DISK_CODES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
};
const OTHER_CODES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a part of its path is not a folder',
  ENOENT: 'its folder does not exist',
  ELOOP: 'it is a symbolic link',
};

/** What a person does about it, before resuming. */
const FIXES: Record<string, string> = { ENOSPC: 'Free some space', EDQUOT: 'Free some space', EROFS: 'Make it writable again' };

export class WriteError extends Error {
  constructor(readonly file: string, readonly code: string) {
    super(`${DISK_CODES[code] ?? OTHER_CODES[code] ?? code} writing ${file}`);
  }

  /** "Free some space", "Make it writable again" or "Fix it". */
  get fix(): string {
    return FIXES[this.code] ?? 'Fix it';
  }
}

/**
 * `err` as a WriteError naming `file` (by default the file the error names; a temp file of an
 * atomic write is named after its target), or undefined when it is not an error of the disk.
 * With `anyCode`, every file-system error counts: for callers that know they were writing.
 */
export function asWriteError(err: unknown, file?: string, anyCode = false): WriteError | undefined {
  if (err instanceof WriteError) return err;
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | undefined;
  if (typeof e?.code !== 'string') return undefined;
  if (!(e.code in DISK_CODES) && !(anyCode && e.syscall !== undefined)) return undefined;
  return new WriteError(file ?? atomicTarget(e.dest ?? e.path ?? 'a file'), e.code);
}

/** "state.json.123.4.tmp" (jsonFile) and "runner.lock.123.456.x1y.tmp" (lock) were written for the file before. */
const atomicTarget = (file: string) => file.replace(/\.\d+\.\d+(\.[a-z0-9]+)?\.tmp$/, '');
