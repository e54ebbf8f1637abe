/**
 * `runner.lock`: at most one process owns a task's run folder. Taken by an exclusive create (a hard
 * link of a complete, fsynced temp file, so nobody ever reads a half-written lock). A stale lock
 * (its owner is gone, its pid now belongs to another process, or a power loss left it empty) is
 * taken over under a mutex named after that stale lock's text.
 *
 * Why this is race-free: no claimant deletes a file that another claimant may have just created.
 * - A mutex is never broken by deleting it: when generation g is held by a dead process, every
 *   claimant moves on to g+1, the same one, so exactly one live claimant holds the mutex.
 * - Its holder replaces the lock only if it is still byte for byte that stale lock, by renaming a
 *   temp over it: there is never a moment without a lock, so no exclusive create slips in between.
 * - A mutex file is deleted only by its own creator, or by the owner of a live lock (the sweep):
 *   the stale lock it protected is gone then, so whoever still holds it finds the lock changed.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileError, MAX_SMALL_JSON_BYTES, parseJsonText, readJson, readJsonSync, readTextSync, type ReadResult } from './jsonFile';
import { HOST, isSameProcessAlive, isSameProcessAliveAsync, ownProcessStartTime } from './processInfo';
import { lockSchema, type RunnerLock } from './schemas';

export type LockAttempt = { acquired: true; release: () => void } | { acquired: false; holder: RunnerLock };

export type LockHolderState = 'alive' | 'stale' | 'elsewhere';

/** Alive on this host, gone (stale), or on another host (cannot be checked; treated as alive). */
export function lockHolderState(lock: RunnerLock): LockHolderState {
  if (lock.host !== HOST) return 'elsewhere';
  return isSameProcessAlive(lock.pid, lock.startTime) ? 'alive' : 'stale';
}

/** The same without blocking, for the extension host. */
export async function lockHolderStateAsync(lock: RunnerLock): Promise<LockHolderState> {
  if (lock.host !== HOST) return 'elsewhere';
  return (await isSameProcessAliveAsync(lock.pid, lock.startTime)) ? 'alive' : 'stale';
}

function ownLock(purpose: RunnerLock['purpose']): RunnerLock {
  return { v: 1, pid: process.pid, startTime: ownProcessStartTime(), host: HOST, acquiredAt: new Date().toISOString(), purpose };
}

/** A new temp file next to `file` holding `content`, on disk before anyone can see it under another name. */
function durableTemp(file: string, content: string): string {
  const tmp = `${file}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    fs.writeFileSync(fd, content);
    // Else a power loss may keep the new name but not the content: an empty lock.
    fs.fsyncSync(fd);
    return tmp;
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  } finally {
    fs.closeSync(fd);
  }
}

/** Create `file` with `content` only if it does not exist; false when it does. */
function exclusiveCreate(file: string, content: string): boolean {
  const tmp = durableTemp(file, content);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * What is at a lock's (or a mutex's) name. `empty` (nothing but whitespace or NULs) is what a power
 * loss leaves when the name reached the disk and the content did not: its owner died with the machine.
 * The text is what a takeover compares; only valid UTF-8 gets that far, so equal text is equal bytes.
 */
type Found = { kind: 'none' } | { kind: 'lock'; text: string; lock: RunnerLock } | { kind: 'empty'; text: string } | { kind: 'damaged'; error: FileError };

function look(file: string): Found {
  const read = readTextSync(file, MAX_SMALL_JSON_BYTES);
  if (!read.ok) return read.error.code === 'missing' ? { kind: 'none' } : { kind: 'damaged', error: read.error };
  if (/^[\s\0]*$/.test(read.value)) return { kind: 'empty', text: read.value };
  const parsed = parseJsonText(file, read.value, lockSchema);
  return parsed.ok ? { kind: 'lock', text: read.value, lock: parsed.value } : { kind: 'damaged', error: parsed.error };
}

function sameLock(a: RunnerLock, b: RunnerLock): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.host === b.host && a.acquiredAt === b.acquiredAt;
}

const lockOrNone = (read: ReadResult<RunnerLock>) => (read.ok ? read.value : undefined);

/** The lock, or undefined when there is none or it is damaged. */
export function readRunnerLock(file: string): RunnerLock | undefined {
  return lockOrNone(readJsonSync(file, lockSchema));
}

export async function readRunnerLockAsync(file: string): Promise<RunnerLock | undefined> {
  return lockOrNone(await readJson(file, lockSchema));
}

export function acquireLock(file: string, purpose: RunnerLock['purpose']): LockAttempt {
  const mine = ownLock(purpose);
  const text = JSON.stringify(mine, null, 2) + '\n';
  const release = () => {
    const current = look(file);
    if (current.kind === 'lock' && sameLock(current.lock, mine)) fs.rmSync(file, { force: true });
  };
  const acquired = (): LockAttempt => {
    sweepMutexes(file);
    return { acquired: true, release };
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (exclusiveCreate(file, text)) return acquired();
    const existing = look(file);
    if (existing.kind === 'none') continue; // released meanwhile: try again
    if (existing.kind === 'damaged') {
      // Only a hand edit or a damaged disk makes this: refuse rather than guess.
      throw new FileError(file, `${existing.error.reason}; delete it if no runner is running this task`, 'invalid');
    }
    if (existing.kind === 'lock' && lockHolderState(existing.lock) !== 'stale') return { acquired: false, holder: existing.lock };
    const outcome = takeOver(file, existing.text, text);
    if (outcome === 'taken') return acquired();
    // A live claimant is taking this stale lock over: it is as good as held by that process.
    if (outcome !== 'changed') return { acquired: false, holder: outcome };
  }
  const holder = look(file);
  if (holder.kind === 'lock') return { acquired: false, holder: holder.lock };
  throw new Error(`${file}: could not take the lock; too much contention`);
}

/** `<lock>.takeover.<hash of the stale lock's text>.<generation>`, and the one mutex of earlier versions. */
const MUTEX = /^\.takeover(\.[0-9a-f]{16}\.\d+)?$/;

/**
 * Replace the stale lock whose text is `stale` by ours. 'changed': the lock is no longer that one
 * (look again); else the live claimant that holds the mutex for it.
 */
function takeOver(file: string, stale: string, text: string): 'taken' | 'changed' | RunnerLock {
  const mutexes = `${file}.takeover.${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
  for (let generation = 0; ; generation++) {
    const mutex = `${mutexes}.${generation}`;
    if (exclusiveCreate(mutex, text)) return replaceIfStill(file, stale, text, mutex);
    const holder = look(mutex);
    if (holder.kind === 'none') return 'changed'; // swept by the new owner
    if (holder.kind === 'lock' && lockHolderState(holder.lock) !== 'stale') return holder.lock;
    // Held by a process that died (empty or damaged: by a power loss): every claimant goes on to the next.
  }
}

function replaceIfStill(file: string, stale: string, text: string, mutex: string): 'taken' | 'changed' {
  try {
    const current = readTextSync(file, MAX_SMALL_JSON_BYTES);
    if (!current.ok || current.value !== stale) return 'changed';
    const tmp = durableTemp(file, text);
    try {
      fs.renameSync(tmp, file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    return 'taken';
  } finally {
    fs.rmSync(mutex, { force: true }); // ours
  }
}

/**
 * Remove every takeover mutex, as the owner of a live lock: each protects a stale lock that is no
 * longer the lock, and a claimant still holding one finds that out and gives up. Tidying only.
 */
function sweepMutexes(file: string): void {
  const dir = path.dirname(file);
  const name = path.basename(file);
  try {
    for (const entry of fs.readdirSync(dir))
      if (entry.startsWith(name) && MUTEX.test(entry.slice(name.length))) fs.rmSync(path.join(dir, entry), { force: true });
  } catch {
    // A mutex left behind costs a file, never a takeover.
  }
}
