/** Tell the person when a task completes, fails or pauses by itself, with the next action at hand. */
import * as vscode from 'vscode';
import type { Settings } from './settings';
import type { StatusChange, TaskStore } from './taskStore';
import type { TaskTreeProvider } from './tree';

export class Notifier implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly tree: TaskTreeProvider, private readonly settings: () => Settings) {}

  watch(store: TaskStore): void {
    this.disposables.push(store.onDidChangeStatus((change) => void this.notify(change)));
  }

  private async notify({ store, id, from, view }: StatusChange): Promise<void> {
    const mode = this.settings().notifications;
    if (mode === 'off') return;
    const node = this.tree.taskNode(store, id);
    const reason = view.state?.reason ? `: ${view.state.reason}` : '';
    let choice: string | undefined;
    if (view.status === 'failed') {
      choice = await vscode.window.showErrorMessage(`Task '${id}' failed${reason}`, 'Open Log', 'Resume');
    } else if (view.status === 'lost' && from !== 'idle') {
      choice = await vscode.window.showWarningMessage(`Task '${id}' lost its runner${view.lostReason ? ` (${view.lostReason})` : ''}. Resume goes on from its checkpoint.`, 'Resume');
    } else if (mode === 'all' && view.status === 'completed') {
      choice = await vscode.window.showInformationMessage(`Task '${id}' completed.`, 'Open Checkpoint');
    } else if (mode === 'all' && view.status === 'paused' && view.state?.pausedBy === 'failure') {
      const when = view.state.resumeAt ? ` It resumes by itself at ${new Date(view.state.resumeAt).toLocaleTimeString()}.` : '';
      choice = await vscode.window.showWarningMessage(`Task '${id}' paused on a failure${reason}.${when}`, view.state.resumeAt ? 'Resume Now' : 'Resume', 'Open Log');
    } else if (mode === 'all' && view.status === 'paused' && (view.state?.pausedBy === 'step' || view.state?.pausedBy === 'signal' || view.state?.pausedBy === 'disk')) {
      choice = await vscode.window.showInformationMessage(`Task '${id}' paused by itself${reason}.`, 'Resume', 'Open Log');
    }
    if (choice === 'Resume' || choice === 'Resume Now') await vscode.commands.executeCommand('pausableTasks.resume', node);
    if (choice === 'Open Log') await vscode.commands.executeCommand('pausableTasks.openLog', node);
    if (choice === 'Open Checkpoint') await vscode.commands.executeCommand('pausableTasks.openCheckpoint', node);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
