/**
 * What a controller (the CLI, later the extension) does: write the desired state, start a
 * detached runner, wait for a request to take effect. It never runs a step itself.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { readJsonSync, writeJsonAtomicSync } from '../protocol/jsonFile';
import { acquireLock } from '../protocol/lock';
import { assertRunFilesSafe, globalControlPath, listDefinitionIds, PathError } from '../protocol/paths';
import { canTransition, TransitionError } from '../protocol/transitions';
import { keepPrevious } from '../runner/checkpointWriter';
import { groupsWithEnv, signalGroup } from '../runner/stepProcess';
import type { TaskPaths } from '../protocol/paths';
import { controlSchema, globalControlSchema, type Control, type DesiredState, type GlobalControl } from '../protocol/schemas';
import { readTaskView, type TaskView } from '../protocol/taskView';

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

/** Poll a condition until it holds (returns its value) or the deadline passes (returns undefined). */
export async function waitFor<T>(check: () => T | undefined | false, timeoutMs: number, intervalMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface LaunchOptions {
  /** The bundled runner (dist/runner.js). */
  runnerScript: string;
  /** The node (or Electron, run as node) executable. */
  execPath?: string;
  root: string;
  tasksFolder: string;
  paths: TaskPaths;
  mode: 'run' | 'resume';
  fresh?: boolean;
  force?: boolean;
  pollMs?: number;
  graceMs?: number;
  extraEnv?: NodeJS.ProcessEnv;
}

const MAX_RUNNER_LOG = 1024 * 1024;

export type LaunchResult = { started: true; pid: number } | { started: false; exitCode: number; output: string };

/**
 * Start a detached runner (it outlives this process, the terminal and VS Code) and wait until it
 * has taken the task (its state.json names it) or has exited (its code and what it printed).
 */
export async function launchRunner(opts: LaunchOptions, timeoutMs = 15_000): Promise<LaunchResult> {
  const { paths } = opts;
  fs.mkdirSync(paths.runDir, { recursive: true });
  assertRunFilesSafe(paths); // runner.log is appended to: not through a link
  try {
    if (fs.statSync(paths.runnerLog).size > MAX_RUNNER_LOG) fs.renameSync(paths.runnerLog, `${paths.runnerLog}.1`);
  } catch {
    // no log yet
  }
  const logFd = fs.openSync(paths.runnerLog, 'a');
  const offset = fs.fstatSync(logFd).size;
  const args = [opts.runnerScript, '__runner', opts.mode, paths.id, '--root', opts.root, '--tasks-folder', opts.tasksFolder];
  if (opts.fresh) args.push('--fresh');
  if (opts.force) args.push('--force');
  if (opts.pollMs) args.push('--poll-ms', String(opts.pollMs));
  if (opts.graceMs) args.push('--grace-ms', String(opts.graceMs));
  const child = spawn(opts.execPath ?? process.execPath, args, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, ...opts.extraEnv },
    cwd: opts.root,
  });
  fs.closeSync(logFd);
  let exitCode: number | undefined;
  let killedBy: NodeJS.Signals | null = null;
  child.on('exit', (code, signal) => {
    killedBy = signal;
    exitCode = code ?? (signal ? 128 : 1);
  });
  child.unref();
  const pid = child.pid!;
  const started = await waitFor(() => {
    if (exitCode !== undefined) return 'exited';
    const view = readTaskView(paths.tasksDir, paths.id);
    return view.state?.pid === pid ? 'started' : undefined;
  }, timeoutMs);
  if (started === 'started') return { started: true, pid };
  if (started === undefined) return { started: false, exitCode: 1, output: `the runner (pid ${pid}) did not start within ${timeoutMs}ms; see ${paths.runnerLog}` };
  const output = readFrom(paths.runnerLog, offset);
  // Killed before it could say anything (kill -9, the OOM killer): say it for it.
  const killed = killedBy ? `the runner (pid ${pid}) was killed by ${killedBy} as it started; see ${paths.runnerLog}` : '';
  return { started: false, exitCode: exitCode!, output: [output, killed].filter(Boolean).join('\n') };
}

function readFrom(file: string, offset: number): string {
  try {
    return fs.readFileSync(file).subarray(offset).toString('utf8').trim();
  } catch {
    return '';
  }
}


/**
 * Turn pause-all off and resume, detached, exactly the tasks it paused (their state says
 * pausedBy "global"). Tasks paused by a person stay paused.
 */
export async function resumeAllTasks(
  tasksDir: string,
  requestedBy: string,
  launch: Omit<LaunchOptions, 'paths' | 'mode'>,
): Promise<{ resumed: string[]; failed: { id: string; output: string }[] }> {
  requestGlobal(globalControlPath(tasksDir), 'running', requestedBy);
  const resumed: string[] = [];
  const failed: { id: string; output: string }[] = [];
  for (const id of listDefinitionIds(tasksDir)) {
    const view = readTaskView(tasksDir, id);
    if (view.problem || view.status !== 'paused' || view.state?.pausedBy !== 'global') continue;
    requestState(view.paths!, 'running', requestedBy, view);
    let launched: LaunchResult;
    try {
      launched = await launchRunner({ ...launch, paths: view.paths!, mode: 'resume' });
    } catch (err) {
      if (!(err instanceof PathError)) throw err;
      failed.push({ id, output: err.message }); // one bad run folder does not keep the others paused
      continue;
    }
    if (launched.started || launched.exitCode === 3 || launched.exitCode === 0) resumed.push(id);
    else failed.push({ id, output: launched.output });
  }
  return { resumed, failed };
}

/**
 * Forget a task's progress: state, control, checkpoint, journal, logs and step files go; the last
 * checkpoint stays in checkpoints/ (a reset can be undone by hand). Holds the lock meanwhile, so
 * no runner can start in between.
 */
export function resetTask(view: TaskView & { paths: TaskPaths }): 'done' | 'nothing' | 'locked' {
  if (!canTransition(view.status, 'reset')) throw new TransitionError(view.id, 'reset', view.status);
  const { paths } = view;
  if (!fs.existsSync(paths.runDir)) return 'nothing';
  assertRunFilesSafe(paths); // reset removes and prunes: never through a link
  const lock = acquireLock(paths.lock, 'reset');
  if (!lock.acquired) return 'locked';
  try {
    // The step a killed runner left running belongs to the run being forgotten: stop it (SIGTERM;
    // the next run also stops what is left, after the grace period, before it runs anything).
    if (view.status === 'lost') for (const pgid of groupsWithEnv(`TASK_PAUSE_REQUESTED=${paths.pauseRequested}`)) signalGroup(pgid, 'SIGTERM');
    keepPrevious(paths);
    for (const file of [paths.checkpoint, paths.journal, paths.state, paths.control, paths.pauseRequested]) fs.rmSync(file, { force: true });
    for (const dir of [paths.stepsDir, paths.logsDir]) fs.rmSync(dir, { recursive: true, force: true });
  } finally {
    lock.release();
  }
  return 'done';
}

/** Three steps of a few seconds each, with progress and an output: enough to try pause and resume on. */
export function exampleTask() {
  const work = (name: string, seconds: number) =>
    `for i in $(seq 1 ${seconds * 2}); do sleep 0.5; echo "::progress $i/${seconds * 2}"; done; echo "${name} done"`;
  return {
    name: 'Example: three steps you can pause and resume',
    steps: [
      { id: 'prepare', run: work('prepare', 4) },
      { id: 'process', run: `${work('process', 8)}; echo '{"items": 16}' > "$TASK_STEP_OUTPUT"` },
      { id: 'report', run: 'echo "processed $TASK_OUTPUT_PROCESS_ITEMS items"' },
    ],
  };
}
