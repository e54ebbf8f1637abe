/**
 * The Slurm executor: attempts run as elements of Slurm job arrays, on the cluster's nodes. The
 * attempts a step starts together (a forEach step starts all its items at once) become one array,
 * throttled to the step's concurrency ("%4"); more than the cluster's MaxArraySize become several,
 * each waiting for the one before (afterany). An element runs the slot program (slotScript.ts)
 * on its node: it runs the command with its environment, writes the log, and records its end in
 * the run folder, which the nodes share. The runner polls those records (often: a file read) and
 * squeue (fast at first, then slower, bounded) for what only Slurm knows: pending and why, running,
 * ended without a record (TIMEOUT, NODE_FAIL, …).
 *
 * Pause holds what has not started (scontrol hold); those attempts end 'held' and their elements
 * stay in the queue, held, for a resume to release. Stop (an interrupt, a timeout) cancels:
 * scancel of a pending element, SIGTERM to a running one and scancel after the grace period.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DRAIN_MS, type AttemptSpec, type ExecEnd, type Executor, type RunningAttempt } from '../executor';
import { parseDuration } from '../../protocol/duration';
import { SLURM_ELEMENT_ENV } from '../../protocol/processGroups';
import type { SlurmJobView, SlurmOptions } from '../../protocol/schemas';
import { lastAttemptLines } from '../adoptedAttempt';
import { RecordsTail, type AttemptRecord } from '../attemptRecords';
import { LOG_FLAGS, NUL_IN_REQUEST, slotRequest, wholeEnv } from '../slotExecutor';
import { SLOT_SCRIPT } from '../slotScript';
import { control, elementOf, LIVE_STATES, queue, slurmCommand, type QueuedElement } from './commands';
import { fileSystemType, sharedFolderWarning } from './sharedFolder';
import { journal, readSubmissions, shellQuote } from './submissions';

/** How often the records of running elements are read; squeue starts at this too. */
const TICK_MS = 250;
/** The longest wait between two squeue calls: a login node's squeue is shared by everyone. */
const QUEUE_MAX_MS = 10_000;
/** An element Slurm says ended may take this long to show its end record (a shared file system's cache). */
const RECORD_WAIT_MS = 3_000;
const isHeld = (q: QueuedElement) => q.state === 'PENDING' && /^JobHeld/.test(q.reason);

export interface SlurmExecutorOptions {
  /** The run's slurm/ folder. */
  dir: string;
  /** The start of every job name: "ptask.<task>.<run>"; a submission adds ".<step>.<seq>". */
  namePrefix: string;
  graceMs: number;
  /** The jobs of the step in flight changed (squeue's view): for state.json. */
  onJobs: (jobs: SlurmJobView[]) => void;
  /** Something Slurm said that no attempt reports (squeue failing). */
  onWarning: (message: string) => void;
}

/** An element a runner before this one left in the queue, or that ended unwatched (slurm/adoption.ts). */
export interface KnownElement {
  key: string;
  attempt: number;
  /** "<job>_<index>" */
  id: string;
  folder: string;
  index: number;
  /** Its end, recorded or told by Slurm, when it ended while no runner watched. */
  end?: ExecEnd;
  held: boolean;
}

export class SlurmExecutor implements Executor {
  private readonly queued: Element[] = [];
  private readonly active = new Map<string, Element>();
  /** Elements this run's pause held, by key: started again (the pause cancelled), they are released, not submitted again. */
  private readonly heldByKey = new Map<string, Element>();
  private holding = false;
  private nextSeq: number;
  private maxArray: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queueEveryMs = TICK_MS;
  private nextQueueAt = 0;
  private lastQueue: { at: number; elements: Map<string, QueuedElement> } = { at: 0, elements: new Map() };
  private readonly toCancel = new Set<string>();
  private readonly toSignal = new Set<string>();
  private readonly toRelease = new Set<string>();
  private requestsScheduled = false;
  private lastViews = '';
  private closed = false;
  private ticking = false;
  private kicked = false;
  private warned = '';
  /** The slot program is written once a runner, so that a newer runner's replaces an older one's. */
  private slotWritten = false;
  private sharedChecked = false;

  constructor(private readonly opts: SlurmExecutorOptions) {
    this.nextSeq = Math.max(0, ...readSubmissions(opts.dir).map((s) => s.seq)) + 1;
  }

  start(spec: AttemptSpec): RunningAttempt {
    this.holding = false;
    const held = this.heldByKey.get(spec.record.key);
    if (held) {
      this.heldByKey.delete(spec.record.key);
      if (held.attempt === spec.record.attempt) return this.adopt({ key: held.key, attempt: held.attempt, id: held.id!, folder: held.folder!, index: held.index!, held: true }, spec);
      this.toCancel.add(held.id!);
      this.scheduleRequests();
    }
    const element = new Element(spec, this);
    this.queued.push(element);
    if (this.queued.length === 1) setImmediate(() => void this.flush());
    return element.running;
  }

  /** Watch an element already in Slurm's hands (left by a runner before, or held by this run's pause). */
  adopt(known: KnownElement, spec: AttemptSpec): RunningAttempt {
    const element = new Element(spec, this);
    Object.assign(element, { id: known.id, folder: known.folder, index: known.index, submittedAt: 0 });
    if (known.end) {
      element.finish(known.end);
      return element.running;
    }
    this.active.set(known.id, element);
    if (known.held) {
      this.toRelease.add(known.id);
      this.scheduleRequests();
    }
    this.kick();
    return element.running;
  }

  /** A pause: what has not started is held; its attempts end 'held'. Running elements go on. */
  hold(): void {
    this.holding = true;
    const jobs = new Set([...this.active.values()].map((e) => e.jobId!));
    void control('hold', [...jobs]).then((result) => !result.ok && !/not pending|already|completed/i.test(result.error) && this.warn(`scontrol hold: ${result.error}`));
    this.kick();
  }

  /** Some elements stay in the queue, held by this run's pause, for a resume to release. */
  holds(): boolean {
    return this.heldByKey.size > 0;
  }

  mute(): void {}

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  // ---- submitting -----------------------------------------------------------------------------

  private async flush(): Promise<void> {
    await this.checkSharedFolder();
    const groups = new Map<string, Element[]>();
    for (const element of this.queued.splice(0)) {
      if (element.stopWanted) {
        element.finish({ kind: 'spawn-error', error: 'stopped before it was submitted' });
        continue;
      }
      const { stepId, options, throttle } = element.spec.slurm!;
      const group = JSON.stringify([stepId, options, throttle]);
      groups.set(group, [...(groups.get(group) ?? []), element]);
    }
    for (const elements of groups.values()) {
      const max = await this.maxArraySize();
      let after: string | undefined;
      for (let i = 0; i < elements.length; i += max) {
        const chunk = elements.slice(i, i + max);
        const jobId = await this.submit(chunk, after);
        if (typeof jobId !== 'string') {
          for (const element of elements.slice(i + max)) element.finish({ kind: 'spawn-error', error: jobId.error });
          break;
        }
        after = jobId;
      }
    }
  }

  /** One array of `elements`: written down, journaled, then sbatch. Its job id, or why there is none. */
  private async submit(elements: Element[], after: string | undefined): Promise<string | { error: string }> {
    const spec = elements[0].spec.slurm!;
    const seq = this.nextSeq++;
    const folder = path.join(this.opts.dir, String(seq));
    const name = `${this.opts.namePrefix}.${spec.stepId}.${seq}`;
    const failAll = (error: string) => {
      for (const element of elements) element.finish({ kind: 'spawn-error', error });
      return { error };
    };
    try {
      fs.mkdirSync(folder, { recursive: true });
      const slot = path.join(this.opts.dir, 'slot.pl');
      if (!this.slotWritten) fs.writeFileSync(slot, SLOT_SCRIPT);
      this.slotWritten = true;
      const lines: string[] = [];
      for (const [index, element] of elements.entries()) {
        if (element.request === undefined) return failAll(NUL_IN_REQUEST);
        fs.writeFileSync(path.join(folder, `${index}.req`), element.request);
        lines.push(`${index}\t${element.key}\t${element.attempt}\n`);
      }
      fs.writeFileSync(path.join(folder, 'elements.tsv'), lines.join(''));
      fs.writeFileSync(path.join(folder, 'job.sh'), jobScript(folder, slot, this.opts.graceMs, name), { mode: 0o755 });
      journal(this.opts.dir, `submit\t${seq}\t${name}`);
    } catch (err) {
      return failAll(`could not write its Slurm job in ${folder}: ${(err as Error).message}`);
    }
    const n = elements.length;
    const heldAtSubmit = this.holding;
    const args = [
      '--parsable',
      `--job-name=${name}`,
      `--array=0-${n - 1}${spec.throttle < n ? `%${spec.throttle}` : ''}`,
      `--output=${path.join(folder, '%a.slurm.out')}`,
      '--open-mode=append',
      `--chdir=${folder}`,
      '--export=ALL',
      ...(after ? [`--dependency=afterany:${after}`] : []),
      ...(heldAtSubmit ? ['--hold'] : []),
      ...sbatchOptions(spec.options),
      path.join(folder, 'job.sh'),
    ];
    const result = await slurmCommand('sbatch', args);
    if (!result.ok) return failAll(`Slurm refused the job: ${result.error}`);
    const jobId = result.stdout.trim().split(';')[0];
    try {
      journal(this.opts.dir, `job\t${seq}\t${jobId}`);
    } catch {
      // a successor finds the job by its name
    }
    // A pause that came while sbatch ran held the jobs it knew of: this one too.
    if (this.holding && !heldAtSubmit) void control('hold', [jobId]);
    const submittedAt = Date.now();
    for (const [index, element] of elements.entries()) {
      Object.assign(element, { id: `${jobId}_${index}`, folder, index, submittedAt });
      this.active.set(element.id!, element);
      if (element.stopWanted) element.stop();
    }
    this.kick();
    return jobId;
  }

  /** Once a run: say so when the run folder may not be shared with the compute nodes. */
  private async checkSharedFolder(): Promise<void> {
    if (this.sharedChecked) return;
    this.sharedChecked = true;
    const nodes = await slurmCommand('sinfo', ['--noheader', '--Node', '--format=%N']);
    const count = nodes.ok ? new Set(nodes.stdout.split('\n').map((l) => l.trim()).filter(Boolean)).size : 0;
    const warning = sharedFolderWarning(this.opts.dir, fileSystemType(path.dirname(this.opts.dir)), count);
    if (warning) this.warn(warning);
  }

  private async maxArraySize(): Promise<number> {
    if (this.maxArray === undefined) {
      const config = await slurmCommand('scontrol', ['show', 'config']);
      const match = config.ok ? /^MaxArraySize\s*=\s*(\d+)/m.exec(config.stdout) : null;
      this.maxArray = match ? Math.max(1, Number(match[1])) : 1001;
    }
    return this.maxArray;
  }

  // ---- stopping, holding, releasing -----------------------------------------------------------

  /** An element is stopped: cancelled while pending; SIGTERM while running, then cancelled after the grace period. */
  cancel(element: Element): void {
    // Its records first: squeue's view may be older than its start. A running element taken for
    // pending was cancelled outright, and its attempt had SIGTERM twice (from Slurm, and from its
    // slot), with no grace.
    const running = element.ranSeen || element.recorded() !== undefined || (element.queued && element.queued.state !== 'PENDING');
    if (running) {
      this.toSignal.add(element.id!);
      setTimeout(() => {
        if (element.ended) return;
        this.toCancel.add(element.id!);
        this.scheduleRequests();
      }, this.opts.graceMs).unref();
    } else this.toCancel.add(element.id!);
    this.scheduleRequests();
  }

  /** Requests made in one turn go to Slurm together: one scancel for the items of an interrupt. */
  private scheduleRequests(): void {
    if (this.requestsScheduled) return;
    this.requestsScheduled = true;
    setImmediate(async () => {
      this.requestsScheduled = false;
      const take = (set: Set<string>) => {
        const ids = [...set];
        set.clear();
        return ids;
      };
      const [signal, cancel, release] = [take(this.toSignal), take(this.toCancel), take(this.toRelease)];
      // The pending are held, then go, before anything is signalled: an element that ends at once
      // frees its place in the array's throttle, and Slurm would start a pending one before its
      // cancel landed. Held first, since squeue's view may be a moment old: an element taken for
      // pending may be running, and one cancel of several ends it first (CI met both).
      const held = cancel.length ? await control('hold', cancel) : undefined;
      const cancelled = await control('cancel', cancel);
      const results = [...(held ? [held] : []), cancelled, ...(await Promise.all([control('cancel', signal, 'TERM'), control('release', release)]))];
      for (const result of results) if (!result.ok && !/already|completed|not pending|no longer pending|Invalid job id/i.test(result.error)) this.warn(result.error);
      this.kick();
    });
  }

  // ---- watching -------------------------------------------------------------------------------

  /** Look again soon, and ask squeue at once: something was asked of Slurm. */
  kick(): void {
    this.queueEveryMs = TICK_MS;
    this.nextQueueAt = 0;
    this.kicked = true;
    if (this.closed || this.ticking) return; // a tick in flight schedules the next one, soon: nextQueueAt is 0
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 20);
  }

  /** One look at a time: a kick during a look (an squeue in flight) waits for it, not a second squeue. */
  private async tick(): Promise<void> {
    this.timer = undefined;
    this.ticking = true;
    try {
      await this.look();
    } finally {
      this.ticking = false;
    }
    if (this.active.size && !this.closed) this.timer = setTimeout(() => void this.tick(), this.nextQueueAt === 0 ? 20 : TICK_MS);
  }

  private async look(): Promise<void> {
    this.kicked = false;
    let changed = false;
    if (Date.now() >= this.nextQueueAt && this.active.size) {
      const asked = Date.now();
      const jobs = [...new Set([...this.active.values()].map((e) => e.jobId!))];
      const answer = await queue(jobs);
      if ('error' in answer) this.warn(`squeue: ${answer.error}`);
      else {
        this.lastQueue = { at: asked, elements: answer };
        for (const element of this.active.values()) changed = element.observe(elementOf(answer, element.id!)) || changed;
      }
      this.queueEveryMs = changed ? TICK_MS : Math.min(QUEUE_MAX_MS, Math.round(this.queueEveryMs * 1.5));
      // Asked of Slurm while squeue ran: its answer may predate that, so ask again at once.
      this.nextQueueAt = this.kicked ? 0 : Date.now() + this.queueEveryMs;
    }
    for (const element of [...this.active.values()]) {
      const end = element.end(this.lastQueue, this.holding);
      if (!end) continue;
      this.active.delete(element.id!);
      if (end.kind === 'held') this.heldByKey.set(element.key, element);
      element.finish(end);
      changed = true;
    }
    if (changed) this.queueEveryMs = TICK_MS;
    this.publish();
  }

  private publish(): void {
    const jobs = new Map<string, SlurmJobView>();
    for (const element of this.active.values()) {
      const jobId = element.jobId!;
      const view = jobs.get(jobId) ?? { jobId, step: element.spec.slurm!.stepId, pending: 0, running: 0, held: 0 };
      const q = element.queued;
      if (q && isHeld(q)) view.held++;
      else if (element.ranSeen || (q && q.state !== 'PENDING')) view.running++;
      else {
        view.pending++;
        if (q?.reason && q.reason !== 'None') view.reason ??= q.reason;
      }
      jobs.set(jobId, view);
    }
    for (const element of this.heldByKey.values()) {
      const jobId = element.jobId!;
      const view = jobs.get(jobId) ?? { jobId, step: element.spec.slurm!.stepId, pending: 0, running: 0, held: 0 };
      view.held++;
      jobs.set(jobId, view);
    }
    const views = [...jobs.values()];
    const text = JSON.stringify(views);
    if (text === this.lastViews) return;
    this.lastViews = text;
    this.opts.onJobs(views);
  }

  private warn(message: string): void {
    if (message === this.warned) return;
    this.warned = message;
    this.opts.onWarning(message);
  }
}

/** One attempt as a job element: submitted, watched, ended. */
class Element {
  readonly key: string;
  readonly attempt: number;
  id: string | undefined;
  folder: string | undefined;
  index: number | undefined;
  submittedAt = 0;
  /** squeue's last word on it. */
  queued: QueuedElement | undefined;
  /** It started on a node (squeue said so, or its records do). */
  ranSeen = false;
  stopWanted = false;
  /** Its cancel was asked of Slurm (once: each SIGTERM reaches the attempt, handed on by its slot). */
  private cancelAsked = false;
  ended = false;
  /** Since when Slurm says it ended (or forgot it) while its end record is not there yet. */
  private goneAt: number | undefined;
  private readonly records = new Map<string, AttemptRecord>();
  private tail: RecordsTail | undefined;
  /** What the runner waits on. */
  readonly running: ElementAttempt;
  /** Its request for the slot, made now: the runner reuses one environment object for every item. */
  readonly request: string | undefined;

  constructor(readonly spec: AttemptSpec, private readonly executor: SlurmExecutor) {
    this.key = spec.record.key;
    this.attempt = spec.record.attempt;
    const [name, value] = SLURM_ELEMENT_ENV.split('=');
    this.request = slotRequest(spec, wholeEnv({ ...spec.env, [name]: value }), false, false);
    this.running = new ElementAttempt(this);
  }

  get jobId(): string | undefined {
    return this.id?.slice(0, this.id.lastIndexOf('_'));
  }

  stop(): void {
    if (this.ended || this.cancelAsked) return;
    this.stopWanted = true;
    if (!this.id) return; // asked once it is submitted
    this.cancelAsked = true;
    this.executor.cancel(this);
  }

  /** squeue's answer (undefined: it does not list the element); whether anything changed. */
  observe(q: QueuedElement | undefined): boolean {
    const before = `${this.queued?.state}|${this.queued?.reason}`;
    this.queued = q;
    // Cancelled says nothing of whether it ran: its records or an earlier RUNNING do.
    if (q && q.state !== 'PENDING' && q.state !== 'CANCELLED') this.ranSeen = true;
    return before !== `${q?.state}|${q?.reason}`;
  }

  /** Its records' word on this attempt, read now (a start, maybe an end); undefined before it starts. */
  recorded(): AttemptRecord | undefined {
    if (!this.folder) return undefined;
    this.tail ??= new RecordsTail(path.join(this.folder, `${this.index}.tsv`));
    this.tail.read(this.records);
    const record = this.records.get(this.key);
    if (!record || record.attempt !== this.attempt) return undefined;
    this.ranSeen = true;
    return record;
  }

  /** Its end, if it has one now: its record; held by a pause; or Slurm's word once the record is overdue. */
  end(lastQueue: { at: number; elements: Map<string, QueuedElement> }, holding: boolean): ExecEnd | undefined {
    if (!this.id) return undefined;
    const q = this.queued;
    if (this.ranSeen || !q || q.state !== 'PENDING') {
      const end = this.recorded()?.end;
      if (end) return end;
    }
    if (holding && q && isHeld(q)) return { kind: 'held' };
    // Not listed by an squeue asked after its submission, or listed as ended: its record may be on its way.
    const gone = lastQueue.at > this.submittedAt && (!q || !LIVE_STATES.has(q.state));
    if (!gone) {
      this.goneAt = undefined;
      return undefined;
    }
    // Cancelled before it ran: no record will come.
    if (q?.state === 'CANCELLED' && !this.ranSeen && !this.records.size) return { kind: 'cluster', state: 'CANCELLED', said: slurmSaid(this.folder!, this.index!) };
    this.goneAt ??= Date.now();
    if (Date.now() - this.goneAt < RECORD_WAIT_MS) return undefined;
    if (!q) return { kind: 'lost' };
    const said = slurmSaid(this.folder!, this.index!) ?? (q.state === 'COMPLETED' ? 'it left no end record' : undefined);
    return { kind: 'cluster', state: q.state, said };
  }

  finish(end: ExecEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.running.settle(end);
  }
}

class ElementAttempt implements RunningAttempt {
  /** Its processes are on another machine: no process group here. */
  readonly pid = undefined;
  exited = false;
  readonly ended: Promise<ExecEnd>;
  private resolve!: (end: ExecEnd) => void;

  constructor(private readonly element: Element) {
    this.ended = new Promise((r) => (this.resolve = r));
  }

  stop(): void {
    this.element.stop();
  }

  settle(end: ExecEnd): void {
    this.exited = true;
    const { spec } = this.element;
    // Its output was written on the node: a failure's lines are read back for pauseOn.
    const failed = (end.kind === 'exited' && end.exitCode !== 0) || end.kind === 'cluster';
    if (failed && spec.onStdoutLine) for (const line of lastAttemptLines(spec.logFile, spec.logPrefix ?? '')) spec.onStdoutLine(line);
    this.resolve(end);
  }
}

/** The batch script of a submission: each element runs its request under a slot, on its node. */
function jobScript(folder: string, slot: string, graceMs: number, name: string): string {
  const f = shellQuote(folder);
  return [
    '#!/bin/sh',
    `# Pausable Tasks job ${name}: each element runs the request of its index (see ../submissions.tsv).`,
    `req=${f}/"$SLURM_ARRAY_TASK_ID".req`,
    `[ -f "$req" ] || { echo "ptask: $req cannot be read on $(hostname): the run folder must be on a file system the compute nodes share" >&2; exit 66; }`,
    `exec perl ${shellQuote(slot)} ${f}/"$SLURM_ARRAY_TASK_ID".tsv 0 ${graceMs} ${DRAIN_MS} ${LOG_FLAGS} SLURM_ < "$req" > /dev/null`,
    '',
  ].join('\n');
}

/** sbatch's options for a step's `slurm` settings. */
export function sbatchOptions(options: SlurmOptions): string[] {
  const args: string[] = [];
  if (options.partition) args.push(`--partition=${options.partition}`);
  if (options.time !== undefined) args.push(`--time=${slurmTime(options.time)}`);
  if (options.cpusPerTask) args.push(`--cpus-per-task=${options.cpusPerTask}`);
  if (options.mem) args.push(`--mem=${options.mem}`);
  if (options.gres) args.push(`--gres=${options.gres}`);
  return [...args, ...(options.sbatchArgs ?? [])];
}

/** A duration as sbatch's --time ("H:MM:SS"; Slurm counts whole minutes, rounding up). */
function slurmTime(time: string | number): string {
  const ms = parseDuration(time);
  const total = Math.max(1, Math.ceil(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${Math.floor(total / 3600)}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
}

/** The last thing Slurm wrote of an element ("slurmstepd: error: *** … CANCELLED … DUE TO TIME LIMIT ***"). */
function slurmSaid(folder: string, index: number): string | undefined {
  try {
    const text = fs.readFileSync(path.join(folder, `${index}.slurm.out`), 'utf8');
    const line = text.trim().split('\n').filter(Boolean).pop();
    return line ? line.trim().slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}
