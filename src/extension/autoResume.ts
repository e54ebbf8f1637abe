/**
 * A task paused by a failure under `pauseOn.autoResume` is resumed by its own runner, which waits.
 * If that runner died, the task stays paused with its `resumeAt`: whoever is there honours it.
 * This is that someone while a window is open: at `resumeAt` (at once if it has passed), unless a
 * newer request than the one the runner applied is in control.json.
 */
import * as vscode from 'vscode';
import type { TaskView } from '../protocol/taskView';
import type { TaskStore } from './taskStore';
import type { TaskTreeProvider } from './tree';

export function dueForAutoResume(view: TaskView): string | undefined {
  const s = view.state;
  if (view.problem || view.status !== 'paused' || view.waiting || s?.pausedBy !== 'failure' || !s.resumeAt) return undefined;
  if (view.control && view.control.seq > s.appliedSeq) return undefined; // a person asked something since
  return s.resumeAt;
}

export class AutoResumer implements vscode.Disposable {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly tree: TaskTreeProvider, private readonly log: vscode.LogOutputChannel) {}

  watch(store: TaskStore): void {
    this.disposables.push(
      store.onDidChange(() => this.plan(store)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.plan(store)),
    );
  }

  private plan(store: TaskStore): void {
    for (const view of store.tasks.values()) {
      const key = `${store.tasksDir}#${view.id}`;
      const due = dueForAutoResume(view);
      clearTimeout(this.timers.get(key));
      this.timers.delete(key);
      if (!due) continue;
      const delay = Math.max(0, Date.parse(due) - Date.now());
      this.timers.set(
        key,
        setTimeout(() => {
          this.timers.delete(key);
          const now = store.tasks.get(view.id);
          if (!now || dueForAutoResume(now) !== due) return;
          // A restricted workspace runs nothing by itself; granting trust plans this again.
          if (!vscode.workspace.isTrusted) return this.log.info(`'${view.id}' is due to resume (${due}); waiting for Workspace Trust`);
          this.log.info(`resuming '${view.id}': its runner died while waiting to resume it at ${due}`);
          void vscode.commands.executeCommand('pausableTasks.resume', this.tree.taskNode(store, view.id));
        }, Math.min(delay, 2 ** 31 - 1)),
      );
    }
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const d of this.disposables) d.dispose();
  }
}
