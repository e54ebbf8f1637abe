/**
 * `runner.lock`: at most one process owns a task's run folder. Taken by an exclusive create
 * (a hard link of a complete temp file, so nobody ever reads a half-written lock); a lock whose
 * owner is gone, or whose pid now belongs to another process, is taken over under a short mutex
 * so that two claimants cannot both take it.
 */
import * as fs from 'node:fs';
import { FileError, readJson, readJsonSync, type ReadResult } from './jsonFile';
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

/** Create `file` with `content` only if it does not exist; false when it does. */
function exclusiveCreate(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o644 });
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

function sameLock(a: RunnerLock, b: RunnerLock): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.host === b.host && a.acquiredAt === b.acquiredAt;
}

function readLock(file: string): RunnerLock | FileError | undefined {
  const read = readJsonSync(file, lockSchema);
  if (read.ok) return read.value;
  return read.error.code === 'missing' ? undefined : read.error;
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
    const current = readLock(file);
    if (current && !(current instanceof FileError) && sameLock(current, mine)) fs.rmSync(file, { force: true });
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (exclusiveCreate(file, text)) return { acquired: true, release };
    const existing = readLock(file);
    if (existing === undefined) continue; // released meanwhile: try again
    if (existing instanceof FileError) {
      // Only a hand edit or a damaged disk makes this: refuse rather than guess.
      throw new FileError(file, `${existing.reason}; delete it if no runner is running this task`, 'invalid');
    }
    const holder = lockHolderState(existing);
    if (holder !== 'stale') return { acquired: false, holder: existing };
    if (takeOver(file, existing, text)) return { acquired: true, release };
  }
  const holder = readLock(file);
  if (holder && !(holder instanceof FileError)) return { acquired: false, holder };
  throw new Error(`${file}: could not take the lock; too much contention`);
}

/** Replace a stale lock, if it is still the same stale lock, while holding `<lock>.takeover`. */
function takeOver(file: string, stale: RunnerLock, text: string): boolean {
  const mutex = `${file}.takeover`;
  const mutexText = JSON.stringify(ownLock('run'));
  if (!exclusiveCreate(mutex, mutexText)) {
    const holder = readLock(mutex);
    // The mutex is held for microseconds; one left by a dead process is removed.
    if (holder && !(holder instanceof FileError) && lockHolderState(holder) === 'stale') fs.rmSync(mutex, { force: true });
    return false;
  }
  try {
    const current = readLock(file);
    if (current instanceof FileError) return false;
    if (current && !sameLock(current, stale)) return false;
    fs.rmSync(file, { force: true });
    return exclusiveCreate(file, text);
  } finally {
    fs.rmSync(mutex, { force: true });
  }
}
