/**
 * Control reaches the runner only by starting it: a detached process that outlives this one, the
 * terminal and VS Code. Its exit codes are read here, and only here.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { caCertsSetAside } from '../protocol/caCerts';
import { EXIT } from '../protocol/exitCodes';
import { describeHolder, holderOf } from '../protocol/holder';
import { readRunnerLock } from '../protocol/lock';
import { assertRunFilesSafe, type TaskPaths } from '../protocol/paths';
import type { RunnerState } from '../protocol/schemas';
import { readTaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import type { Refusal } from './outcomes';

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
  /** resume under a changed definition: follow the plan where it runs done steps again (else refused, exit 65). */
  rerunDone?: boolean;
  pollMs?: number;
  graceMs?: number;
  extraEnv?: NodeJS.ProcessEnv;
}

const MAX_RUNNER_LOG = 1024 * 1024;

type LaunchResult = { started: true; pid: number } | { started: false; exitCode: number; output: string };

/**
 * Start a detached runner (it outlives this process, the terminal and VS Code) and wait until it
 * has taken the task (its state.json names it) or has exited (its code and what it printed).
 */
async function launchRunner(opts: LaunchOptions, timeoutMs = 15_000): Promise<LaunchResult> {
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
  if (opts.rerunDone) args.push('--rerun-done');
  if (opts.pollMs) args.push('--poll-ms', String(opts.pollMs));
  if (opts.graceMs) args.push('--grace-ms', String(opts.graceMs));
  const child = spawn(opts.execPath ?? process.execPath, args, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: caCertsSetAside({ ...process.env, ...opts.extraEnv }),
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

export type LaunchOutcome =
  | { kind: 'started'; pid: number }
  /** It ended before it was seen holding the task: a task that finished at once, or one it refused (its output says why). */
  | { kind: 'ended'; exitCode: number; output: string }
  | Extract<Refusal, { kind: 'held' }>;

/** Start a detached runner and say what came of it; a runner that met the lock taken says who holds it. */
export async function launch(opts: LaunchOptions): Promise<LaunchOutcome> {
  const launched = await launchRunner(opts);
  if (launched.started) return { kind: 'started', pid: launched.pid };
  if (launched.exitCode === EXIT.locked) {
    const lock = readRunnerLock(opts.paths.lock);
    // Gone already: the runner that held it has finished since.
    const holder = lock ? holderOf(lock, opts.paths.lock) : { by: 'runner' as const, pid: 0, host: '', lockFile: opts.paths.lock };
    return { kind: 'held', holder, message: describeHolder(opts.paths.id, holder) };
  }
  return { kind: 'ended', exitCode: launched.exitCode, output: launched.output };
}

/**
 * After a request to a live runner: did it take it (`taken(state)`), or did it stop first? A runner
 * that is writing its final pause as the request lands stops without it; the caller then starts
 * a new one, so that no request is reported done that was not. 'unknown' after the deadline.
 */
export async function untilTaken(paths: TaskPaths, taken: (state: RunnerState) => boolean, timeoutMs = 5000): Promise<'taken' | 'stopped' | 'unknown'> {
  const seen = await waitFor(() => {
    const now = readTaskView(paths.tasksDir, paths.id);
    if (now.state && taken(now.state)) return 'taken';
    return !ACTIVE_STATES.has(now.status) && !now.waiting && 'stopped';
  }, timeoutMs);
  return seen ?? 'unknown';
}
