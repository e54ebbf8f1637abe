/** The status-bar item: how many tasks run or are paused; a click pauses or resumes them all. */
import * as vscode from 'vscode';
import type { TaskStore } from './taskStore';

export class TaskStatusBar implements vscode.Disposable {
  readonly item = vscode.window.createStatusBarItem('pausableTasks.status', vscode.StatusBarAlignment.Left, 50);
  private readonly disposables: vscode.Disposable[] = [this.item];

  constructor(private readonly stores: () => TaskStore[]) {
    this.item.name = 'Pausable Tasks';
    this.item.command = 'pausableTasks.toggleAll';
  }

  watch(store: TaskStore): void {
    this.disposables.push(store.onDidChange(() => this.update()));
  }

  update(): void {
    const views = this.stores().flatMap((s) => [...s.tasks.values()]);
    const running = views.filter((v) => v.status === 'running' || v.status === 'pausing' || v.status === 'interrupting').length;
    const paused = views.filter((v) => v.status === 'paused').length;
    const stores = this.stores().filter((s) => s.tasks.size);
    const allPaused = stores.length > 0 && stores.every((s) => s.globalControl?.desired === 'paused');
    if (!views.length) return this.item.hide();
    const parts = [running ? `${running} running` : '', paused ? `${paused} paused` : ''].filter(Boolean);
    if (allPaused) {
      this.item.text = `$(debug-pause) All paused${parts.length ? ` · ${parts.join(' · ')}` : ''}`;
      this.item.tooltip = 'Pause all is on: no task starts. Click to resume the tasks it paused.';
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    } else {
      this.item.text = `${running ? '$(sync~spin)' : '$(tasklist)'} ${parts.length ? parts.join(' · ') : 'Tasks idle'}`;
      this.item.tooltip = 'Pausable Tasks. Click to pause all: every task pauses after its step in flight.';
      this.item.backgroundColor = undefined;
    }
    this.item.accessibilityInformation = { label: `Pausable Tasks: ${this.item.text.replace(/\$\([^)]*\)\s*/g, '')}` };
    this.item.show();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
