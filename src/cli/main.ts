/**
 * `ptask`: the runner's entry point, doubling as the CLI that runs and controls tasks from a
 * terminal, a script or CI, through the same files as the extension.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { pauseAll as requestPauseAll, resumeAll as requestResumeAll } from '../control/all';
import { exampleTask } from '../control/example';
import { editItem, type ItemEdit } from '../control/items';
import type { Refusal } from '../control/outcomes';
import { resetTask } from '../control/reset';
import { startTask } from '../control/start';
import { stopTask, waitUntilStopped } from '../control/stop';
import { formatDuration } from '../protocol/duration';
import { EXIT } from '../protocol/exitCodes';
import { itemsReport } from '../protocol/itemRows';
import { taskJsonSchema } from '../protocol/jsonSchema';
import { DEFAULT_TASKS_FOLDER, listDefinitionIds, stepLogPath, taskIdProblem, tasksDirOf, tasksDirProblem, type TaskPaths } from '../protocol/paths';
import { runPlan } from '../protocol/plan';
import { upToDateIn } from '../protocol/upToDate';
import { resumability } from '../protocol/resumable';
import { describeSlurmJob, readTaskView, runsOnRegardless, summarize, type TaskSummary, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES, canTransition } from '../protocol/transitions';
import { asWriteError } from '../protocol/writeError';
import { runTask, type Reporter } from '../runner/entry';
import { logStepOf } from '../protocol/follow';
import { followLogs, followTask } from './follow';
import { formatItems } from './items';
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
  failed: { type: 'boolean' },
  watch: { type: 'boolean' },
  follow: { type: 'boolean' },
  detach: { type: 'boolean' },
  fresh: { type: 'boolean' },
  force: { type: 'boolean' },
  'rerun-done': { type: 'boolean' },
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
  status: { args: ['id'], options: ['json', 'watch'], run: status },
  logs: { args: ['id', 'step?'], options: ['follow'], run: logs },
  run: { args: ['id'], options: ['detach', 'fresh', 'poll-ms', 'grace-ms'], run: (ctx) => start(ctx, 'run') },
  resume: { args: ['id'], options: ['detach', 'force', 'poll-ms', 'grace-ms'], run: (ctx) => start(ctx, 'resume') },
  pause: { args: ['id'], options: ['wait', 'timeout'], run: (ctx) => control(ctx, 'pause') },
  interrupt: { args: ['id'], options: ['wait', 'timeout'], run: (ctx) => control(ctx, 'interrupt') },
  'pause-all': { args: [], options: [], run: pauseAll },
  'resume-all': { args: [], options: [], run: resumeAll },
  reset: { args: ['id'], options: [], run: reset },
  plan: { args: ['id'], options: ['json', 'force'], run: plan },
  items: { args: ['id', 'step'], options: ['json', 'failed'], run: items },
  'skip-item': { args: ['id', 'step', 'index'], options: [], run: (ctx) => editItemCommand(ctx, 'skip') },
  'retry-item': { args: ['id', 'step', 'index'], options: [], run: (ctx) => editItemCommand(ctx, 'retry') },
  init: { args: [], options: [], run: init },
  __runner: { args: ['mode', 'id'], options: ['fresh', 'force', 'rerun-done', 'poll-ms', 'grace-ms'], run: detachedRunner },
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
  // An argument named "step?" may be left out.
  const required = command.args.filter((a) => !a.endsWith('?')).length;
  if (args.length < required || args.length > command.args.length)
    return usage(`${name} takes ${command.args.length ? command.args.map((a) => (a.endsWith('?') ? `[<${a.slice(0, -1)}>]` : `<${a}>`)).join(' ') : 'no arguments'}`, name);
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

/** The task's view; bad or unknown ids are usage errors, invalid definitions bad input (damaged run files are control's to refuse). */
function viewOf(ctx: Context, id: string): TaskView & { paths: TaskPaths } {
  const problem = taskIdProblem(id);
  if (problem) throw new UsageError(problem);
  requireTasksDir(ctx);
  const view = readTaskView(ctx.tasksDir, id);
  // A definition broken or gone while its runner runs: that runner goes on with its own copy, and can still be asked.
  const live = runsOnRegardless(view);
  if (view.paths && !fs.existsSync(view.paths.definition) && !live) {
    const ids = listDefinitionIds(ctx.tasksDir);
    throw new UsageError(`no task '${id}' in ${ctx.tasksDir}: ${ids.length ? `the tasks there are ${ids.join(', ')}` : `it has none (a task is a file <id>.json there)`}`);
  }
  if (view.problem && !live) throw new CliExit(view.problem, EXIT.badInput);
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
  if (step) return `${step.id}${s.progress ? ` ${s.progress.done}/${s.progress.total}` : ''}${step.attempt > 1 ? ` (attempt ${step.attempt})` : ''}${s.alsoRunning ? ` and ${s.alsoRunning.map((a) => a.id).join(', ')}` : ''}`;
  if (s.status === 'paused' && s.pausedBy === 'global') return 'paused by pause-all';
  if (s.status === 'paused' && s.resumeAt) return `${s.reason ?? 'paused on a failure'}; resumes by itself at ${clock(s.resumeAt)}`;
  return s.reason ?? '';
}

async function status(ctx: Context): Promise<number> {
  const view = viewOf(ctx, ctx.args[0]);
  for (const p of view.fileProblems) console.error(`ptask: warning: ${p}`);
  if (ctx.values.json && ctx.values.watch) throw new UsageError('status takes --json or --watch, not both');
  if (ctx.values.watch) {
    // Printed again whenever it changes (its "updated … ago" aside), until no runner runs the task.
    let last = '';
    await followTask(ctx.tasksDir, view.id, (now) => {
      const text = statusText(now);
      const key = text.replace(/\n {2}updated .*$/, '');
      if (key === last) return;
      process.stdout.write(`${process.stdout.isTTY ? '\x1b[H\x1b[2J' : last ? '\n' : ''}${text}\n`);
      last = key;
    });
    return 0;
  }
  const s = summarize(view);
  if (ctx.values.json) return print(JSON.stringify({ ...s, failedItems: failedItemsOf(view, s) }, null, 2));
  return print(statusText(view));
}

/** `ptask status` in words. */
function statusText(view: TaskView): string {
  const s = summarize(view);
  const lines = [`${s.id}: ${s.status}${s.name ? ` (${s.name})` : ''}`, `  steps     ${s.stepsDone}/${s.stepsTotal} done`];
  if (view.definitionProblem) lines.push(`  definition ${view.definitionProblem}; the run goes on with the definition it started from`);
  else if (s.definitionChanged) lines.push(`  definition changed since this run started: it takes effect on the next run`);
  if (s.currentStep) lines.push(`  now       ${describeNow(s)} since ${s.currentStep.startedAt}`);
  for (const also of s.alsoRunning ?? []) lines.push(`  and       ${also.id}${also.progress ? ` ${also.progress.done}/${also.progress.total}` : ''}${also.items ? ` ${also.items.done}/${also.items.total} items` : ''} since ${also.startedAt}`);
  if (s.reason) lines.push(`  reason    ${s.reason}`);
  if (s.items) lines.push(`  items     ${s.items.done}/${s.items.total} done, ${s.items.running} running${s.items.failed ? `, ${s.items.failed} failed` : ''}${s.items.skipped ? `, ${s.items.skipped} skipped` : ''}${s.items.failed && !s.currentStep ? ` (see: ptask items ${s.id} ${s.stoppedIn} --failed)` : ''}`);
  if (s.pausedBy && (s.status === 'paused' || s.status === 'pausing')) lines.push(`  paused by ${s.pausedBy}`);
  for (const job of s.slurm ?? []) lines.push(`  slurm     ${describeSlurmJob(job)}`);
  if (s.adopted) lines.push(`  adopted   from the lost runner: ${s.adopted.running} attempt(s) still running, ${s.adopted.ended} that had ended while no runner watched`);
  if (s.resumeAt) {
    const attempt = s.autoResume ? ` (automatic resume ${s.autoResume.attempt} of ${s.autoResume.maxAttempts})` : '';
    const who = s.waiting ? `its runner (pid ${s.pid}) is waiting` : `no runner is waiting: the next 'ptask resume' or VS Code resumes it`;
    lines.push(`  resumes   at ${s.resumeAt}${attempt}; ${who}`);
  }
  if (s.runId) lines.push(`  run       ${s.runId} started ${s.startedAt}${s.endedAt ? `, ended ${s.endedAt}` : ''}`);
  if (s.desired) lines.push(`  control   ${s.desired} (request ${s.requestedSeq}, ${s.requestedSeq! <= (s.appliedSeq ?? 0) ? 'applied' : 'not applied yet'})`);
  if (view.state && s.updatedAt) lines.push(`  updated   ${formatDuration(Date.now() - Date.parse(s.updatedAt))} ago`);
  return lines.join('\n');
}

/** A step's log (the one in flight, or the one the run stopped in, by default); --follow: as it grows, step after step, until the task stops. */
async function logs(ctx: Context): Promise<number> {
  const view = viewOf(ctx, ctx.args[0]);
  const asked = ctx.args[1];
  if (asked !== undefined && view.definition && !view.definition.steps.some((s) => s.id === asked))
    throw new UsageError(`'${view.id}' has no step '${asked}' (its steps: ${view.definition.steps.map((s) => s.id).join(', ')})`);
  if (ctx.values.follow) {
    await followLogs(view, asked, (chunk) => process.stdout.write(chunk));
    return 0;
  }
  // Else the last step that left a log (a completed run's last step).
  const step = logStepOf(view, asked) ?? view.definition?.steps.map((s) => s.id).reverse().find((id) => fs.existsSync(stepLogPath(view.paths, id)));
  if (!step) throw new CliExit(`'${view.id}' has no log yet: it has not run (name a step: ptask logs ${view.id} <step>)`, EXIT.usage);
  const file = stepLogPath(view.paths, step);
  if (!fs.existsSync(file)) throw new CliExit(`${file}: no log yet: step '${step}' has not run in this run`, EXIT.usage);
  process.stdout.write(fs.readFileSync(file));
  return 0;
}

// ---- running ---------------------------------------------------------------------------------

function consoleReporter(stamp: 'time' | 'iso'): Reporter {
  // The clock made once a second: a chain of quick steps prints a line each.
  let second = -1;
  let clock = '';
  const time = () => {
    const now = Date.now();
    if (Math.floor(now / 1000) !== second) [second, clock] = [Math.floor(now / 1000), new Date(now).toTimeString().slice(0, 8)];
    return clock;
  };
  const at = () => (stamp === 'iso' ? new Date().toISOString() : time());
  // The lines of one turn of the event loop go out in one write (ten steps' of a quick chain), and
  // before any error line, so that the order stays as it was said.
  let pending: string[] = [];
  const flush = () => {
    if (!pending.length) return;
    const text = pending.join('\n');
    pending = [];
    console.log(text);
  };
  process.on('exit', flush);
  return {
    info: (m) => {
      if (pending.push(`${at()} ${m}`) === 1) setImmediate(flush);
    },
    error: (m) => {
      flush();
      console.error(`${at()} ${m}`);
    },
  };
}

function numberOption(ctx: Context, name: string): number | undefined {
  const raw = ctx.values[name] as string | undefined;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} takes a positive whole number of milliseconds`);
  return n;
}

/** A refusal in words, on stderr, and its exit code. */
function refused(r: Refusal): number {
  console.error(`ptask: ${r.message}`);
  return REFUSAL_EXIT[r.kind];
}

const REFUSAL_EXIT: Record<Refusal['kind'], number> = {
  notAllowed: EXIT.usage,
  pausedForAll: EXIT.paused,
  changed: EXIT.badInput,
  badFile: EXIT.badInput,
  held: EXIT.locked,
  cannotWrite: EXIT.failed,
  notApplicable: EXIT.usage,
};

async function start(ctx: Context, mode: 'run' | 'resume'): Promise<number> {
  const view = viewOf(ctx, ctx.args[0]);
  const options = { fresh: Boolean(ctx.values.fresh), force: Boolean(ctx.values.force), pollMs: numberOption(ctx, 'poll-ms'), graceMs: numberOption(ctx, 'grace-ms') };
  const detach = ctx.values.detach ? { runnerScript: process.argv[1], root: ctx.root, tasksFolder: ctx.tasksFolder, pollMs: options.pollMs, graceMs: options.graceMs } : undefined;
  // A resume asked in a terminal follows the plan, done steps that changed included (ptask plan shows it first).
  const outcome = await startTask(view, { mode, fresh: options.fresh, force: options.force, rerunDone: true, requestedBy: 'cli', detach });
  switch (outcome.kind) {
    case 'ready':
      return runTask({ root: ctx.root, tasksDir: ctx.tasksDir, id: view.id, mode, definition: view.definition, ...options, rerunDone: true, reporter: consoleReporter('time'), handleSignals: true, toRunnerLog: () => output.lost });
    case 'started':
      return print(`Started '${view.id}' in the background (runner pid ${outcome.pid}); follow it with: ptask status ${view.id}`);
    case 'ended':
      if (outcome.output) console.error(outcome.output);
      return outcome.exitCode;
    case 'liveRunner':
      return print(outcome.status === 'pausing' ? `Resumed '${view.id}': the pause is cancelled` : `'${view.id}' is already ${outcome.status}`);
    case 'waitCut':
      return print(`Resuming '${view.id}' now: its runner (pid ${outcome.pid}) was waiting to resume it${outcome.resumeAt ? ` at ${clock(outcome.resumeAt)}` : ''}; follow it with: ptask status ${view.id}`);
    case 'held':
      // Another resume got there first: the task is being resumed, which is what was asked.
      if (mode === 'resume' && ctx.values.detach && outcome.holder.by === 'runner') return print(`'${view.id}' is already being resumed by another runner`);
      return refused(outcome);
    default:
      return refused(outcome);
  }
}

/** The runner process started by control/launch: its output goes to runner.log. */
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
    rerunDone: Boolean(ctx.values['rerun-done']),
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
  const timeoutMs = waitTimeout(ctx);
  const outcome = stopTask(view, request, 'cli');
  if (outcome.kind === 'already') return print(`'${view.id}' is already ${outcome.status}`);
  if (outcome.kind === 'ownPause') return print(`'${view.id}' was paused by pause-all; now you paused it too, and resume-all leaves it paused (request ${outcome.seq})`);
  if (outcome.kind !== 'requested') return refused(outcome);
  if (!ctx.values.wait) {
    if (outcome.waiting) return print(`${request === 'pause' ? 'Pausing' : 'Interrupting'} '${view.id}': its runner stops waiting to resume it (request ${outcome.seq})`);
    return print(request === 'pause' ? `Pausing '${view.id}' after the step in flight (request ${outcome.seq})` : `Interrupting '${view.id}' (request ${outcome.seq})`);
  }
  const target = request === 'pause' ? 'paused' : 'interrupted';
  // Any end counts: paused or interrupted as asked, or completed, failed or lost meanwhile.
  const final = await waitUntilStopped(ctx.tasksDir, view.id, timeoutMs);
  if (!final) throw new CliExit(`'${view.id}' did not become ${target} within ${ctx.values.timeout}s`, EXIT.failed);
  console.log(`'${view.id}' is ${final.status}${final.state?.reason ? `: ${final.state.reason}` : ''}`);
  if (final.status === target || final.status === 'completed') return EXIT.completed;
  return final.status === 'paused' ? EXIT.paused : final.status === 'interrupted' ? EXIT.interrupted : EXIT.failed;
}

async function pauseAll(ctx: Context): Promise<number> {
  requireTasksDir(ctx);
  const outcome = await requestPauseAll(ctx.tasksDir, 'cli');
  if (outcome.kind !== 'requested') return refused(outcome);
  const pausing = outcome.pausing.filter((id) => !outcome.notTaken.includes(id));
  print(`Pause all is on (request ${outcome.seq}): no task starts${pausing.length ? `; pausing ${pausing.join(', ')} after their steps in flight` : ''}`);
  for (const id of outcome.notTaken) console.error(`ptask: could not pause '${id}': its runner has not taken the request (see ptask status ${id})`);
  return outcome.notTaken.length ? EXIT.failed : EXIT.completed;
}

async function resumeAll(ctx: Context): Promise<number> {
  requireTasksDir(ctx);
  const outcome = await requestResumeAll(ctx.tasksDir, 'cli', { runnerScript: process.argv[1], root: ctx.root, tasksFolder: ctx.tasksFolder });
  if (outcome.kind !== 'resumed') return refused(outcome);
  print(`Pause all is off${outcome.resumed.length ? `; resumed ${outcome.resumed.join(', ')}` : ''}`);
  for (const { id, message } of outcome.failed) console.error(`ptask: could not resume '${id}': ${message}`);
  return outcome.failed.length ? EXIT.failed : EXIT.completed;
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
  const outcome = resetTask(view);
  if (outcome.kind === 'nothing') return print(`'${view.id}' has not run: nothing to reset`);
  if (outcome.kind !== 'reset') return refused(outcome);
  return print(`Reset '${view.id}': it will start from its first step; earlier checkpoints are kept in ${view.paths.checkpointsDir}`);
}

/** What a resume (or, for a task that cannot be resumed, a run) would do with each step, and why; nothing is run. */
function plan(ctx: Context): number {
  const view = viewOf(ctx, ctx.args[0]);
  if (!view.definition) throw new CliExit(view.problem ?? `${view.id}.json: invalid`, EXIT.badInput);
  const resumable = canTransition(view.status, 'resume', Boolean(view.waiting)) || ACTIVE_STATES.has(view.status);
  const upToDate = upToDateIn(view.paths, view.definition, ctx.root);
  let steps = runPlan(view.definition, upToDate);
  let changes: string[] = [];
  if (resumable) {
    const r = resumability(view.paths, view.definition, Boolean(ctx.values.force), true, upToDate);
    if (!r.ok) throw new CliExit(r.message, EXIT.badInput);
    ({ plan: steps, changes } = r);
  }
  const mode = resumable ? (ctx.values.force ? 'resume --force' : 'resume') : 'run';
  if (ctx.values.json) return print(JSON.stringify({ id: view.id, status: view.status, mode, changes, steps }, null, 2));
  const width = Math.max(...steps.map((s) => s.id.length));
  const lines = steps.map((s) => `  ${s.action.padEnd(5)}  ${s.id.padEnd(width)}  ${s.reason}`);
  const changed = changes.length ? [`changed since the checkpoint: ${changes.join('; ')}`] : [];
  return print([`'${view.id}' is ${view.status}; what ptask ${mode} ${view.id} would do:`, ...changed, ...lines].join('\n'));
}

/** The failed items of the forEach step a task stopped in, from its checkpoint (masked as items are). */
function failedItemsOf(view: TaskView & { paths: TaskPaths }, s: TaskSummary): TaskSummary['failedItems'] {
  if (!s.items?.failed || !s.stoppedIn || !view.definition) return undefined;
  const report = itemsReport(view.paths, view.definition, s.stoppedIn, true);
  return 'problem' in report ? undefined : report.items.map((r) => ({ index: r.index, item: r.item, attempts: r.attempts ?? 0, error: r.error ?? '' }));
}

function items(ctx: Context): number {
  const view = viewOf(ctx, ctx.args[0]);
  if (!view.definition) throw new CliExit(view.problem ?? `${view.id}.json: invalid`, EXIT.badInput);
  const report = itemsReport(view.paths, view.definition, ctx.args[1], Boolean(ctx.values.failed));
  if ('problem' in report) throw new CliExit(report.problem, EXIT.usage);
  return print(ctx.values.json ? JSON.stringify(report, null, 2) : formatItems(report));
}

function editItemCommand(ctx: Context, edit: ItemEdit): number {
  const view = viewOf(ctx, ctx.args[0]);
  const [, stepId, indexText] = ctx.args;
  if (!/^\d+$/.test(indexText)) throw new UsageError(`the item is given by its index (0, 1, …), not "${indexText}": see ptask items ${view.id} ${stepId}`);
  const outcome = editItem(view, stepId, Number(indexText), edit, 'cli');
  if (outcome.kind !== 'edited') return refused(outcome);
  const what = edit === 'skip' ? 'skipped: the step completes without it' : `to run again from its first attempt (it was ${outcome.was})`;
  return print(`Item ${outcome.index} (${outcome.item}) of step '${stepId}' is ${what}; resume with: ptask resume ${view.id}`);
}

/**
 * A terminal that goes away (ssh drops: SIGHUP, then EIO on every write) or a closed pipe (`ptask
 * run x | head -1`: EPIPE) must never end a runner: its writes fail quietly from then on, and a
 * foreground runner's messages go to runner.log instead.
 */
const output = { lost: false };
function survivingLostOutput(): void {
  const lost = () => (output.lost = true);
  for (const stream of [process.stdout, process.stderr]) stream.on('error', lost);
  // Before the runner's own handler (which pauses): its messages already go to runner.log.
  process.on('SIGHUP', lost);
}

if (require.main === module) {
  survivingLostOutput();
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
