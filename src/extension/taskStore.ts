/**
 * The tasks of one workspace folder, kept current from their files: chokidar watches `.tasks/`,
 * events are gathered for a short while and only the tasks they touch are read again. Active
 * tasks are also re-read every few seconds, since a runner killed with -9 writes nothing and
 * must still come to show as lost.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { watch, type FSWatcher } from 'chokidar';
import * as vscode from 'vscode';
import { readJson } from '../protocol/jsonFile';
import { globalControlPath, tasksDirOf } from '../protocol/paths';
import { globalControlSchema, type GlobalControl } from '../protocol/schemas';
import { readTaskViewAsync, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES, type TaskStatus } from '../protocol/transitions';

/** Events closer than this are one refresh... */
export const DEBOUNCE_MS = 100;
/** ...but a steady stream of them still refreshes this often. */
export const MAX_WAIT_MS = 500;
const RECHECK_ACTIVE_MS = 5000;
const READ_CONCURRENCY = 32;

export interface StatusChange {
  store: TaskStore;
  id: string;
  from: TaskStatus;
  view: TaskView;
}

export class TaskStore implements vscode.Disposable {
  readonly tasksDir: string;
  readonly tasks = new Map<string, TaskView>();
  globalControl: GlobalControl | undefined;
  /** How many times the store has told its listeners about changes (for the benchmark). */
  refreshes = 0;

  private readonly _onDidChange = new vscode.EventEmitter<string[] | undefined>();
  /** The ids that changed, or undefined when the list itself changed. */
  readonly onDidChange = this._onDidChange.event;
  private readonly _onDidChangeStatus = new vscode.EventEmitter<StatusChange>();
  readonly onDidChangeStatus = this._onDidChangeStatus.event;

  private watcher: FSWatcher | undefined;
  private pending = new Set<string>();
  private pendingAll = false;
  private timer: NodeJS.Timeout | undefined;
  private firstPendingAt = 0;
  private recheck: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private disposed = false;

  constructor(readonly folder: vscode.WorkspaceFolder, tasksFolder: string, private readonly log: vscode.LogOutputChannel) {
    this.tasksDir = tasksDirOf(folder.uri.fsPath, tasksFolder);
  }

  /**
   * Reads every task and starts watching, side by side. Resolves when the first read is done;
   * `watching` resolves once the watcher has seen every folder. A change in between could fall
   * between the two, so the tasks are read once more then.
   */
  start(): Promise<void> {
    if (!this.loading) {
      this.loading = this.loadAll();
      this.watching = this.watch().then(async () => {
        await this.loading;
        this.schedule(undefined);
      });
    }
    return this.loading;
  }

  get ready(): Promise<void> {
    return this.loading ?? this.start();
  }

  /** Resolves once changes to the files are seen (after start()). */
  watching: Promise<void> | undefined;

  private async listIds(): Promise<string[]> {
    try {
      const names = await fs.promises.readdir(this.tasksDir);
      return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5)).sort();
    } catch {
      return [];
    }
  }

  private async loadAll(): Promise<void> {
    const ids = await this.listIds();
    const views: TaskView[] = [];
    for (let i = 0; i < ids.length; i += READ_CONCURRENCY) {
      views.push(...(await Promise.all(ids.slice(i, i + READ_CONCURRENCY).map((id) => readTaskViewAsync(this.tasksDir, id)))));
    }
    this.globalControl = await this.readGlobal();
    if (this.disposed) return;
    this.tasks.clear();
    for (const view of views) this.tasks.set(view.id, view);
    this.refreshes++;
    this._onDidChange.fire(undefined);
  }

  private async readGlobal(): Promise<GlobalControl | undefined> {
    const read = await readJson(globalControlPath(this.tasksDir), globalControlSchema);
    if (!read.ok && read.error.code !== 'missing') this.log.warn(read.error.message);
    return read.ok ? read.value : undefined;
  }

  private watch(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    const root = this.folder.uri.fsPath;
    const tasksDir = this.tasksDir;
    this.watcher = watch(root, {
      ignoreInitial: true,
      // .tasks/<id>.json and .tasks/<id>/<file> only: logs, step files and history stay unwatched.
      depth: 2,
      ignored: (p: string) => p !== root && !(p === tasksDir || p.startsWith(tasksDir + path.sep)) || p.endsWith('.tmp'),
    });
    this.watcher.on('all', (_event, file) => this.onFileEvent(file));
    this.watcher.on('error', (err) => this.log.warn(`watching ${tasksDir}: ${err}`));
    this.recheck = setInterval(() => {
      const active = [...this.tasks.values()].filter((v) => ACTIVE_STATES.has(v.status)).map((v) => v.id);
      if (active.length) this.schedule(active);
    }, RECHECK_ACTIVE_MS);
    const watcher = this.watcher;
    return new Promise((resolve) => watcher.once('ready', () => resolve()));
  }

  private onFileEvent(file: string): void {
    const rel = path.relative(this.tasksDir, file);
    if (rel === '' || rel.startsWith('..')) return this.schedule(undefined); // .tasks itself came or went
    const [first, second] = rel.split(path.sep);
    if (second === undefined) {
      if (first === '.control.json') return this.schedule(undefined);
      if (first.endsWith('.json')) return this.schedule([first.slice(0, -5)]);
      return this.schedule([first]); // a run folder came or went
    }
    this.schedule([first]);
  }

  /** Gather changes; read them after DEBOUNCE_MS of quiet, or MAX_WAIT_MS after the first. */
  schedule(ids: string[] | undefined): void {
    if (ids) for (const id of ids) this.pending.add(id);
    else this.pendingAll = true;
    const now = Date.now();
    if (!this.timer) this.firstPendingAt = now;
    clearTimeout(this.timer);
    const wait = Math.min(DEBOUNCE_MS, Math.max(0, this.firstPendingAt + MAX_WAIT_MS - now));
    this.timer = setTimeout(() => void this.flush(), wait);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    const all = this.pendingAll;
    const ids = [...this.pending];
    this.pending.clear();
    this.pendingAll = false;
    try {
      if (all) return await this.reloadAll();
      const exists = new Map(await Promise.all(ids.map(async (id) => [id, await fileExists(path.join(this.tasksDir, `${id}.json`))] as const)));
      const known = ids.filter((id) => this.tasks.has(id) || exists.get(id));
      const views = await Promise.all(known.map((id) => readTaskViewAsync(this.tasksDir, id)));
      if (this.disposed) return;
      let listChanged = false;
      for (const view of views) {
        if (!exists.get(view.id)) {
          listChanged ||= this.tasks.delete(view.id);
          continue;
        }
        if (!this.tasks.has(view.id)) listChanged = true;
        this.update(view);
      }
      this.refreshes++;
      this._onDidChange.fire(listChanged ? undefined : known);
    } catch (err) {
      this.log.error(`refreshing ${this.tasksDir}: ${(err as Error).stack ?? err}`);
    }
  }

  private async reloadAll(): Promise<void> {
    const ids = await this.listIds();
    const views = await Promise.all(ids.map((id) => readTaskViewAsync(this.tasksDir, id)));
    this.globalControl = await this.readGlobal();
    if (this.disposed) return;
    const seen = new Set(ids);
    for (const id of [...this.tasks.keys()]) if (!seen.has(id)) this.tasks.delete(id);
    for (const view of views) this.update(view);
    this.refreshes++;
    this._onDidChange.fire(undefined);
  }

  private update(view: TaskView): void {
    const before = this.tasks.get(view.id);
    this.tasks.set(view.id, view);
    if (before && before.status !== view.status) this._onDidChangeStatus.fire({ store: this, id: view.id, from: before.status, view });
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    clearInterval(this.recheck);
    void this.watcher?.close();
    this._onDidChange.dispose();
    this._onDidChangeStatus.dispose();
  }
}

function fileExists(file: string): Promise<boolean> {
  return fs.promises.access(file).then(
    () => true,
    () => false,
  );
}
