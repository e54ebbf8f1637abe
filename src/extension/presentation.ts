/**
 * How a task looks in the tree: label, description, icon, tooltip and the actions its state
 * allows. Plain data, no VS Code import, so that it is unit-tested on its own.
 */
import { formatDuration } from '../protocol/duration';
import { graphOrder, needsOf } from '../protocol/graph';
import { runningSteps, type CompletedStep, type UnfinishedStep } from '../protocol/schemas';
import { redactor, secretValues, type Redact } from '../protocol/secrets';
import { describeSlurmJob, runsOnRegardless, type TaskView } from '../protocol/taskView';
import { allowedRequests, type Request, type TaskStatus } from '../protocol/transitions';

export interface IconSpec {
  /** A codicon id, "~spin" included. */
  id: string;
  /** A theme color id. */
  color?: string;
}

const ICONS: Record<TaskStatus | 'invalid', IconSpec> = {
  idle: { id: 'circle-large-outline' },
  running: { id: 'sync~spin', color: 'charts.blue' },
  pausing: { id: 'loading~spin', color: 'charts.yellow' },
  paused: { id: 'debug-pause', color: 'charts.yellow' },
  interrupting: { id: 'loading~spin', color: 'charts.orange' },
  interrupted: { id: 'debug-stop', color: 'charts.orange' },
  completed: { id: 'pass', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  lost: { id: 'warning', color: 'problemsWarningIcon.foreground' },
  invalid: { id: 'error', color: 'errorForeground' },
};

export function taskIcon(view: TaskView): IconSpec {
  return ICONS[invalid(view) ? 'invalid' : view.status];
}

export function taskLabel(view: TaskView): string {
  return view.id;
}

/** e.g. "paused · 3/7 · embed 120/1000" */
export function taskDescription(view: TaskView): string {
  if (invalid(view)) return 'invalid';
  const parts: string[] = [view.status === 'paused' && view.state?.pausedBy === 'global' ? 'paused (all)' : view.status];
  const total = view.definition?.steps.length ?? view.state?.stepsTotal ?? 0;
  if (view.state) parts.push(`${view.state.stepsDone}/${total}`);
  const steps = activeSteps(view);
  const step = steps[0];
  // Stopped in a forEach step (paused, failed, interrupted, lost): its items as the run left them.
  const stopped = !step && view.status !== 'completed' && view.status !== 'idle' ? view.state?.stoppedIn : undefined;
  if (step) parts.push(steps.map(stepNow).join(', '));
  if (view.status === 'pausing') parts.push(waitingFor(view));
  else if (stopped?.items) parts.push(stepNow(stopped));
  if (!step && view.status === 'paused' && view.state?.resumeAt) parts.push(`resumes ${at(view.state.resumeAt)}`);
  else if (!step && !stopped?.items && view.definition?.name) parts.push(view.definition.name);
  return masker(view)(parts.join(' · '));
}

/** What a pause waits for: "waits for 3 items in flight", "waits for step train". */
export function waitingFor(view: TaskView): string {
  const steps = activeSteps(view);
  const items = steps.reduce((n, s) => n + (s.items?.running ?? 0), 0);
  if (items) return `waits for ${items} item${items === 1 ? '' : 's'} in flight`;
  return steps.length ? `waits for step${steps.length === 1 ? '' : 's'} ${steps.map((s) => s.id).join(', ')}` : 'writing the checkpoint';
}

/**
 * Masks the values of the definition's secret env variables: the runner never writes them, but a
 * hand-edited or older state file, or a definition error, must not show them in the tree either.
 */
function masker(view: TaskView): Redact {
  if (!view.definition) return redactor([]);
  let redact = maskers.get(view.definition);
  if (!redact) maskers.set(view.definition, (redact = redactor(secretValues(view.definition))));
  return redact;
}
/** One per definition read: descriptions, tooltips and step rows of a refresh share it. */
const maskers = new WeakMap<object, Redact>();

type ActiveStep = NonNullable<NonNullable<TaskView['state']>['currentStep']>;

/** "embed 120/1000", or for items "embed 120/1000 (2 failed)". */
function stepNow(step: Pick<ActiveStep, 'id' | 'items' | 'progress'>): string {
  const items = step.items;
  if (items) return `${step.id} ${items.done}/${items.total}${items.failed ? ` (${items.failed} failed)` : ''}`;
  return step.progress ? `${step.id} ${step.progress.done}/${step.progress.total}` : step.id;
}

/** A local time of day, or a date and time when it is not today. */
function at(iso: string): string {
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? `at ${d.toLocaleTimeString()}` : `on ${d.toLocaleString()}`;
}

const isActive = (view: TaskView) => view.status === 'running' || view.status === 'pausing' || view.status === 'interrupting';

/** Every step in flight (a graph may run several). */
function activeSteps(view: TaskView) {
  return isActive(view) ? runningSteps(view.state) : [];
}

/**
 * Drives menus: `task.<status>`, or `task.invalid`; "task.paused.waiting" when its runner waits to
 * resume it (it can be paused and interrupted, not reset); ".checkpoint" when there is one to open.
 */
export function taskContextValue(view: TaskView, hasCheckpoint: boolean): string {
  const status = invalid(view) ? 'invalid' : view.waiting ? `${view.status}.waiting` : view.status;
  return `task.${status}${hasCheckpoint ? '.checkpoint' : ''}`;
}

/** What a person may ask of the task now (an invalid task: nothing but opening it). */
export function taskActions(view: TaskView): Request[] {
  return invalid(view) ? [] : allowedRequests(view.status, view.waiting);
}

const ago = (iso: string | undefined, now: number) => (iso ? `${formatDuration(Math.max(0, now - Date.parse(iso)))} ago` : undefined);

/** The tooltip, as Markdown. */
export function taskTooltip(view: TaskView, checkpointWrittenAt: string | undefined, now = Date.now()): string {
  const redact = masker(view);
  const escape = (text: string) => escapeMarkdown(redact(text));
  const lines = [`**${escape(view.definition?.name ?? view.id)}** \`${view.id}\``, ''];
  if (invalid(view)) return [...lines, `$(error) ${escape(view.problem!)}`].join('\n');
  if (view.definitionProblem) lines.push(`$(warning) ${escape(view.definitionProblem)}: the run goes on with the definition it started from`, '');
  else if (view.definitionChanged) lines.push('$(info) The definition changed since this run started: it takes effect on the next run', '');
  const s = view.state;
  lines.push(`State: **${view.status}**${s?.pausedBy && (view.status === 'paused' || view.status === 'pausing') ? ` (by ${s.pausedBy})` : ''}`);
  if (s) lines.push(`Steps done: ${s.stepsDone}/${view.definition?.steps.length ?? s.stepsTotal}`);
  for (const step of activeSteps(view))
    lines.push(`Current step: \`${stepNow(step)}\`${step.items?.running ? `, ${step.items.running} running` : ''}${step.attempt > 1 ? `, attempt ${step.attempt}` : ''}, since ${ago(step.startedAt, now)}`);
  if (view.lostReason ?? s?.reason) lines.push(`Reason: ${escape(view.lostReason ?? s!.reason!)}`);
  for (const job of s?.slurm ?? []) lines.push(`Slurm: ${escape(describeSlurmJob(job))}`);
  if (s?.adopted) lines.push(`Adopted from the lost runner: ${s.adopted.running} attempt(s) still running, ${s.adopted.ended} that had ended unwatched`);
  if (s?.resumeAt && view.status === 'paused')
    lines.push(`Resumes by itself ${at(s.resumeAt)}${s.autoResume ? ` (automatic resume ${s.autoResume.attempt} of ${s.autoResume.maxAttempts})` : ''}`);
  if (s) lines.push(`Started: ${s.startedAt}${s.endedAt ? `, ended ${s.endedAt}` : ''}`);
  if (checkpointWrittenAt) lines.push(`Last checkpoint: ${ago(checkpointWrittenAt, now)}`);
  const c = view.control;
  if (c) lines.push(`Last request: ${c.desired} by ${c.requestedBy} ${ago(c.requestedAt, now)}, ${c.seq <= (s?.appliedSeq ?? 0) ? 'applied' : 'not applied yet'}`);
  for (const p of view.fileProblems) lines.push(`$(warning) ${escape(p)}`);
  return lines.join('  \n');
}

/** Shown as invalid: a broken definition, unless a live runner goes on regardless (it still takes pause and interrupt). */
function invalid(view: TaskView): boolean {
  return view.problem !== undefined && !runsOnRegardless(view);
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

export type StepStatus = 'done' | 'running' | 'pending' | 'failed' | 'interrupted' | 'paused';

export interface StepRow {
  id: string;
  index: number;
  status: StepStatus;
  /** e.g. "done · 1.2s", "running · 120/1000", "failed · exit code 3" */
  description: string;
}

const STEP_ICONS: Record<StepStatus, IconSpec> = {
  done: { id: 'pass', color: 'testing.iconPassed' },
  running: { id: 'sync~spin', color: 'charts.blue' },
  pending: { id: 'circle-large-outline' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  interrupted: { id: 'debug-stop', color: 'charts.orange' },
  paused: { id: 'debug-pause', color: 'charts.yellow' },
};
export const stepIcon = (row: StepRow) => STEP_ICONS[row.status];

/**
 * The steps of a task with their state and duration, from its definition, state and checkpoint,
 * in an order that respects the graph (a chain's own order); a step not ready says what it waits for.
 */
export function stepRows(view: TaskView, completed: CompletedStep[], unfinished: readonly UnfinishedStep[], now = Date.now()): StepRow[] {
  const redact = masker(view);
  const done = new Map(completed.map((c) => [c.id, c]));
  const running = new Map(activeSteps(view).map((s) => [s.id, s]));
  const stopped = new Map(unfinished.map((u) => [u.id, u]));
  const steps = view.definition?.steps ?? [];
  return graphOrder(steps).map((index): StepRow => {
    const step = steps[index];
    const c = done.get(step.id);
    if (c) return { id: step.id, index, status: 'done', description: c.upToDate ? 'up to date' : `done · ${formatDuration(c.durationMs)}` };
    const current = running.get(step.id);
    if (current) {
      const progress = current.progress ? ` · ${current.progress.done}/${current.progress.total}` : '';
      return { id: step.id, index, status: 'running', description: `running${progress} · ${formatDuration(now - Date.parse(current.startedAt))}` };
    }
    const u = stopped.get(step.id);
    if (u) {
      const status: StepStatus = u.outcome === 'paused' ? 'paused' : u.outcome === 'interrupted' ? 'interrupted' : 'failed';
      return { id: step.id, index, status, description: `${u.outcome}${u.error ? ` · ${redact(u.error)}` : ''}` };
    }
    const waits = needsOf(steps, index).filter((n) => !done.has(n));
    return { id: step.id, index, status: 'pending', description: waits.length ? `waits for ${waits.join(', ')}` : 'pending' };
  });
}
