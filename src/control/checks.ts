/** The checks every use case makes before it writes anything, as refusals. */
import { FileError } from '../protocol/jsonFile';
import { PathError, type TaskPaths } from '../protocol/paths';
import type { TaskView } from '../protocol/taskView';
import { canTransition, TransitionError, type Request } from '../protocol/transitions';
import { asWriteError } from '../protocol/writeError';
import type { Refusal } from './outcomes';
import { readGlobalControl } from './requests';

/** A view that can be acted on: its definition, state and control files read without a problem. */
export type UsableView = TaskView & { paths: TaskPaths };

/**
 * A view that cannot be acted on: a bad definition, or a damaged control.json (its next seq cannot
 * be known). A damaged state.json is no reason: the task is lost, and resume or reset mend it. A
 * request that needs no definition (pause, interrupt, reset) can go to a task whose definition broke.
 */
export function unusable(view: TaskView, needsDefinition = true): Refusal | undefined {
  const problem = needsDefinition || view.problem !== view.definitionProblem ? view.problem : undefined;
  if (problem || !view.paths) return { kind: 'badFile', message: problem ?? `${view.id}.json: invalid` };
  if (view.controlProblem) return { kind: 'badFile', message: view.controlProblem };
  return undefined;
}

export function notAllowed(view: TaskView, request: Request): Refusal | undefined {
  const waiting = Boolean(view.waiting);
  if (canTransition(view.status, request, waiting)) return undefined;
  const error = new TransitionError(view.id, request, view.status, waiting);
  return { kind: 'notAllowed', error, message: error.message };
}

/** No task starts or resumes while pause-all is on. */
export function pausedForAll(paths: TaskPaths): Refusal | undefined {
  if (readGlobalControl(paths.globalControl)?.desired !== 'paused') return undefined;
  return { kind: 'pausedForAll', message: `every task is paused (pause-all is on): run 'ptask resume-all' first` };
}

/**
 * Run `body`; a damaged or unsafe file, or one that cannot be written, becomes a refusal instead
 * of an exception. `verb` names the request in the message ("cannot resume: …").
 */
export function refusingFileErrors<T>(verb: string, body: () => T): T | Refusal {
  try {
    return body();
  } catch (err) {
    return asRefusal(verb, err);
  }
}

export async function refusingFileErrorsAsync<T>(verb: string, body: () => Promise<T>): Promise<T | Refusal> {
  try {
    return await body();
  } catch (err) {
    return asRefusal(verb, err);
  }
}

function asRefusal(verb: string, err: unknown): Refusal {
  if (err instanceof FileError || err instanceof PathError) return { kind: 'badFile', message: err.message };
  const failed = asWriteError(err);
  if (failed) return { kind: 'cannotWrite', error: failed, message: `cannot ${verb}: ${failed.message}` };
  throw err;
}
