/**
 * `ptask`: the runner's entry point, doubling as the CLI that runs and controls tasks from a
 * terminal, a script or CI, through the same files as the extension.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { formatDuration } from '../protocol/duration';
import { EXIT } from '../protocol/exitCodes';
import { FileError } from '../protocol/jsonFile';
import { taskJsonSchema } from '../protocol/jsonSchema';
import { assertRunFilesSafe, DEFAULT_TASKS_FOLDER, listDefinitionIds, PathError, taskIdProblem, tasksDirOf, tasksDirProblem, type TaskPaths } from '../protocol/paths';
import { asWriteError } from '../protocol/writeError';
import { readTaskView, summarize, type TaskSummary, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES, canTransition, TransitionError, type Request } from '../protocol/transitions';
import { checkResumable, runTask, RunnerError, type Reporter } from '../runner/runner';
import { exampleTask, launchRunner, readGlobalControl, requestGlobal, requestState, resetTask, resumeAllTasks, waitFor } from './controller';
import { COMMAND_HELP, MAIN_HELP } from './help';

const VERSION = '0.1.0';

class UsageError extends Error {}
class CliExit extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

interface Context {
  root: string;
  tasksFolder: string;
  tasksDir: string;
  values: Record<string, string | boolean | undefined>;
  args: string[];
}

const OPTIONS = {
  root: { type: 'string' },
  'tasks-folder': { type: 'string' },
  json: { type: 'boolean' },
  detach: { type: 'boolean' },
  fresh: { type: 'boolean' },
  force: { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  'poll-ms': { type: 'string' },
  'grace-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** Which options each command takes (besides --root, --tasks-folder and --help). */
const COMMANDS: Record<string, { args: string[]; options: string[]; run: (ctx: Context) => Promise<number> | number }> = {
  list: { args: [], options: ['json'], run: list },
  status: { args: ['id'], options: ['json'], run: status },
  run: { args: ['id'], options: ['detach', 'fresh', 'poll-ms', 'grace-ms'], run: (ctx) => start(ctx, 'run') },
  resume: { args: ['id'], options: ['detach', 'force', 'poll-ms', 'grace-ms'], run: (ctx) => start(ctx, 'resume') },
  pause: { args: ['id'], options: ['wait', 'timeout'], run: (ctx) => control(ctx, 'pause') },
  interrupt: { args: ['id'], options: ['wait', 'timeout'], run: (ctx) => control(ctx, 'interrupt') },
  'pause-all': { args: [], options: [], run: pauseAll },
  'resume-all': { args: [], options: [], run: resumeAll },
  reset: { args: ['id'], options: [], run: reset },
  init: { args: [], options: [], run: init },
  __runner: { args: ['mode', 'id'], options: ['fresh', 'force', 'poll-ms', 'grace-ms'], run: detachedRunner },
  // Prints the JSON Schema of task files: the build writes it to dist/task.schema.json.
  __schema: { args: [], options: [], run: () => print(JSON.stringify(taskJsonSchema(), null, 2)) },
};

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    return usage(`${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  const [name, ...args] = positionals;
  if (values.version) return print(VERSION);
  if (!name) return values.help ? print(MAIN_HELP) : usage('no command given');
  const command = COMMANDS[name];
  if (!command) return usage(`unknown command "${name}"`);
  if (values.help) return print(COMMAND_HELP[name] ?? MAIN_HELP);
  for (const key of Object.keys(values)) {
    if (!['root', 'tasks-folder', 'help'].includes(key) && !command.options.includes(key)) return usage(`${name} does not take --${key}`, name);
  }
  if (args.length !== command.args.length)
    return usage(`${name} takes ${command.args.length ? command.args.map((a) => `<${a}>`).join(' ') : 'no arguments'}`, name);
  const root = path.resolve((values.root as string | undefined) ?? '.');
  const tasksFolder = (values['tasks-folder'] as string | undefined) ?? DEFAULT_TASKS_FOLDER;
  if (tasksFolder.includes('/') || tasksFolder.includes('\\') || tasksFolder === '..') return usage('--tasks-folder is a folder name, not a path');
  const ctx: Context = { root, tasksFolder, tasksDir: tasksDirOf(root, tasksFolder), values, args };
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message, name);
    if (err instanceof CliExit) {
      console.error(`ptask: ${err.message}`);
      return err.code;
    }
    if (err instanceof TransitionError) {
      console.error(`ptask: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof FileError) {
      console.error(`ptask: ${err.message}`);
      return EXIT.badInput;
    }
    if (err instanceof PathError) {
      console.error(`ptask: ${err.message}`);
      return EXIT.badInput;
    }
    // A full or read-only disk is not a bug: say which file, without a stack trace.
    const failed = asWriteError(err);
    if (failed) {
      console.error(`ptask: cannot ${name}: ${failed.message}`);
      return EXIT.failed;
    }
    throw err;
  }
}

function print(text: string): number {
  console.log(text);
  return 0;
}

function usage(message: string, command?: string): number {
  console.error(`ptask: ${message}\nRun 'ptask ${command ? `${command} ` : ''}--help' for usage.`);
  return EXIT.usage;
}

// ---- reading ---------------------------------------------------------------------------------

function requireTasksDir(ctx: Context): void {
  if (!fs.existsSync(ctx.tasksDir)) throw new CliExit(`${ctx.tasksDir}: no tasks folder here (use --root <folder containing ${ctx.tasksFolder}>)`, EXIT.badInput);
  const problem = tasksDirProblem(ctx.tasksDir);
  if (problem) throw new CliExit(problem, EXIT.badInput);
}

/**
 * The task's view; bad ids are usage errors, missing or invalid definitions bad input. Commands
 * that change something (`forWrite`) also refuse a damaged state or control file.
 */
function viewOf(ctx: Context, id: string, forWrite = true): TaskView & { paths: TaskPaths } {
  const problem = taskIdProblem(id);
  if (problem) throw new UsageError(problem);
  requireTasksDir(ctx);
  const view = readTaskView(ctx.tasksDir, id);
  if (view.problem) throw new CliExit(view.problem, EXIT.badInput);
  if (forWrite && view.fileProblems.length) throw new CliExit(view.fileProblems.join('\n'), EXIT.badInput);
  for (const p of view.fileProblems) console.error(`ptask: warning: ${p}`);
  return view as TaskView & { paths: TaskPaths };
}

function list(ctx: Context): number {
  requireTasksDir(ctx);
  const summaries = listDefinitionIds(ctx.tasksDir).map((id) => summarize(readTaskView(ctx.tasksDir, id)));
  if (ctx.values.json) return print(JSON.stringify(summaries, null, 2));
  if (!summaries.length) return print(`No tasks in ${ctx.tasksDir}. A task is a JSON file there; see 'ptask --help'.`);
  const rows = summaries.map((s) => [s.id, s.valid ? s.status : 'invalid', s.valid ? `${s.stepsDone}/${s.stepsTotal}` : '', s.valid ? describeNow(s) : (s.error ?? '')]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), ['ID', 'STATUS', 'STEPS'][i].length));
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c)).join('  ').trimEnd();
  return print([line(['ID', 'STATUS', 'STEPS', 'NOW']), ...rows.map(line)].join('\n'));
}

/** "14:05:09" in local time: enough for a time within the next hours. */
const clock = (iso: string) => new Date(iso).toTimeString().slice(0, 8);

function describeNow(s: TaskSummary): string {
  const step = s.currentStep;
  if (step) return `${step.id}${s.progress ? ` ${s.progress.done}/${s.progress.total}` : ''}${step.attempt > 1 ? ` (attempt ${step.attempt})` : ''}`;
  if (s.status === 'paused' && s.pausedBy === 'global') return 'paused by pause-all';
  if (s.status === 'paused' && s.resumeAt) return `${s.reason ?? 'paused on a failure'}; resumes by itself at ${clock(s.resumeAt)}`;
  return s.reason ?? '';
}

function status(ctx: Context): number {
  const view = viewOf(ctx, ctx.args[0], false);
  const s = summarize(view);
  if (ctx.values.json) return print(JSON.stringify(s, null, 2));
  const lines = [`${s.id}: ${s.status}${s.name ? ` (${s.name})` : ''}`, `  steps     ${s.stepsDone}/${s.stepsTotal} done`];
  if (s.currentStep) lines.push(`  now       ${describeNow(s)} since ${s.currentStep.startedAt}`);
  if (s.reason) lines.push(`  reason    ${s.reason}`);
  if (s.items) lines.push(`  items     ${s.items.done}/${s.items.total} done, ${s.items.running} running${s.items.failed ? `, ${s.items.failed} failed` : ''}`);
  if (s.pausedBy && (s.status === 'paused' || s.status === 'pausing')) lines.push(`  paused by ${s.pausedBy}`);
  if (s.resumeAt) {
    const attempt = s.autoResume ? ` (automatic resume ${s.autoResume.attempt} of ${s.autoResume.maxAttempts})` : '';
    const who = s.waiting ? `its runner (pid ${s.pid}) is waiting` : `no runner is waiting: the next 'ptask resume' or VS Code resumes it`;
    lines.push(`  resumes   at ${s.resumeAt}${attempt}; ${who}`);
  }
  if (s.runId) lines.push(`  run       ${s.runId} started ${s.startedAt}${s.endedAt ? `, ended ${s.endedAt}` : ''}`);
  if (s.desired) lines.push(`  control   ${s.desired} (request ${s.requestedSeq}, ${s.requestedSeq! <= (s.appliedSeq ?? 0) ? 'applied' : 'not applied yet'})`);
  if (view.state && s.updatedAt) lines.push(`  updated   ${formatDuration(Date.now() - Date.parse(s.updatedAt))} ago`);
  return print(lines.join('\n'));
}

// ---- running ---------------------------------------------------------------------------------

function consoleReporter(stamp: 'time' | 'iso'): Reporter {
  const at = () => (stamp === 'iso' ? new Date().toISOString() : new Date().toTimeString().slice(0, 8));
  return {
    info: (m) => console.log(`${at()} ${m}`),
    error: (m) => console.error(`${at()} ${m}`),
  };
}

function numberOption(ctx: Context, name: string): number | undefined {
  const raw = ctx.values[name] as string | undefined;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} takes a positive whole number of milliseconds`);
  return n;
}

async function start(ctx: Context, mode: 'run' | 'resume'): Promise<number> {
  const view = viewOf(ctx, ctx.args[0]);
  const request: Request = mode === 'resume' ? 'resume' : ctx.values.fresh ? 'runFresh' : 'run';
  if (ACTIVE_STATES.has(view.status)) {
    if (mode === 'run') throw new CliExit(`'${view.id}' is ${view.status} (runner pid ${view.state?.pid})`, EXIT.locked);
    // Resume of a live task: cancel a pending pause; the runner is already there.
    requestState(view.paths, 'running', 'cli', view);
    console.log(view.status === 'pausing' ? `Resumed '${view.id}': the pause is cancelled` : `'${view.id}' is already ${view.status}`);
    return EXIT.completed;
  }
  if (view.waiting) return resumeWaiting(view, request);
  if (!canTransition(view.status, request)) throw new TransitionError(view.id, request, view.status);
  assertRunFilesSafe(view.paths); // before control.json is written: a refused run changes nothing
  if (mode === 'resume') {
    try {
      checkResumable(view.paths, view.definition!, Boolean(ctx.values.force));
    } catch (err) {
      if (err instanceof RunnerError) throw new CliExit(err.message, err.exitCode);
      throw err;
    }
  }
  refuseWhilePausedForAll(view.paths);
  requestState(view.paths, 'running', 'cli', view);
  if (ctx.values.detach) {
    const launched = await launchRunner({
      runnerScript: process.argv[1],
      root: ctx.root,
      tasksFolder: ctx.tasksFolder,
      paths: view.paths,
      mode,
      fresh: Boolean(ctx.values.fresh),
      force: Boolean(ctx.values.force),
      pollMs: numberOption(ctx, 'poll-ms'),
      graceMs: numberOption(ctx, 'grace-ms'),
    });
    if (launched.started) return print(`Started '${view.id}' in the background (runner pid ${launched.pid}); follow it with: ptask status ${view.id}`);
    if (launched.exitCode === EXIT.locked && mode === 'resume') return print(`'${view.id}' is already being resumed by another runner`);
    if (launched.output) console.error(launched.output);
    return launched.exitCode;
  }
  return runTask({
    root: ctx.root,
    tasksDir: ctx.tasksDir,
    id: view.id,
    mode,
    fresh: Boolean(ctx.values.fresh),
    force: Boolean(ctx.values.force),
    pollMs: numberOption(ctx, 'poll-ms'),
    graceMs: numberOption(ctx, 'grace-ms'),
    reporter: consoleReporter('time'),
    handleSignals: true,
  });
}

/** No task starts or resumes while pause-all is on. */
function refuseWhilePausedForAll(paths: TaskPaths): void {
  if (readGlobalControl(paths.globalControl)?.desired === 'paused') throw new CliExit(`every task is paused (pause-all is on): run 'ptask resume-all' first`, EXIT.paused);
}

/**
 * A task paused by a failure whose runner is alive, waiting to resume it at resumeAt: that runner
 * resumes it now when asked; starting another would only find the lock taken.
 */
function resumeWaiting(view: TaskView & { paths: TaskPaths }, request: Request): number {
  if (!canTransition(view.status, request, true)) throw new TransitionError(view.id, request, view.status, true);
  refuseWhilePausedForAll(view.paths);
  requestState(view.paths, 'running', 'cli', view);
  return print(`Resuming '${view.id}' now: its runner (pid ${view.state?.pid}) was waiting to resume it at ${view.state?.resumeAt}; follow it with: ptask status ${view.id}`);
}

/** The runner process started by launchRunner: its output goes to runner.log. */
async function detachedRunner(ctx: Context): Promise<number> {
  const [mode, id] = ctx.args;
  if (mode !== 'run' && mode !== 'resume') throw new UsageError('mode is run or resume');
  return runTask({
    root: ctx.root,
    tasksDir: ctx.tasksDir,
    id,
    mode,
    fresh: Boolean(ctx.values.fresh),
    force: Boolean(ctx.values.force),
    pollMs: numberOption(ctx, 'poll-ms'),
    graceMs: numberOption(ctx, 'grace-ms'),
    reporter: consoleReporter('iso'),
    handleSignals: true,
  });
}

// ---- controlling -----------------------------------------------------------------------------

function waitTimeout(ctx: Context): number {
  const raw = ctx.values.timeout as string | undefined;
  if (raw === undefined) return Number.MAX_SAFE_INTEGER;
  const seconds = Number(raw);
  if (!(seconds > 0)) throw new UsageError('--timeout takes a number of seconds');
  return seconds * 1000;
}

async function control(ctx: Context, request: 'pause' | 'interrupt'): Promise<number> {
  const view = viewOf(ctx, ctx.args[0]);
  const waiting = Boolean(view.waiting);
  if (!canTransition(view.status, request, waiting)) throw new TransitionError(view.id, request, view.status, waiting);
  if ((view.status === 'paused' && !waiting) || view.status === 'interrupting') return print(`'${view.id}' is already ${view.status}`);
  const control = requestState(view.paths, request === 'pause' ? 'paused' : 'interrupted', 'cli', view);
  if (!ctx.values.wait) {
    if (waiting) return print(`${request === 'pause' ? 'Pausing' : 'Interrupting'} '${view.id}': its runner stops waiting to resume it (request ${control.seq})`);
    return print(request === 'pause' ? `Pausing '${view.id}' after the step in flight (request ${control.seq})` : `Interrupting '${view.id}' (request ${control.seq})`);
  }
  const target = request === 'pause' ? 'paused' : 'interrupted';
  // Any end counts: paused or interrupted as asked, or completed, failed or lost meanwhile.
  const final = await waitFor(() => {
    const now = readTaskView(ctx.tasksDir, view.id);
    return !ACTIVE_STATES.has(now.status) && !now.waiting && now;
  }, waitTimeout(ctx));
  if (!final) throw new CliExit(`'${view.id}' did not become ${target} within ${ctx.values.timeout}s`, EXIT.failed);
  console.log(`'${view.id}' is ${final.status}${final.state?.reason ? `: ${final.state.reason}` : ''}`);
  if (final.status === target || final.status === 'completed') return EXIT.completed;
  return final.status === 'paused' ? EXIT.paused : final.status === 'interrupted' ? EXIT.interrupted : EXIT.failed;
}

function pauseAll(ctx: Context): number {
  requireTasksDir(ctx);
  const control = requestGlobal(path.join(ctx.tasksDir, '.control.json'), 'paused', 'cli');
  const running = listDefinitionIds(ctx.tasksDir).filter((id) => ACTIVE_STATES.has(readTaskView(ctx.tasksDir, id).status));
  return print(`Pause all is on (request ${control.seq}): no task starts${running.length ? `; pausing ${running.join(', ')} after their steps in flight` : ''}`);
}

async function resumeAll(ctx: Context): Promise<number> {
  requireTasksDir(ctx);
  const { resumed, failed } = await resumeAllTasks(ctx.tasksDir, 'cli', { runnerScript: process.argv[1], root: ctx.root, tasksFolder: ctx.tasksFolder });
  for (const { id, output } of failed) console.error(`ptask: could not resume '${id}': ${output}`);
  return print(`Pause all is off${resumed.length ? `; resumed ${resumed.join(', ')}` : ''}`);
}

/** For people who start from a terminal: a .tasks folder with a task to try. */
function init(ctx: Context): number {
  fs.mkdirSync(ctx.tasksDir, { recursive: true });
  const file = path.join(ctx.tasksDir, 'example.json');
  if (fs.existsSync(file)) return print(`${file} exists already. Try it: ptask run example`);
  fs.writeFileSync(file, JSON.stringify(exampleTask(), null, 2) + '\n', { flag: 'wx' });
  return print(
    [
      `Created ${file}: three steps of a few seconds each.`,
      '',
      '  ptask run example            run it here; Ctrl+C pauses after the step in flight',
      '  ptask resume example         carry on from the checkpoint',
      '  ptask run example --detach   or in the background, then: ptask pause example --wait',
      '  ptask list                   every task and its state',
      '',
      `Edit it, or add more .json files beside it: one task per file, the file name is the task id.`,
    ].join('\n'),
  );
}

function reset(ctx: Context): number {
  const view = viewOf(ctx, ctx.args[0]);
  const result = resetTask(view);
  if (result === 'locked') throw new CliExit(`'${view.id}' is held by another runner`, EXIT.locked);
  if (result === 'nothing') return print(`'${view.id}' has not run: nothing to reset`);
  return print(`Reset '${view.id}': it will start from its first step; earlier checkpoints are kept in ${view.paths.checkpointsDir}`);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`ptask: unexpected error: ${(err as Error).stack ?? err}`);
      process.exitCode = EXIT.failed;
    },
  );
}
