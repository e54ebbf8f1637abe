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
    checkpointsDir: path.join(runDir, 'checkpoints'),
    logsDir: path.join(runDir, 'logs'),
    stepsDir: path.join(runDir, 'steps'),
    lock: path.join(runDir, 'runner.lock'),
    pauseRequested: path.join(runDir, 'pause-requested'),
    runnerLog: path.join(runDir, 'runner.log'),
    globalControl: globalControlPath(tasksDir),
  };
}

function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Refuse a definition or run folder that is a symbolic link leading out of `.tasks/`, and a run
 * folder that is anything but a plain folder: the tools write there.
 */
export function assertTaskPathsSafe(paths: TaskPaths): void {
  let realTasks: string;
  try {
    realTasks = fs.realpathSync(paths.tasksDir);
  } catch {
    throw new PathError(`${paths.tasksDir}: the tasks folder does not exist`);
  }
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
