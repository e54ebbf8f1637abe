/** Tell the person when a task completes, fails or pauses by itself, with the next action at hand. */
import * as vscode from 'vscode';
import type { Settings } from './settings';
import type { StatusChange, TaskStore } from './taskStore';
import type { TaskTreeProvider } from './tree';


const t = vscode.l10n.t;

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
    const [resume, resumeNow, openLog, openCheckpoint] = [t('Resume'), t('Resume Now'), t('Open Log'), t('Open Checkpoint')];
    if (view.status === 'failed') {
      choice = await vscode.window.showErrorMessage(t("Task '{0}' failed{1}", id, reason), openLog, resume);
    } else if (view.status === 'lost' && from !== 'idle') {
      choice = await vscode.window.showWarningMessage(t("Task '{0}' lost its runner{1}. Resume goes on from its checkpoint.", id, view.lostReason ? ` (${view.lostReason})` : ''), resume);
    } else if (mode === 'all' && view.status === 'completed') {
      choice = await vscode.window.showInformationMessage(t("Task '{0}' completed.", id), openCheckpoint);
    } else if (mode === 'all' && view.status === 'paused' && view.state?.pausedBy === 'failure') {
      const when = view.state.resumeAt ? ` ${t('It resumes by itself at {0}.', new Date(view.state.resumeAt).toLocaleTimeString())}` : '';
      choice = await vscode.window.showWarningMessage(t("Task '{0}' paused on a failure{1}.{2}", id, reason, when), view.state.resumeAt ? resumeNow : resume, openLog);
    } else if (mode === 'all' && view.status === 'paused' && (view.state?.pausedBy === 'step' || view.state?.pausedBy === 'signal' || view.state?.pausedBy === 'disk')) {
      choice = await vscode.window.showInformationMessage(t("Task '{0}' paused by itself{1}.", id, reason), resume, openLog);
    }
    if (choice === resume || choice === resumeNow) await vscode.commands.executeCommand('pausableTasks.resume', node);
    if (choice === openLog) await vscode.commands.executeCommand('pausableTasks.openLog', node);
    if (choice === openCheckpoint) await vscode.commands.executeCommand('pausableTasks.openCheckpoint', node);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
