/**
 * The runner's entry: read the definition, take runner.lock, run. Resolves to the exit code of
 * DESIGN.md section 4. ptask calls it in its own process (in the foreground) or as the detached
 * `__runner` process that the controllers start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../protocol/exitCodes';
import { describeHolder, holderOf } from '../protocol/holder';
import { readJsonSync } from '../protocol/jsonFile';
import { acquireLock } from '../protocol/lock';
import { assertRunFilesSafe, assertTaskPathsSafe, PathError, taskIdProblem, taskPaths, type TaskPaths } from '../protocol/paths';
import { definitionSchema, type TaskDefinition } from '../protocol/schemas';
import { noRedaction, redactor, secretValues, type Redact } from '../protocol/secrets';
import { TransitionError } from '../protocol/transitions';
import { asWriteError } from '../protocol/writeError';
import { RunnerError, type Reporter } from './reporter';
import { LockOwnership } from './ownership';
import { TaskRun } from './taskRun';

export type { Reporter } from './reporter';

export interface RunnerOptions {
  /** The workspace folder: steps' cwd is relative to it. */
  root: string;
  tasksDir: string;
  id: string;
  mode: 'run' | 'resume';
  /** The definition as its caller just read and checked it (ptask run in the foreground): not read again. */
  definition?: TaskDefinition;
  fresh?: boolean;
  force?: boolean;
  /** resume under a changed definition: follow the plan where it runs done steps again (else refused, exit 65). */
  rerunDone?: boolean;
  pollMs?: number;
  graceMs?: number;
  reporter: Reporter;
  /** SIGINT/SIGTERM/SIGHUP pause the task gracefully; a second one interrupts it. */
  handleSignals?: boolean;
  /** Whether messages go to the run folder's runner.log too, now: a foreground runner's terminal may go away. */
  toRunnerLog?: () => boolean;
}

export const DEFAULT_POLL_MS = 100;
export const DEFAULT_GRACE_MS = 3000;

export async function runTask(opts: RunnerOptions): Promise<number> {
  let paths: TaskPaths;
  let def: TaskDefinition;
  try {
    paths = taskPaths(opts.tasksDir, opts.id);
    assertTaskPathsSafe(paths);
    const read = opts.definition ? undefined : readJsonSync(paths.definition, definitionSchema);
    if (read && !read.ok) throw new RunnerError(read.error.message, EXIT.badInput);
    def = opts.definition ?? read!.value;
    assertRunFilesSafe(paths);
    prepareRunDir(paths);
  } catch (err) {
    if (err instanceof RunnerError) return fail(opts.reporter, err.message, err.exitCode);
    if (err instanceof PathError) return fail(opts.reporter, err.message, taskIdProblem(opts.id) ? EXIT.usage : EXIT.badInput);
    const failed = asWriteError(err, undefined, true);
    if (failed) return fail(opts.reporter, `cannot run '${opts.id}': ${failed.message}; nothing was run`, EXIT.failed);
    throw err;
  }
  // From here on every message and every reason written masks the values of secret env variables.
  const redact = redactor(secretValues(def, process.env));
  let disowned = false;
  const toRunnerLog = opts.toRunnerLog;
  const reporter = redacting(toRunnerLog ? teeToFile(opts.reporter, paths.runnerLog, () => !disowned && toRunnerLog()) : opts.reporter, redact);
  let lock: ReturnType<typeof acquireLock>;
  try {
    lock = acquireLock(paths.lock, 'run');
  } catch (err) {
    const failed = asWriteError(err);
    if (!failed) throw err;
    return fail(reporter, `cannot run '${opts.id}': ${failed.message}; nothing was run`, EXIT.failed);
  }
  if (!lock.acquired) return fail(reporter, describeHolder(opts.id, holderOf(lock.holder, paths.lock)), EXIT.locked);
  const run = new TaskRun(
    {
      root: opts.root,
      mode: opts.mode,
      fresh: opts.fresh,
      force: opts.force,
      rerunDone: opts.rerunDone,
      pollMs: opts.pollMs ?? DEFAULT_POLL_MS,
      graceMs: opts.graceMs ?? DEFAULT_GRACE_MS,
      reporter,
      handleSignals: opts.handleSignals,
      ownership: new LockOwnership(paths.lock),
      onDisowned: () => (disowned = true),
    },
    paths,
    def,
    redact,
  );
  try {
    return await run.execute();
  } catch (err) {
    if (err instanceof RunnerError) return fail(reporter, err.message, err.exitCode);
    if (err instanceof TransitionError) return fail(reporter, err.message, EXIT.usage);
    return run.fatal(err as Error);
  } finally {
    run.dispose();
    try {
      lock.release();
    } catch (err) {
      // A read-only disk keeps the lock file; its pid is gone, so the next runner takes it over.
      if (!asWriteError(err)) throw err;
    }
  }
}

function redacting(reporter: Reporter, redact: Redact): Reporter {
  if (redact === noRedaction) return reporter;
  return { info: (m) => reporter.info(redact(m)), error: (m) => reporter.error(redact(m)) };
}

/** Messages also go to `file` while `now()`, stamped; a write that fails (a full disk) is skipped, never fatal. */
function teeToFile(reporter: Reporter, file: string, now: () => boolean): Reporter {
  const append = (m: string) => {
    if (!now()) return;
    try {
      fs.appendFileSync(file, `${new Date().toISOString()} ${m}\n`);
    } catch {
      // the message still went to the terminal, if there is one
    }
  };
  return {
    info: (m) => (append(m), reporter.info(m)),
    error: (m) => (append(m), reporter.error(m)),
  };
}

function fail(reporter: Reporter, message: string, code: number): number {
  reporter.error(message);
  return code;
}

function prepareRunDir(paths: TaskPaths): void {
  for (const dir of [paths.runDir, paths.logsDir, paths.stepsDir]) fs.mkdirSync(dir, { recursive: true });
  const gitignore = path.join(paths.tasksDir, '.gitignore');
  if (!fs.existsSync(gitignore)) {
    // Definitions are shared through git; run folders are this machine's business.
    fs.writeFileSync(gitignore, '# Written by Pausable Tasks: run folders stay local, definitions are kept.\n*/\n.control.json\n', { flag: 'wx' });
  }
}
