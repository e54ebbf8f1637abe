/**
 * What the slots recorded of their attempts (attempts/*.tsv in the run folder), read back by the
 * next resume (a run that ended well deletes them). Each slot writes them in order, a write a line
 * (a crash of the slot or the runner cannot tear one; a power loss may cut the last, which is then
 * ignored). The C slot, once it synced an end, writes them over zeros it wrote ahead (slotNative.ts):
 * what follows the first NUL is not written yet.
 *   slot  <pid> <start time>           the slot itself (written by the runner that made it)
 *   start <key> <attempt> <pid> <order>  a request taken: it will run
 *   group <key> <attempt> <pgid>         its process group exists
 *   end   <key> <attempt> <exit code> <signal number> <s> [<why it could not start>]
 * <order> is the runner's (slotExecutor.ts nextOrder): the last request of a key wins, in whichever
 * file it is (an item that paused its task runs again under the same attempt number, maybe in
 * another slot). The end's time is in seconds, for a reader.
 * A key is a step id, or "<step>#<item index>". Records are not synced: the runner commits what
 * it sees, durably; a power loss before that runs the attempts again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { groupAlive } from '../protocol/processGroups';
import { isSameProcessAlive } from '../protocol/processInfo';
import type { ItemProgress } from '../protocol/itemProgress';
import { unfinishedSteps, type Checkpoint } from '../protocol/schemas';
import { signalName, type ExecEnd } from './executor';

/** The key of an item's attempts. */
export const itemKey = (stepId: string, index: number) => `${stepId}#${index}`;

export interface AttemptRecord {
  key: string;
  attempt: number;
  /** Which request of the key it was (see the start line). */
  order: number;
  /** The slot running it, and whether that slot is still alive (then it will record the end). */
  slot: { pid: number; startTime: string | undefined };
  pgid?: number;
  end?: ExecEnd;
  /** The file it is in, for a poller that waits for its end. */
  file: string;
}

/** The last attempt recorded for each key, over every records file in `dir`. */
function readAttemptRecords(dir: string): Map<string, AttemptRecord> {
  const records = new Map<string, AttemptRecord>();
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.tsv'));
  } catch {
    return records;
  }
  // Oldest first: a later runner's record of the same attempt (run again) wins.
  const files = names.map((n) => path.join(dir, n)).sort((a, b) => mtime(a) - mtime(b));
  for (const file of files) new RecordsTail(file).read(records);
  return records;
}

/** The last attempt recorded for each key in one slot's records file. */
export function readRecordsFile(file: string): Map<string, AttemptRecord> {
  const records = new Map<string, AttemptRecord>();
  new RecordsTail(file).read(records);
  return records;
}

/** Fold whole lines of one file into `records`. */
function foldRecords(file: string, text: string, records: Map<string, AttemptRecord>): void {
  let slot = { pid: 0, startTime: undefined as string | undefined };
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty
  for (const line of lines) {
    const f = line.split('\t');
    if (f[0] === 'slot' && f.length >= 3) slot = { pid: Number(f[1]), startTime: f[2] || undefined };
    if (f.length < 4) continue;
    const [kind, key, attemptText] = f;
    const attempt = Number(attemptText);
    if (!Number.isSafeInteger(attempt)) continue;
    const known = records.get(key);
    if (kind === 'start') {
      const pid = Number(f[3]);
      const order = Number(f[4]) || 0;
      if (!known || attempt > known.attempt || (attempt === known.attempt && order >= known.order)) records.set(key, { key, attempt, order, slot: { pid, startTime: pid === slot.pid ? slot.startTime : undefined }, file });
    } else if (known && known.attempt === attempt && known.file === file) {
      if (kind === 'group') known.pgid = Number(f[3]);
      if (kind === 'end' && f.length >= 6) known.end = endOf(f);
    }
  }
}

function endOf(f: string[]): ExecEnd {
  if (f[6]) return { kind: 'spawn-error', error: f[6] };
  return f[4] ? { kind: 'exited', exitCode: null, signal: signalName(Number(f[4])) ?? 'SIGKILL' } : { kind: 'exited', exitCode: Number(f[3]), signal: null };
}

/** Something to adopt: its end is recorded, or will be (its slot lives), or at least its processes are alive. */
function adoptable(r: AttemptRecord): boolean {
  return r.end !== undefined || slotAlive(r) || (r.pgid !== undefined && r.pgid > 1 && groupAlive(r.pgid));
}

export function slotAlive(r: AttemptRecord): boolean {
  return r.slot.pid > 1 && isSameProcessAlive(r.slot.pid, r.slot.startTime);
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * A records file's whole lines, up to the zeros a slot wrote ahead; read again, the lines added
 * since (from the end of the last whole line: one cut short is read once it is whole).
 */
export class RecordsTail {
  /** Bytes of whole lines read so far. */
  private offset = 0;

  constructor(private readonly file: string) {}

  /** Fold what was added into `records`. */
  read(records: Map<string, AttemptRecord>): void {
    let fd: number | undefined;
    const chunks: Buffer[] = [];
    try {
      fd = fs.openSync(this.file, 'r');
      for (let at = this.offset; ; ) {
        const buffer = Buffer.alloc(64 * 1024);
        const got = fs.readSync(fd, buffer, 0, buffer.length, at);
        if (got <= 0) break;
        // The zeros written ahead: nothing after them is written yet.
        const nul = buffer.subarray(0, got).indexOf(0);
        chunks.push(buffer.subarray(0, nul < 0 ? got : nul));
        if (nul >= 0) break;
        at += got;
      }
    } catch {
      return;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    const data = Buffer.concat(chunks);
    const cut = data.lastIndexOf(10);
    if (cut < 0) return;
    foldRecords(this.file, data.toString('utf8', 0, cut + 1), records);
    this.offset += cut + 1;
  }
}

/**
 * The attempts a lost runner left that a successor takes over: ended (with a record) or still
 * alive. A slot that took a request but has not recorded its group yet is given a moment to.
 */
export async function adoptableAttempts(dir: string, waitMs = 2000): Promise<AttemptRecord[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const records = [...readAttemptRecords(dir).values()].filter(adoptable);
    const starting = records.filter((r) => !r.end && r.pgid === undefined && slotAlive(r));
    if (!starting.length || Date.now() > deadline) return records.filter((r) => r.end || r.pgid !== undefined || slotAlive(r));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Whether the checkpoint already holds this attempt's outcome (its runner committed it before it
 * died): then there is nothing to adopt.
 */
export function alreadyCommitted(r: Pick<AttemptRecord, 'key' | 'attempt'>, checkpoint: Pick<Checkpoint, 'completed' | 'unfinished' | 'alsoUnfinished'>, batch: ItemProgress | null): boolean {
  const hash = r.key.lastIndexOf('#');
  if (hash < 0) return checkpoint.completed.some((s) => s.id === r.key) || unfinishedSteps(checkpoint).some((u) => u.id === r.key && u.attempts >= r.attempt);
  const stepId = r.key.slice(0, hash);
  const index = Number(r.key.slice(hash + 1));
  if (checkpoint.completed.some((s) => s.id === stepId)) return true;
  if (!batch || batch.stepId !== stepId || !Number.isSafeInteger(index) || index >= batch.total) return false;
  return batch.isDone(index) || batch.attemptsBefore(index) >= r.attempt;
}
