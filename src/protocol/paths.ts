/** Where each file of a task lives, and the checks that keep every path inside `.tasks/`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TASK_ID_PATTERN } from './schemas';

export const DEFAULT_TASKS_FOLDER = '.tasks';
export const GLOBAL_CONTROL_FILE = '.control.json';

export interface TaskPaths {
  id: string;
  tasksDir: string;
  definition: string;
  runDir: string;
  state: string;
  control: string;
  checkpoint: string;
  journal: string;
  checkpointsDir: string;
  logsDir: string;
  /** Files handed to steps: TASK_STEP_OUTPUT and TASK_STEP_STATE. */
  stepsDir: string;
  /** The frozen item lists too large to copy into every snapshot: `<step>.json`. */
  itemsDir: string;
  /** What the run did over time, for the picture of a run (protocol/timeline). */
  timeline: string;
  /** What the steps with inputs/outputs were when they last succeeded (`<step>.json`): kept across runs, forgotten by reset. */
  stampsDir: string;
  /** What each attempt's supervisor recorded of it (started, its group, its end): `<run>.<slot>.tsv`. */
  attemptsDir: string;
  /** The Slurm jobs of the run: submissions.tsv, and a folder per submission (its script, requests, records). */
  slurmDir: string;
  lock: string;
  pauseRequested: string;
  runnerLog: string;
  globalControl: string;
}

/** Why a string is not a task id, or undefined when it is one. */
export function taskIdProblem(id: string): string | undefined {
  if (id.includes('/') || id.includes('\\')) return `task id "${id}" contains a path separator`;
  if (id.includes('..')) return `task id "${id}" contains ".."`;
  if (!TASK_ID_PATTERN.test(id)) return `task id "${id}" is not valid: use lowercase letters, digits, ".", "_" or "-", at most 64, starting with a letter or digit`;
  return undefined;
}

export class PathError extends Error {}

export function tasksDirOf(root: string, folderName = DEFAULT_TASKS_FOLDER): string {
  return path.join(path.resolve(root), folderName);
}

export function globalControlPath(tasksDir: string): string {
  return path.join(tasksDir, GLOBAL_CONTROL_FILE);
}

export function taskPaths(tasksDir: string, id: string): TaskPaths {
  const problem = taskIdProblem(id);
  if (problem) throw new PathError(problem);
  const runDir = path.join(tasksDir, id);
  return {
    id,
    tasksDir,
    definition: path.join(tasksDir, `${id}.json`),
    runDir,
    state: path.join(runDir, 'state.json'),
    control: path.join(runDir, 'control.json'),
    checkpoint: path.join(runDir, 'checkpoint.json'),
    journal: path.join(runDir, 'journal.jsonl'),
    attemptsDir: path.join(runDir, 'attempts'),
    slurmDir: path.join(runDir, 'slurm'),
    checkpointsDir: path.join(runDir, 'checkpoints'),
    logsDir: path.join(runDir, 'logs'),
    stepsDir: path.join(runDir, 'steps'),
    itemsDir: path.join(runDir, 'items'),
    stampsDir: path.join(runDir, 'stamps'),
    timeline: path.join(runDir, 'timeline.jsonl'),
    lock: path.join(runDir, 'runner.lock'),
    pauseRequested: path.join(runDir, 'pause-requested'),
    runnerLog: path.join(runDir, 'runner.log'),
    globalControl: globalControlPath(tasksDir),
  };
}

/** A step's log: one file a step, the items of a forEach step share it. */
export function stepLogPath(paths: Pick<TaskPaths, 'logsDir'>, stepId: string): string {
  // Joined by hand: a step id is one plain name (schemas.ts), and path.join costs ~10 µs a step.
  return paths.logsDir + path.sep + stepId + '.log';
}

export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Why the tasks folder cannot be used, or undefined. It may be a symbolic link, to a folder inside
 * the workspace folder (its parent) and not to the workspace folder itself: the tools write there,
 * and run folders are named after task ids.
 */
export function tasksDirProblem(tasksDir: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(tasksDir);
  } catch {
    return `${tasksDir}: the tasks folder does not exist`;
  }
  if (!stat.isSymbolicLink()) return stat.isDirectory() ? undefined : `${tasksDir}: should be the tasks folder but is not a folder`;
  let target: string;
  let root: string;
  try {
    target = fs.realpathSync(tasksDir);
    root = fs.realpathSync(path.dirname(tasksDir));
  } catch {
    return `${tasksDir}: is a symbolic link to nothing`;
  }
  if (!isInside(root, target) || target === root)
    return `${tasksDir}: is a symbolic link that leads out of the workspace folder (to ${target}); the tools write only inside ${path.dirname(tasksDir)}`;
  if (!fs.statSync(target).isDirectory()) return `${tasksDir}: is a symbolic link to ${target}, which is not a folder`;
  return undefined;
}

/**
 * Refuse a tasks folder that leads out of the workspace, a definition or run folder that is a
 * symbolic link leading out of `.tasks/`, and a run folder that is anything but a plain folder:
 * the tools write there.
 */
export function assertTaskPathsSafe(paths: TaskPaths): void {
  const problem = tasksDirProblem(paths.tasksDir);
  if (problem) throw new PathError(problem);
  const realTasks = fs.realpathSync(paths.tasksDir);
  for (const file of [paths.definition, paths.runDir]) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(file);
    } catch {
      continue; // missing: nothing to follow
    }
    if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = fs.realpathSync(file);
      } catch {
        throw new PathError(`${file}: is a symbolic link to nothing`);
      }
      if (!isInside(realTasks, target)) throw new PathError(`${file}: is a symbolic link that leads out of ${paths.tasksDir} (to ${target})`);
      if (file === paths.runDir) throw new PathError(`${file}: the run folder is a symbolic link; the tools write only to a plain folder`);
    } else if (file === paths.runDir && !stat.isDirectory()) {
      throw new PathError(`${file}: should be the task's run folder but is not a folder`);
    }
  }
}

/**
 * Refuse symbolic links among the run folder's own entries: the runner and reset append to, link
 * into and prune them, and must not do so in a folder elsewhere (a hostile `checkpoints` link would
 * have its oldest files deleted). For writers only; readers do not need it.
 */
export function assertRunFilesSafe(paths: TaskPaths): void {
  for (const file of [paths.journal, paths.checkpointsDir, paths.logsDir, paths.stepsDir, paths.itemsDir, paths.stampsDir, paths.timeline, paths.pauseRequested, paths.runnerLog, paths.checkpoint, paths.state, paths.control, paths.lock]) {
    if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink())
      throw new PathError(`${file}: is a symbolic link; the tools write only to plain files and folders in ${paths.runDir} (remove it)`);
  }
}

/** The ids of the definitions in a tasks folder, in name order: every `*.json` not starting with ".". */
export function listDefinitionIds(tasksDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(tasksDir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5)).sort();
}
