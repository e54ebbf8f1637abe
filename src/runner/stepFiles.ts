/**
 * The files a step shares with the runner: TASK_STEP_OUTPUT (its outputs, handed to later steps
 * as TASK_OUTPUT_<STEP>_<KEY>), TASK_STEP_STATE (its own progress, kept in the checkpoint and
 * handed back after a pause or a crash; one file an item for a forEach step), and its log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseJson, quotable, writeJsonAtomicSync } from '../protocol/jsonFile';
import { stepLogPath, type TaskPaths } from '../protocol/paths';
import type { CompletedStep, StepDefinition, UnfinishedStep } from '../protocol/schemas';

export type SavedState = Pick<UnfinishedStep, 'state' | 'stateText' | 'stateBytes'>;

/**
 * A step's state up to this size is copied into the checkpoint (it survives the run folder's
 * steps/ going, another machine); a larger one is kept by reference: its file stays in steps/
 * until the step completes, and the snapshots stay small (a 70 MB state copied into each would
 * make a checkpoint no reader takes).
 */
export const MAX_INLINE_STATE = 1024 * 1024;
/** Outputs up to this size are handed on as environment variables too; all of them are in the TASK_OUTPUTS file. */
export const MAX_OUTPUT_ENV = 16 * 1024;

/** TASK_OUTPUTS: the outputs of every completed step, as one JSON file. */
export const outputsFile = (paths: TaskPaths) => path.join(paths.stepsDir, 'outputs.json');

export function stepFiles(paths: TaskPaths, step: StepDefinition) {
  // Joined, not path.join()ed (its normalising, three times a step, showed in a chain's profile):
  // the folders are normalised already, and a step id has no "/" and never starts with ".".
  const steps = paths.stepsDir + path.sep + step.id;
  return {
    output: `${steps}.output.json`,
    state: `${steps}.state`,
    /** A forEach step: one TASK_STEP_STATE file an item, `<index>.state`. */
    itemStates: `${steps}.items`,
    log: stepLogPath(paths, step.id),
  };
}
export type StepFiles = ReturnType<typeof stepFiles>;

/** Upper-case letters, digits and "_": the shape of an environment variable name. */
const envName = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/**
 * A completed step's outputs as the environment of the steps after it: each value up to
 * MAX_OUTPUT_ENV (a larger one would make every later spawn fail with E2BIG), the rest only in the
 * TASK_OUTPUTS file. Returns whether it had any.
 */
export function outputsEnv(step: CompletedStep, into: Record<string, string>): boolean {
  const outputs = Object.entries(step.outputs ?? {});
  for (const [key, value] of outputs) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (text.length <= MAX_OUTPUT_ENV) into[`TASK_OUTPUT_${envName(step.id)}_${envName(key)}`] = text;
  }
  return outputs.length > 0;
}

/** TASK_OUTPUTS: every completed step's outputs, `{ "<step>": { "<key>": value } }`, for values of any size. */
export function writeOutputsFile(file: string, completed: CompletedStep[]): void {
  const all = Object.fromEntries(completed.filter((s) => s.outputs).map((s) => [s.id, s.outputs]));
  writeJsonAtomicSync(file, all);
}

/**
 * Remove a file that may not be there, on every step: asked first, as most are not there and an
 * ENOENT thrown costs Node several times the question (rmSync's force costs more still).
 */
export function removeIfThere(file: string): void {
  if (!fs.existsSync(file)) return;
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** The step's outputs, undefined when it wrote none, or a message saying what is wrong with them. */
export function readOutputs(file: string): Record<string, unknown> | undefined | string {
  if (!fs.existsSync(file)) return undefined; // most steps write none (asked: cheaper than an ENOENT thrown)
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // removed since
    return `it wrote ${file} (TASK_STEP_OUTPUT), which cannot be read`;
  }
  let why = 'not a JSON object';
  try {
    const value: unknown = parseJson(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (err) {
    why = `not a JSON object (${quotable((err as Error).message)})`;
  }
  return `it wrote ${file} (TASK_STEP_OUTPUT), which is ${why}`;
}

/** The step's own saved state, to keep in the checkpoint: JSON when it parses, else the text; by reference when big. */
export function readStepState(file: string, previous: UnfinishedStep | null): SavedState {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_INLINE_STATE) return { stateBytes: size };
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return previous ? { state: previous.state, stateText: previous.stateText, stateBytes: previous.stateBytes } : {};
  }
  try {
    // Too deep to write back into the checkpoint: kept as text, handed back as written.
    return { state: parseJson(text) };
  } catch {
    return { stateText: text };
  }
}

/** Write the checkpoint's copy back where the file is gone. A state kept by reference has no copy: the step starts without it. */
export function restoreStepState(file: string, previous: SavedState): void {
  if (previous.stateText !== undefined) fs.writeFileSync(file, previous.stateText);
  else if (previous.state !== undefined) fs.writeFileSync(file, JSON.stringify(previous.state));
}

/** The TASK_STEP_STATE files that items in flight left, by index, to keep in the checkpoint. */
export function readItemStates(dir: string): Record<string, SavedState> {
  const states: Record<string, SavedState> = {};
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return states;
  }
  for (const name of names) {
    const m = /^(\d+)\.state$/.exec(name);
    if (m) states[m[1]] = readStepState(path.join(dir, name), null);
  }
  return states;
}
