/**
 * What the workbench shows of the tasks beside the tree: a badge on the view with the number of
 * tasks in flight, the view's progress bar while a task pauses (the tree's description says what
 * it waits for), and a decoration on each `.tasks/<id>.json` in the Explorer with its state.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TaskView } from '../protocol/taskView';
import { ACTIVE_STATES, type TaskStatus } from '../protocol/transitions';
import type { TaskStore } from './taskStore';

const DECORATIONS: Partial<Record<TaskStatus, { badge: string; color: string; tooltip: string }>> = {
  running: { badge: 'R', color: 'charts.blue', tooltip: 'running' },
  pausing: { badge: 'P', color: 'charts.yellow', tooltip: 'pausing' },
  paused: { badge: 'P', color: 'charts.yellow', tooltip: 'paused' },
  interrupting: { badge: 'I', color: 'charts.orange', tooltip: 'interrupting' },
  interrupted: { badge: 'I', color: 'charts.orange', tooltip: 'interrupted' },
  failed: { badge: 'F', color: 'testing.iconFailed', tooltip: 'failed' },
  lost: { badge: 'L', color: 'testing.iconFailed', tooltip: 'lost: its runner is gone' },
  completed: { badge: '✓', color: 'testing.iconPassed', tooltip: 'completed' },
};

export class TaskActivity implements vscode.FileDecorationProvider, vscode.Disposable {
  private readonly _onDidChangeFileDecorations = new vscode.EventEmitter<vscode.Uri[] | undefined>();
  readonly onDidChangeFileDecorations = this._onDidChangeFileDecorations.event;
  private readonly disposables: vscode.Disposable[] = [];
  /** Resolves the progress shown while some task pauses. */
  private endProgress: (() => void) | undefined;

  constructor(
    private readonly stores: () => TaskStore[],
    private readonly view: vscode.TreeView<unknown>,
  ) {
    this.disposables.push(vscode.window.registerFileDecorationProvider(this));
  }

  watch(store: TaskStore): void {
    this.disposables.push(
      store.onDidChange((ids) => {
        const uris = ids?.map((id) => vscode.Uri.file(path.join(store.tasksDir, `${id}.json`)));
        this._onDidChangeFileDecorations.fire(uris);
        this.update();
      }),
    );
  }

  /** The number on the view's badge: tasks in flight. */
  get badge(): number | undefined {
    return this.view.badge?.value;
  }

  /** The badge and the progress, from every store's tasks. */
  update(): void {
    const views = this.stores().flatMap((s) => [...s.tasks.values()]);
    const active = views.filter((v) => ACTIVE_STATES.has(v.status)).length;
    this.view.badge = active ? { value: active, tooltip: `${active} task${active === 1 ? '' : 's'} running` } : undefined;
    const pausing = views.filter((v) => v.status === 'pausing');
    if (pausing.length && !this.endProgress) {
      void vscode.window.withProgress({ location: { viewId: 'pausableTasks.tasks' }, title: 'Pausing' }, () => new Promise<void>((resolve) => (this.endProgress = resolve)));
    } else if (!pausing.length && this.endProgress) {
      this.endProgress();
      this.endProgress = undefined;
    }
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (uri.scheme !== 'file' || !uri.fsPath.endsWith('.json')) return undefined;
    const store = this.stores().find((s) => path.dirname(uri.fsPath) === s.tasksDir);
    const view: TaskView | undefined = store?.tasks.get(path.basename(uri.fsPath, '.json'));
    const d = view && !view.problem ? DECORATIONS[view.status] : undefined;
    return d && new vscode.FileDecoration(d.badge, `Pausable Tasks: ${d.tooltip}`, new vscode.ThemeColor(d.color));
  }

  dispose(): void {
    this.endProgress?.();
    this._onDidChangeFileDecorations.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
