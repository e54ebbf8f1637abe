/**
 * The desired state, written by controllers: a task's control.json and the global .control.json
 * (pause all). Requests are idempotent and numbered; the runner records the seq it applied.
 */
import * as fs from 'node:fs';
import { readJsonSync, writeJsonAtomicSync } from '../protocol/jsonFile';
import type { TaskPaths } from '../protocol/paths';
import { controlSchema, globalControlSchema, type Control, type DesiredState, type GlobalControl } from '../protocol/schemas';
import type { TaskView } from '../protocol/taskView';

/** Write control.json with the next seq; throws FileError when the current one is damaged. */
export function requestState(paths: TaskPaths, desired: DesiredState, requestedBy: string, view?: TaskView): Control {
  const current = readJsonSync(paths.control, controlSchema);
  if (!current.ok && current.error.code !== 'missing') throw current.error;
  const seq = Math.max(current.ok ? current.value.seq : 0, view?.state?.appliedSeq ?? 0) + 1;
  const control: Control = { v: 1, seq, desired, requestedAt: new Date().toISOString(), requestedBy };
  fs.mkdirSync(paths.runDir, { recursive: true });
  writeJsonAtomicSync(paths.control, control, { durable: true });
  return control;
}

export function readGlobalControl(file: string): GlobalControl | undefined {
  const read = readJsonSync(file, globalControlSchema);
  if (read.ok) return read.value;
  if (read.error.code === 'missing') return undefined;
  throw read.error;
}

export function requestGlobal(file: string, desired: GlobalControl['desired'], requestedBy: string): GlobalControl {
  const seq = (readGlobalControl(file)?.seq ?? 0) + 1;
  const control: GlobalControl = { v: 1, seq, desired, requestedAt: new Date().toISOString(), requestedBy };
  writeJsonAtomicSync(file, control, { durable: true });
  return control;
}
