/**
 * The tasks of `.tasks/` as VS Code tasks (type `pausable`, in *Terminal › Run Task* and
 * tasks.json), each run through a pseudoterminal that shows the run as it goes: the runner's
 * state as it changes, and the output of every step in flight (protocol/follow). The runner stays
 * detached: the terminal only starts it and follows its files, so closing the terminal or VS Code
 * loses nothing.
 *
 * Stopping, as people expect of a long job: *Terminate Task* or closing the terminal pauses (what
 * is in flight finishes, the checkpoint is written); Ctrl+C in the terminal pauses too, and keeps
 * following; a second Ctrl+C, or a terminate while the task is already pausing, interrupts. VS Code
 * disposes a task's terminal on terminate, so the second terminate is made by running the task
 * again while it pauses (that follows it, it does not resume it) and terminating that.
 */
import * as vscode from 'vscode';
import { isRefusal } from '../control/outcomes';
import { stopTask } from '../control/stop';
import { FOLLOW_MS, LogFollower } from '../protocol/follow';
import { readTaskViewAsync, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import { taskDescription } from './presentation';
import type { TaskStore } from './taskStore';

export const TASK_TYPE = 'pausable';

interface PausableTaskDefinition extends vscode.TaskDefinition {
  /** The task's id: its file is `.tasks/<task>.json`. */
  task: string;
}

/** What a terminal needs of the rest of the extension: to start a task as the tree's Run and Resume do. */
export interface Starter {
  runOrResume(store: TaskStore, id: string): Promise<void>;
}

const EXIT_CODES: Partial<Record<TaskView['status'], number>> = { completed: 0, failed: 1, paused: 2, interrupted: 4, lost: 1 };

export class PausableTaskProvider implements vscode.TaskProvider, vscode.Disposable {
  /** The terminals open now, by task: the tree reveals one when its task is clicked. */
  private readonly terminals = new Map<string, FollowTerminal>();
  private readonly registration: vscode.Disposable;

  constructor(
    private readonly stores: () => TaskStore[],
    private readonly starter: Starter,
  ) {
    this.registration = vscode.tasks.registerTaskProvider(TASK_TYPE, this);
  }

  async provideTasks(): Promise<vscode.Task[]> {
    const tasks: vscode.Task[] = [];
    for (const store of this.stores()) {
      await store.ready;
      for (const view of store.tasks.values()) if (!view.problem) tasks.push(this.taskFor(store, view.id, { type: TASK_TYPE, task: view.id }));
    }
    return tasks;
  }

  /** A task named in tasks.json: `{ "type": "pausable", "task": "nightly" }`. */
  resolveTask(task: vscode.Task): vscode.Task | undefined {
    const definition = task.definition as PausableTaskDefinition;
    if (typeof definition.task !== 'string') return undefined;
    const folder = typeof task.scope === 'object' ? task.scope : undefined;
    const store = this.stores().find((s) => !folder || s.folder.uri.toString() === folder.uri.toString());
    // The same definition object: VS Code matches it to the tasks.json entry.
    return store && this.taskFor(store, definition.task, definition);
  }

  private taskFor(store: TaskStore, id: string, definition: PausableTaskDefinition): vscode.Task {
    const view = store.tasks.get(id);
    const execution = new vscode.CustomExecution(async () => this.runTerminal(store, id));
    const task = new vscode.Task(definition, store.folder, id, TASK_TYPE, execution);
    task.detail = view?.definition?.name ?? view?.definition?.description;
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
    return task;
  }

  /** The terminal Run Task opens: it runs the task, or resumes it, or follows it when it is in flight. */
  runTerminal(store: TaskStore, id: string): FollowTerminal {
    return this.terminalFor(store, id, 'start');
  }

  private terminalFor(store: TaskStore, id: string, how: 'start' | 'follow'): FollowTerminal {
    const terminal = new FollowTerminal(store, id, how, this.starter, () => this.terminals.get(key(store, id)) === terminal && this.terminals.delete(key(store, id)));
    this.terminals.set(key(store, id), terminal);
    return terminal;
  }

  /** Reveal the terminal following a task, or open one that follows it (a task started from the tree or the CLI). */
  reveal(store: TaskStore, id: string): void {
    const open = this.terminals.get(key(store, id));
    if (open?.terminal) return open.terminal.show();
    const pty = this.terminalFor(store, id, 'follow');
    pty.terminal = vscode.window.createTerminal({ name: `${id} (Pausable Tasks)`, pty, iconPath: new vscode.ThemeIcon('debug-pause') });
    pty.terminal.show();
  }

  /** The terminal following a task, if one is open (for tests). */
  terminalOf(store: TaskStore, id: string): FollowTerminal | undefined {
    return this.terminals.get(key(store, id));
  }

  dispose(): void {
    this.registration.dispose();
    for (const t of this.terminals.values()) t.detach();
  }
}

const key = (store: TaskStore, id: string) => `${store.folder.uri.toString()}#${id}`;
const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');
const dim = (text: string) => `\x1b[2m${text}\x1b[0m`;

/** One task followed in a terminal, from its files. */
export class FollowTerminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  /** Set when this extension made the terminal (a follow), not VS Code's task system. */
  terminal: vscode.Terminal | undefined;
  /** Everything written, for tests. */
  written = '';
  private timer: NodeJS.Timeout | undefined;
  private follower: LogFollower | undefined;
  private lastLine = '';
  private stopped = false;
  private ctrlC = 0;
  private lostSeen = false;

  constructor(
    private readonly store: TaskStore,
    private readonly id: string,
    private readonly how: 'start' | 'follow',
    private readonly starter: Starter,
    private readonly onEnd: () => void,
  ) {}

  async open(): Promise<void> {
    let view = await this.read();
    if (this.how === 'start' && !ACTIVE_STATES.has(view.status)) {
      if (!vscode.workspace.isTrusted) return this.end(`Pausable Tasks runs no task in a restricted workspace: trust this workspace to run '${this.id}'.`, 1);
      this.write(dim(`${view.status === 'idle' || view.status === 'completed' ? 'Running' : 'Resuming'} '${this.id}' (Terminate or Ctrl+C pauses it; a second Ctrl+C interrupts)\n`));
      await this.starter.runOrResume(this.store, this.id);
      view = await this.read();
    } else if (this.how === 'start') this.write(dim(`Following '${this.id}', ${view.status} (Terminate or Ctrl+C pauses it; when it is pausing, they interrupt it)\n`));
    else this.write(dim(`Following '${this.id}', ${view.status} (Ctrl+C pauses it, a second interrupts; closing this terminal leaves it as it is)\n`));
    if (!view.paths) return this.end(view.problem ?? `'${this.id}' cannot be read`, 1);
    this.follower = new LogFollower(view.paths, view);
    await this.look(view);
  }

  /** One look: the state line when it changed, then what the logs gained; again in FOLLOW_MS until the run stops. */
  private async look(view: TaskView): Promise<void> {
    if (this.stopped) return;
    for (const chunk of await this.follower!.look(view)) this.write(crlf(chunk.toString()));
    // "lost" read as the runner writes its last state and exits is looked at once more before it counts.
    if (view.status === 'lost' && !this.lostSeen) {
      this.lostSeen = true;
      this.timer = setTimeout(() => void this.read().then((v) => this.look(v)), FOLLOW_MS);
      return;
    }
    const line = stateLine(view);
    if (line !== this.lastLine) this.write(dim(`── ${line}\n`));
    this.lastLine = line;
    if (!ACTIVE_STATES.has(view.status) && !view.waiting) {
      const hint = view.status === 'paused' || view.status === 'interrupted' || view.status === 'failed' || view.status === 'lost' ? `; run the task again to resume it` : '';
      return this.end(`'${this.id}' ${view.status}${hint}`, EXIT_CODES[view.status] ?? 0);
    }
    this.timer = setTimeout(() => void this.read().then((v) => this.look(v)), FOLLOW_MS);
  }

  handleInput(data: string): void {
    if (data !== '\x03') return;
    this.ctrlC++;
    this.write('^C\n');
    void this.stop(this.ctrlC > 1);
  }

  /**
   * Terminate Task, or its terminal closed: pause, or interrupt when the task is already pausing.
   * A terminal only opened to follow a task (from the tree) just stops following: looking at a
   * task and closing the view must not pause it.
   */
  close(): void {
    if (this.how === 'start') void this.stop(false);
    this.detach();
  }

  private async stop(interrupt: boolean): Promise<void> {
    const view = await this.read();
    if (!view.paths || !ACTIVE_STATES.has(view.status)) return;
    if (view.status === 'interrupting') return;
    const request = interrupt || view.status === 'pausing' ? 'interrupt' : 'pause';
    const outcome = stopTask(view as TaskView & { paths: NonNullable<TaskView['paths']> }, request, 'vscode-terminal');
    if (isRefusal(outcome)) return this.write(`${outcome.message}\n`);
    this.write(dim(request === 'pause' ? 'Pausing: what is in flight finishes, then the checkpoint is written\n' : 'Interrupting: the steps in flight are stopped\n'));
    this.store.schedule([this.id]);
  }

  /** Stop following, without touching the task. */
  detach(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.onEnd();
  }

  private end(message: string, code: number): void {
    this.write(`${message}\n`);
    this.detach();
    this.closeEmitter.fire(code);
  }

  private read(): Promise<TaskView> {
    return readTaskViewAsync(this.store.tasksDir, this.id);
  }

  private write(text: string): void {
    this.written += text;
    this.writeEmitter.fire(crlf(text));
  }
}

/** "running · 2/5 · embed 120/1000"; while pausing, what it waits for. */
const stateLine = (view: TaskView) => taskDescription(view);
