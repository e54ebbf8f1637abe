/** Wires the parts; each owns its disposables. Nothing here reads a file or runs a step. */
import * as vscode from 'vscode';
import { Commands } from './commands';
import { DefinitionProblems } from './diagnostics';
import { Notifier } from './notifications';
import { readSettings } from './settings';
import { TaskStatusBar } from './statusBar';
import { TaskStore } from './taskStore';
import { TaskTreeProvider } from './tree';

/** What the extension hands to tests (and to other extensions): its live parts. */
export interface PausableTasksApi {
  stores(): TaskStore[];
  tree: TaskTreeProvider;
  statusBar: TaskStatusBar;
  commands: Commands;
}

export function activate(context: vscode.ExtensionContext): PausableTasksApi {
  const log = vscode.window.createOutputChannel('Pausable Tasks', { log: true });
  let stores: TaskStore[] = [];
  const tree = new TaskTreeProvider(() => stores);
  const statusBar = new TaskStatusBar(() => stores);
  const problems = new DefinitionProblems();
  const notifier = new Notifier(tree, readSettings);
  const commands = new Commands(context, () => stores, readSettings, log);

  const openStores = () => {
    for (const store of stores) store.dispose();
    const folder = readSettings().tasksFolder;
    stores = (vscode.workspace.workspaceFolders ?? []).map((f) => new TaskStore(f, folder, log));
    for (const store of stores) {
      tree.watch(store);
      statusBar.watch(store);
      problems.watch(store);
      notifier.watch(store);
      void store.start().catch((err) => log.error(`loading ${store.tasksDir}: ${err}`));
    }
    tree.refresh();
    void vscode.commands.executeCommand('setContext', 'pausableTasks.restricted', !vscode.workspace.isTrusted);
  };
  openStores();

  const view = vscode.window.createTreeView('pausableTasks.tasks', { treeDataProvider: tree, showCollapseAll: true });
  context.subscriptions.push(
    log,
    tree,
    statusBar,
    problems,
    notifier,
    commands,
    view,
    { dispose: () => stores.forEach((s) => s.dispose()) },
    vscode.workspace.onDidChangeWorkspaceFolders(openStores),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void vscode.commands.executeCommand('setContext', 'pausableTasks.restricted', false)),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('pausableTasks.tasksFolder') && openStores()),
  );
  log.info(`Pausable Tasks activated for ${stores.length} workspace folder(s)`);
  return { stores: () => stores, tree, statusBar, commands };
}

export function deactivate(): void {
  // Runners are detached on purpose: closing VS Code does not stop tasks.
}
