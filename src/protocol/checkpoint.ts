/**
 * Reading a checkpoint: `checkpoint.json` (the last snapshot) plus the steps committed to
 * `journal.jsonl` since. Shared by the runner (resume) and the readers (CLI, extension).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ItemProgress } from './itemProgress';
import { FileError, fsyncDirSync, parseJsonText, quotable, readJson, readJsonSync, readText, readTextSync, writeJsonAtomicSync, type ReadResult } from './jsonFile';
import type { TaskPaths } from './paths';
import { checkpointSchema, journalEntrySchema, type Checkpoint, type JournalEntry } from './schemas';

export interface LoadedCheckpoint {
  /** The snapshot with the journal folded in. */
  checkpoint: Checkpoint;
  /** The forEach step in progress, as the checkpoint's `batch` (in its form for the runner). */
  batch: ItemProgress | null;
  lastSeq: number;
  journalEntries: number;
  /** The journal ended in a line cut short by a crash: that step was not committed and runs again. */
  tornTail: boolean;
}

export function readJournal(file: string, afterSeq: number): ReadResult<{ entries: JournalEntry[]; tornTail: boolean }> {
  return journalOf(file, readTextSync(file), afterSeq);
}

/** No journal is an empty one: nothing was committed since the snapshot. */
function journalOf(file: string, text: ReadResult<string>, afterSeq: number): ReadResult<{ entries: JournalEntry[]; tornTail: boolean }> {
  if (!text.ok) return text.error.code === 'missing' ? { ok: true, value: { entries: [], tornTail: false } } : text;
  return parseJournal(file, text.value, afterSeq);
}

export function parseJournal(file: string, text: string, afterSeq: number): ReadResult<{ entries: JournalEntry[]; tornTail: boolean }> {
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  const tornTail = last.length > 0; // a complete entry always ends with "\n"
  const entries: JournalEntry[] = [];
  let previous = afterSeq;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const parsed = parseJsonText(file, lines[i], journalEntrySchema);
    if (!parsed.ok) return { ok: false, error: new FileError(file, `line ${i + 1}: ${parsed.error.reason}`, 'invalid') };
    const entry = parsed.value;
    if (entry.seq <= afterSeq) continue; // already folded into the snapshot (a crash between snapshot and truncation)
    if (entry.seq !== previous + 1) return { ok: false, error: new FileError(file, `line ${i + 1}: entry ${entry.seq} follows ${previous}`, 'invalid') };
    previous = entry.seq;
    entries.push(entry);
  }
  return { ok: true, value: { entries, tornTail } };
}

/** The current checkpoint, or a FileError naming the damaged file (code "missing" when there is none). */
/**
 * A reader racing a live runner may read checkpoint.json, then a journal that a new snapshot has
 * restarted since: a mismatch that is no damage. When the snapshot file changed while reading, the
 * pair is read again (a few times: a runner snapshots far less often than that).
 */
const READ_TRIES = 3;

/** Identifies one version of checkpoint.json: replaced by rename, so a new inode each time. */
const versionOf = (st: fs.Stats | undefined) => (st ? `${st.ino}:${st.mtimeMs}:${st.size}` : 'none');
function version(file: string): string {
  try {
    return versionOf(fs.statSync(file));
  } catch {
    return versionOf(undefined);
  }
}
const versionAsync = (file: string) => fs.promises.stat(file).then(versionOf, () => versionOf(undefined));

export function loadCheckpoint(paths: Pick<TaskPaths, 'checkpoint' | 'journal'>): ReadResult<LoadedCheckpoint> {
  for (let attempt = 1; ; attempt++) {
    const before = version(paths.checkpoint);
    const snapshot = readJsonSync(paths.checkpoint, checkpointSchema);
    if (!snapshot.ok) return snapshot;
    const loaded = fold(paths.journal, snapshot.value, readJournal(paths.journal, snapshot.value.journalSeq));
    if (loaded.ok || attempt === READ_TRIES || version(paths.checkpoint) === before) return loaded;
  }
}

/** The same without blocking: for the extension host. */
export async function loadCheckpointAsync(paths: Pick<TaskPaths, 'checkpoint' | 'journal'>): Promise<ReadResult<LoadedCheckpoint>> {
  for (let attempt = 1; ; attempt++) {
    const before = await versionAsync(paths.checkpoint);
    const snapshot = await readJson(paths.checkpoint, checkpointSchema);
    if (!snapshot.ok) return snapshot;
    const loaded = fold(paths.journal, snapshot.value, journalOf(paths.journal, await readText(paths.journal), snapshot.value.journalSeq));
    if (loaded.ok || attempt === READ_TRIES || (await versionAsync(paths.checkpoint)) === before) return loaded;
  }
}

function fold(file: string, checkpoint: Checkpoint, journal: ReadResult<{ entries: JournalEntry[]; tornTail: boolean }>): ReadResult<LoadedCheckpoint> {
  if (!journal.ok) return journal;
  const { entries, tornTail } = journal.value;
  const done = new Set(checkpoint.completed.map((s) => s.id));
  const completed = [...checkpoint.completed];
  let batch = checkpoint.batch ? ItemProgress.fromCheckpoint(checkpoint.batch) : null;
  for (const entry of entries) {
    if (entry.type === 'step-completed') {
      if (!done.has(entry.step.id)) completed.push(entry.step);
      done.add(entry.step.id);
      if (batch?.stepId === entry.step.id) batch = null;
      continue;
    }
    if (!batch || batch.stepId !== entry.stepId || entry.index >= batch.total)
      return { ok: false, error: new FileError(file, `entry ${entry.seq}: item ${entry.index} of step "${quotable(entry.stepId, 100)}" is not in the checkpoint's item list`, 'invalid') };
    if (entry.type === 'item-done') batch.markDone(entry.index);
    else if (entry.type === 'item-skipped') batch.markSkipped(entry.index);
    else if (entry.type === 'item-reset') batch.reset(entry.index);
    else batch.markFailed({ index: entry.index, item: batch.itemAt(entry.index), attempts: entry.attempts, error: entry.error, endedAt: entry.endedAt });
  }
  const lastSeq = entries.length ? entries[entries.length - 1].seq : checkpoint.journalSeq;
  const folded: Checkpoint = { ...checkpoint, completed, batch: batch?.toCheckpoint() ?? null };
  // Progress since a failure pause ends its run of automatic resumes.
  if (entries.length) delete folded.failurePause;
  return { ok: true, value: { checkpoint: folded, batch, lastSeq, journalEntries: entries.length, tornTail } };
}

/** Earlier snapshots, newest first. */
export function listSnapshots(checkpointsDir: string): string[] {
  try {
    return fs
      .readdirSync(checkpointsDir)
      .filter((n) => n.endsWith('.json'))
      .sort()
      .reverse()
      .map((n) => path.join(checkpointsDir, n));
  } catch {
    return [];
  }
}

/** How many earlier snapshots checkpoints/ keeps. */
export const KEEP_SNAPSHOTS = 20;

/**
 * Keep the current checkpoint.json in checkpoints/, then prune to the last KEEP_SNAPSHOTS. A
 * snapshot about to be replaced by a newer one is hard-linked (free, and atomic). One about to be
 * discarded (a new run, a reset) is kept with the journal folded in (`withJournal`), so that every
 * commit of the run being forgotten is in what is kept; when the pair cannot be read, the journal
 * is kept beside it as it is. The folder is fsynced: what is kept survives a power loss.
 */
export function keepPrevious(paths: TaskPaths, withJournal = false): void {
  let stamp: string;
  let reason = 'snapshot';
  try {
    const stat = fs.statSync(paths.checkpoint);
    stamp = stat.mtime.toISOString().replace(/[-:]/g, '').replace('.', '');
    // The reason is in the first lines of the document: name the file after it for people.
    const head = fs.readFileSync(paths.checkpoint, 'utf8').slice(0, 300);
    reason = /"reason":\s*"([a-z-]+)"/.exec(head)?.[1] ?? reason;
  } catch {
    return; // no checkpoint yet
  }
  fs.mkdirSync(paths.checkpointsDir, { recursive: true });
  const target = path.join(paths.checkpointsDir, `${stamp}-${reason}.json`);
  const journalBytes = withJournal ? (fs.statSync(paths.journal, { throwIfNoEntry: false })?.size ?? 0) : 0;
  const folded = journalBytes > 0 ? loadCheckpoint(paths) : undefined;
  if (folded?.ok) {
    const { batch: _batch, ...rest } = folded.value.checkpoint;
    writeJsonAtomicSync(target, { ...rest, journalSeq: folded.value.lastSeq, ...(folded.value.batch ? { batch: folded.value.batch.toCheckpoint() } : {}) }, { durable: true });
  } else {
    try {
      fs.linkSync(paths.checkpoint, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') fs.copyFileSync(paths.checkpoint, target); // file systems without hard links
    }
    // Damaged, or not readable as a pair: the journal is kept as it is, beside the snapshot.
    if (folded) fs.copyFileSync(paths.journal, target.replace(/\.json$/, '.journal.jsonl'));
  }
  for (const suffix of ['.json', '.journal.jsonl']) {
    const names = fs.readdirSync(paths.checkpointsDir).filter((n) => n.endsWith(suffix)).sort();
    for (const old of names.slice(0, Math.max(0, names.length - KEEP_SNAPSHOTS))) fs.rmSync(path.join(paths.checkpointsDir, old), { force: true });
  }
  fsyncDirSync(paths.checkpointsDir);
}
