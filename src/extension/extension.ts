/** Wires the parts; each owns its disposables. Nothing here reads a file or runs a step. */
import * as vscode from 'vscode';
import { TaskActivity } from './activity';
import { AutoResumer } from './autoResume';
import { Commands } from './commands';
import { DefinitionProblems } from './diagnostics';
import { Notifier } from './notifications';
import { readSettings } from './settings';
import { TaskStatusBar } from './statusBar';
import { TaskStore } from './taskStore';
import { LogFollowing } from './logFollowing';
import { RunPictures } from './runPictures';
import { PausableTaskProvider } from './taskTerminal';
import { TaskTreeProvider } from './tree';

/** What the extension hands to tests (and to other extensions): its live parts. */
export interface PausableTasksApi {
  stores(): TaskStore[];
  tree: TaskTreeProvider;
  statusBar: TaskStatusBar;
  commands: Commands;
  /** The `pausable` tasks of Run Task, and the terminals that follow them. */
  taskProvider: PausableTaskProvider;
  activity: TaskActivity;
  pictures: RunPictures;
  logs: LogFollowing;
  /** performance.now() times: the bundle's load, activate(), and the first read of every task. */
  timings: { loadMs: number; activateMs: number; activated: number; firstLoad: Promise<number> };
}

declare const globalThis: { __pausableTasksLoad?: { start: number; end: number } };

export function activate(context: vscode.ExtensionContext): PausableTasksApi {
  const activateStart = performance.now();
  const log = vscode.window.createOutputChannel('Pausable Tasks', { log: true });
  let stores: TaskStore[] = [];
  const tree = new TaskTreeProvider(() => stores);
  const statusBar = new TaskStatusBar(() => stores);
  const problems = new DefinitionProblems();
  const notifier = new Notifier(tree, readSettings);
  const autoResumer = new AutoResumer(tree, log);
  const commands = new Commands(context, () => stores, readSettings, log);
  const taskProvider = new PausableTaskProvider(() => stores, commands);
  commands.follow = (store, id) => taskProvider.reveal(store, id);
  const view = vscode.window.createTreeView('pausableTasks.tasks', { treeDataProvider: tree, showCollapseAll: true });
  const activity = new TaskActivity(() => stores, view);
  const pictures = new RunPictures(context.extensionUri);
  commands.showRun = (store, id) => pictures.show(store, id);
  const logs = new LogFollowing();
  commands.logOpened = (store, id, step, editor) => logs.follow(store, id, step, editor);

  const openStores = () => {
    for (const store of stores) store.dispose();
    const folder = readSettings().tasksFolder;
    stores = (vscode.workspace.workspaceFolders ?? []).map((f) => new TaskStore(f, folder, log));
    for (const store of stores) {
      tree.watch(store);
      statusBar.watch(store);
      problems.watch(store);
      notifier.watch(store);
      autoResumer.watch(store);
      activity.watch(store);
      pictures.watch(store);
      logs.watch(store);
      void store.start().catch((err) => log.error(`loading ${store.tasksDir}: ${err}`));
    }
    tree.refresh();
    void vscode.commands.executeCommand('setContext', 'pausableTasks.restricted', !vscode.workspace.isTrusted);
  };
  openStores();

  context.subscriptions.push(
    taskProvider,
    activity,
    pictures,
    logs,
    log,
    tree,
    statusBar,
    problems,
    notifier,
    autoResumer,
    commands,
    view,
    { dispose: () => stores.forEach((s) => s.dispose()) },
    vscode.workspace.onDidChangeWorkspaceFolders(openStores),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void vscode.commands.executeCommand('setContext', 'pausableTasks.restricted', false)),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('pausableTasks.tasksFolder') && openStores()),
  );
  const activated = performance.now();
  const load = globalThis.__pausableTasksLoad;
  const loadMs = load ? load.end - load.start : 0;
  const activateMs = activated - activateStart;
  const firstLoad = Promise.all(stores.map((s) => s.ready)).then(() => performance.now());
  void firstLoad.then((at) =>
    log.info(`loaded in ${loadMs.toFixed(1)} ms, activated in ${activateMs.toFixed(1)} ms; ${stores.reduce((n, s) => n + s.tasks.size, 0)} tasks read ${(at - activated).toFixed(1)} ms later`),
  );
  return { stores: () => stores, tree, statusBar, commands, taskProvider, activity, pictures, logs, timings: { loadMs, activateMs, activated, firstLoad } };
}

export function deactivate(): void {
  // Runners are detached on purpose: closing VS Code does not stop tasks.
}
