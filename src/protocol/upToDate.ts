/**
 * Up to date, as make, DVC and Nextflow mean it: a step with `inputs` or `outputs` whose command,
 * environment and input files are as they were when it last succeeded, and whose outputs all
 * exist, need not run again. Its stamp (`stamps/<step>.json` in the run folder, kept across runs, forgotten by a reset)
 * is removed when it starts and written when it succeeds, so a step that failed or was cut short
 * is never taken for up to date. Inputs are compared by content (sha256); a file whose size and
 * modification time are those stamped is taken as unchanged without reading it, as DVC does, so
 * an unchanged large input costs a stat.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { globFiles } from './glob';
import { readJsonSync, writeJsonAtomicSync } from './jsonFile';
import type { TaskPaths } from './paths';
import { publicDefinition, stableStringify, type StepDefinition, type TaskDefinition } from './schemas';
import * as z from 'zod/mini';

const fileStampSchema = z.object({ size: z.number(), mtimeMs: z.number(), sha256: z.string() });
const stampSchema = z.object({
  v: z.literal(1),
  /** The hash of what the step does: its command, folder, environment (the task's too), items and executor. */
  key: z.string(),
  inputs: z.record(z.string(), fileStampSchema),
  /** The step's TASK_STEP_OUTPUT values, handed on again when it is found up to date. */
  outputs: z.optional(z.record(z.string(), z.unknown())),
  at: z.string(),
});
export type Stamp = z.infer<typeof stampSchema>;
export type InputFiles = Stamp['inputs'];

/** Does the step take part? Only a step that says what it reads or makes. */
export const hasStamp = (step: StepDefinition) => step.inputs !== undefined || step.outputs !== undefined;

export const stampPath = (paths: Pick<TaskPaths, 'stampsDir'>, stepId: string) => path.join(paths.stampsDir, `${stepId}.json`);

const publicOf = new WeakMap<TaskDefinition, TaskDefinition>();

/**
 * What the step does, hashed from the definition as the tools write it (secret values masked, as
 * in the checkpoint: a stamp on disk must not let anyone test guesses of a secret; a changed
 * secret is not seen, as the plan does not see it).
 */
export function stampKey(def: TaskDefinition, step: StepDefinition): string {
  let pub = publicOf.get(def);
  if (!pub) publicOf.set(def, (pub = publicDefinition(def)));
  const own = pub.steps.find((s) => s.id === step.id) ?? step;
  const what = { run: own.run, cwd: [pub.cwd, own.cwd], env: [pub.env, own.env], forEach: own.forEach, executor: own.executor ?? pub.executor, outputs: own.outputs };
  return createHash('sha256').update(stableStringify(what)).digest('hex');
}

/** The input files now, by path relative to the step's folder, each with what is known of it already (a stamp's entry of the same size and time). */
function listInputs(step: StepDefinition, folder: string, root: string, before?: InputFiles): { rel: string; file: string; st: fs.Stats; known?: InputFiles[string] }[] {
  const seen = new Set<string>();
  const out: { rel: string; file: string; st: fs.Stats; known?: InputFiles[string] }[] = [];
  for (const pattern of step.inputs ?? []) {
    for (const rel of globFiles(folder, pattern, [folder, root])) {
      if (seen.has(rel)) continue;
      seen.add(rel);
      const file = path.join(folder, rel);
      const st = fs.statSync(file);
      const known = before?.[rel];
      out.push({ rel, file, st, ...(known && known.size === st.size && known.mtimeMs === st.mtimeMs ? { known } : {}) });
    }
  }
  return out;
}

/** The input files now, relative to the step's folder; `before`, a stamp's, spares reading files whose size and time are unchanged. */
export function inputFiles(step: StepDefinition, folder: string, root: string, before?: InputFiles): InputFiles {
  const files: InputFiles = {};
  for (const f of listInputs(step, folder, root, before)) files[f.rel] = f.known ?? { size: f.st.size, mtimeMs: f.st.mtimeMs, sha256: sha256(f.file) };
  return files;
}

/** The same, reading the files without blocking: the runner's heartbeat and control go on while a large input is hashed. */
export async function inputFilesAsync(step: StepDefinition, folder: string, root: string, before?: InputFiles): Promise<InputFiles> {
  const files: InputFiles = {};
  for (const f of listInputs(step, folder, root, before)) files[f.rel] = f.known ?? { size: f.st.size, mtimeMs: f.st.mtimeMs, sha256: await sha256Async(f.file) };
  return files;
}

function sha256(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

async function sha256Async(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Where a step runs: the task's cwd (relative to the workspace folder), then the step's own. */
export const stepFolderOf = (root: string, def: TaskDefinition, step: StepDefinition) => path.resolve(root, def.cwd ?? '.', step.cwd ?? '.');

/** The plan's question (protocol/plan UpToDate), answered from the stamps. */
export const upToDateIn =
  (paths: Pick<TaskPaths, 'stampsDir'>, def: TaskDefinition, root: string) =>
  (step: StepDefinition): Freshness | undefined =>
    hasStamp(step) ? freshness(paths, def, step, stepFolderOf(root, def, step), root) : undefined;

export type Freshness = { upToDate: true; stamp: Stamp; reason: string } | { upToDate: false; reason: string };

/** Is the step up to date now? With the reason either way, for the plan and the runner's log. */
export function freshness(paths: Pick<TaskPaths, 'stampsDir'>, def: TaskDefinition, step: StepDefinition, folder: string, root: string): Freshness {
  const stamp = stampOf(paths, def, step, folder);
  if (!('key' in stamp)) return stamp;
  try {
    return compared(stamp, inputFiles(step, folder, root, stamp.inputs));
  } catch (err) {
    return unreadable(err);
  }
}

/** The same, hashing without blocking (the runner). */
export async function freshnessAsync(paths: Pick<TaskPaths, 'stampsDir'>, def: TaskDefinition, step: StepDefinition, folder: string, root: string): Promise<Freshness> {
  const stamp = stampOf(paths, def, step, folder);
  if (!('key' in stamp)) return stamp;
  try {
    return compared(stamp, await inputFilesAsync(step, folder, root, stamp.inputs));
  } catch (err) {
    return unreadable(err);
  }
}

/** The stamp, when what the step does is the same and its outputs are there; else why not up to date. */
function stampOf(paths: Pick<TaskPaths, 'stampsDir'>, def: TaskDefinition, step: StepDefinition, folder: string): Stamp | { upToDate: false; reason: string } {
  const read = readJsonSync(stampPath(paths, step.id), stampSchema);
  if (!read.ok) return { upToDate: false, reason: read.error.code === 'missing' ? 'no success of it is on record yet' : `${read.error.message}: run again` };
  if (read.value.key !== stampKey(def, step)) return { upToDate: false, reason: 'its command or environment changed since it last succeeded' };
  const missing = (step.outputs ?? []).filter((p) => !fs.existsSync(path.join(folder, p)));
  if (missing.length) return { upToDate: false, reason: `its output ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''} is missing` };
  return read.value;
}

function compared(stamp: Stamp, now: InputFiles): Freshness {
  const changed = [...Object.keys(now).filter((f) => stamp.inputs[f]?.sha256 !== now[f].sha256), ...Object.keys(stamp.inputs).filter((f) => !now[f])];
  if (changed.length) return { upToDate: false, reason: `its input ${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ` and ${changed.length - 3} more` : ''} changed since it last succeeded` };
  const n = Object.keys(now).length;
  return { upToDate: true, stamp, reason: `up to date: its command, environment${n ? ` and ${n} input${n === 1 ? '' : 's'}` : ''} are as when it succeeded at ${stamp.at}` };
}

const unreadable = (err: unknown): Freshness => ({ upToDate: false, reason: `its inputs cannot be read (${(err as Error).message})` });

export function writeStamp(paths: Pick<TaskPaths, 'stampsDir'>, stepId: string, stamp: Stamp): void {
  const file = stampPath(paths, stepId);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeJsonAtomicSync(file, stamp, { durable: true });
}

export function removeStamp(paths: Pick<TaskPaths, 'stampsDir'>, stepId: string): void {
  fs.rmSync(stampPath(paths, stepId), { force: true });
}
