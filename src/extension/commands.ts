/**
 * The commands: each works on a tree item, or asks for a task (a quick pick of the tasks the
 * action applies to) when run from the palette. They only write control files and start the
 * bundled runner; they never run a step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { pauseAll, resumeAll } from '../control/all';
import { exampleTask } from '../control/example';
import type { LaunchOptions } from '../control/launch';
import { isRefusal, type Refusal } from '../control/outcomes';
import { editItem, type ItemEdit } from '../control/items';
import { resetTask } from '../control/reset';
import { startTask, type StartOutcome } from '../control/start';
import { stopTask } from '../control/stop';
import { listSnapshots } from '../protocol/checkpoint';
import { itemsReport } from '../protocol/itemRows';
import { FileError } from '../protocol/jsonFile';
import { stepLogPath, taskIdProblem, type TaskPaths } from '../protocol/paths';
import { readTaskViewAsync, runsOnRegardless, type TaskView } from '../protocol/taskView';
import { canTransition, TransitionError, type Request } from '../protocol/transitions';
import type { Settings } from './settings';
import { taskActions, taskDescription } from './presentation';
import type { TaskStore } from './taskStore';
import type { Node, TaskNode } from './tree';

/** Every message through l10n (package.nls.json holds the manifest's words). */
const t = vscode.l10n.t;

type Target = { store: TaskStore; view: TaskView & { paths: TaskPaths } };
/** An item named by the caller (a keybinding, a test) instead of picked. */
type ItemChoice = { step: string; index: number };

export class Commands implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  /** Opens (or reveals) the terminal that follows a task: set by the task provider. */
  follow: ((store: TaskStore, id: string) => void) | undefined;
  /** A log was opened: the log follower takes it (set by the extension). */
  logOpened: ((store: TaskStore, id: string, step: string, editor: vscode.TextEditor) => void) | undefined;
  /** Opens the picture of a task's run: set by the extension. */
  showRun: ((store: TaskStore, id: string) => unknown) | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly stores: () => TaskStore[],
    private readonly settings: () => Settings,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const register = (name: string, handler: (...args: any[]) => unknown) =>
      this.disposables.push(vscode.commands.registerCommand(`pausableTasks.${name}`, (...args) => this.guard(name, () => handler.apply(this, args))));
    register('run', this.run);
    register('pause', this.pause);
    register('resume', this.resume);
    register('interrupt', this.interrupt);
    register('reset', this.reset);
    register('skipItem', (node?: Node, choice?: ItemChoice) => this.editItem('skip', node, choice));
    register('retryItem', (node?: Node, choice?: ItemChoice) => this.editItem('retry', node, choice));
    register('openCheckpoint', this.openCheckpoint);
    register('openLog', this.openLog);
    register('compareCheckpoint', this.compareCheckpoint);
    register('newTask', this.newTask);
    register('refresh', () => this.stores().forEach((s) => s.schedule(undefined)));
    register('follow', (node?: Node) => this.followInTerminal(node));
    register('showRun', (node?: Node) => this.showRunOf(node));
    register('pauseAll', () => this.setAll('paused'));
    register('resumeAll', () => this.setAll('running'));
    register('toggleAll', () => this.setAll(this.allPaused() ? 'running' : 'paused'));
  }

  /** Errors become messages naming the task and the file, never a failed command. */
  private async guard(name: string, body: () => unknown): Promise<unknown> {
    try {
      return await body();
    } catch (err) {
      if (err instanceof TransitionError || err instanceof FileError) {
        void vscode.window.showErrorMessage(err.message);
        return undefined;
      }
      this.log.error(`${name}: ${(err as Error).stack ?? err}`);
      void vscode.window.showErrorMessage(t('Pausable Tasks: {0} failed: {1}', name, (err as Error).message));
      return undefined;
    }
  }

  // ---- choosing the task -----------------------------------------------------------------------

  /**
   * The task a command acts on, read afresh from its files (the tree may be a moment old), and
   * checked against the transition table for the request.
   */
  private async target(node: Node | undefined, request: Request | undefined, placeholder: string): Promise<Target | undefined> {
    const chosen = node ? taskNodeOf(node) : await this.pick(request, placeholder);
    if (!chosen) return undefined;
    const view = await readTaskViewAsync(chosen.store.tasksDir, chosen.id);
    // A live runner whose definition broke meanwhile still takes pause and interrupt (control refuses the rest).
    if (!view.paths || (view.problem && !runsOnRegardless(view))) throw new FileError(view.paths?.definition ?? `${chosen.id}.json`, view.problem ?? 'invalid', 'invalid');
    const waiting = Boolean(view.waiting);
    if (request && !canTransition(view.status, request, waiting)) throw new TransitionError(view.id, request, view.status, waiting);
    return { store: chosen.store, view: view as Target['view'] };
  }

  private async pick(request: Request | undefined, placeholder: string): Promise<{ store: TaskStore; id: string } | undefined> {
    const multi = this.stores().length > 1;
    const items = this.stores().flatMap((store) =>
      [...store.tasks.values()]
        .filter((v) => (request ? taskActions(v).includes(request) : !v.problem))
        .map((v) => ({ label: v.id, description: taskDescription(v), detail: multi ? store.folder.name : undefined, store, id: v.id })),
    );
    if (!items.length) {
      void vscode.window.showInformationMessage(request ? t('No task can {0} now.', request === 'runFresh' ? 'run' : request) : t('There are no tasks.'));
      return undefined;
    }
    return vscode.window.showQuickPick(items, { placeHolder: placeholder, matchOnDescription: true });
  }

  // ---- running ---------------------------------------------------------------------------------

  /** Workspace Trust: in a restricted workspace nothing is run, and the person is told why. */
  private trusted(action: string): boolean {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window
      .showWarningMessage(t('Pausable Tasks cannot {0} in a restricted workspace: tasks run commands. Trust this workspace to run them.', action), t('Manage Workspace Trust'))
      .then((choice) => choice && vscode.commands.executeCommand('workbench.trust.manage'));
    return false;
  }

  private launchOptions(store: TaskStore): Omit<LaunchOptions, 'paths' | 'mode'> {
    const s = this.settings();
    return {
      runnerScript: this.context.asAbsolutePath(path.join('dist', 'runner.js')),
      execPath: process.execPath,
      // Under desktop VS Code the host's executable is Electron: this makes it a plain Node.
      extraEnv: { ELECTRON_RUN_AS_NODE: '1' },
      root: store.folder.uri.fsPath,
      tasksFolder: s.tasksFolder,
      pollMs: s.pollIntervalMs,
      graceMs: s.interruptGracePeriodMs,
    };
  }

  /** A refusal as a message; pause all offers to turn itself off. */
  private async refused(r: Refusal): Promise<void> {
    if (r.kind !== 'pausedForAll') {
      void vscode.window.showErrorMessage(r.message);
      return;
    }
    const choice = await vscode.window.showWarningMessage(t('Pause all is on: no task starts until it is off.'), t('Resume All'));
    if (choice) await this.setAll('running');
  }

  private async start(target: Target, mode: 'run' | 'resume', how: { force?: boolean; rerunDone?: boolean } = {}): Promise<StartOutcome> {
    const { store, view } = target;
    this.log.info(`${mode} '${view.id}' in ${store.folder.name}`);
    const outcome = await startTask(view, { mode, ...how, requestedBy: 'vscode', detach: this.launchOptions(store) });
    store.schedule([view.id]);
    return outcome;
  }

  /** What a start came to, for the person: silence when it took effect (the tree shows it), else why not. */
  private async report(view: Target['view'], mode: 'run' | 'resume', outcome: StartOutcome): Promise<void> {
    switch (outcome.kind) {
      case 'started':
      case 'liveRunner':
      case 'waitCut':
      case 'ready':
        return;
      case 'ended':
        // Ended before we saw it start: a short task that already finished, or one that paused at once, is fine.
        if (outcome.exitCode === 0 || outcome.exitCode === 2) return;
        this.log.error(`runner for '${view.id}' exited with ${outcome.exitCode}: ${outcome.output}`);
        void vscode.window.showErrorMessage(t("Could not {0} '{1}': {2}", mode, view.id, lastLine(outcome.output) || t('exit code {0}', outcome.exitCode)), t('Show Log')).then((c) => c && this.log.show());
        return;
      case 'held':
        // Another window or terminal started it first: it runs, which is what was asked.
        if (outcome.holder.by === 'runner') return;
        return this.refused(outcome);
      default:
        return this.refused(outcome);
    }
  }

  /** For a task's terminal (Run Task): run it, or resume it, as the tree's Run and Resume would. */
  async runOrResume(store: TaskStore, id: string): Promise<void> {
    const node: TaskNode = { kind: 'task', store, id };
    const view = await readTaskViewAsync(store.tasksDir, id);
    const resume = canTransition(view.status, 'resume', Boolean(view.waiting));
    await this.guard(resume ? 'resume' : 'run', () => (resume ? this.resume(node) : this.run(node)));
  }

  /** Follow a task in a terminal: its state and the output of its steps as they run. */
  async followInTerminal(node?: Node): Promise<void> {
    const target = await this.target(node, undefined, t('Follow which task?'));
    if (target) this.follow?.(target.store, target.view.id);
  }

  /** The picture of a task's run: a timeline of its steps and items, live. */
  async showRunOf(node?: Node): Promise<unknown> {
    const target = await this.target(node, undefined, t('Show the run of which task?'));
    return target && this.showRun?.(target.store, target.view.id);
  }

  async run(node?: Node): Promise<void> {
    if (!this.trusted('run tasks')) return;
    const target = await this.target(node, 'run', t('Run which task?'));
    if (target) await this.report(target.view, 'run', await this.start(target, 'run'));
  }

  async resume(node?: Node): Promise<void> {
    if (!this.trusted('resume tasks')) return;
    const target = await this.target(node, 'resume', t('Resume which task?'));
    if (!target) return;
    let outcome = await this.start(target, 'resume');
    // The plan would run done steps again: show it, and ask.
    if (outcome.kind === 'changed') {
      const detail = `${outcome.changes.map((c) => `• ${c}`).join('\n')}\n\n${t('Run them again as the plan says, or keep every done step as it is (resume --force)?')}`;
      const again = t('Run Them Again');
      const choice = await vscode.window.showWarningMessage(t("'{0}' changed since its checkpoint: done steps would run again.", target.view.id), { modal: true, detail }, again, t('Keep Them Done'));
      if (!choice) return;
      outcome = await this.start(target, 'resume', choice === again ? { rerunDone: true } : { force: true });
    }
    await this.report(target.view, 'resume', outcome);
  }

  /** Skip an item of the forEach step a stopped task stopped in, or make it run again on resume; picked from its items. */
  async editItem(edit: ItemEdit, node?: Node, choice?: ItemChoice): Promise<void> {
    const target = await this.target(node, undefined, edit === 'skip' ? t('Skip an item of which task?') : t('Run an item again in which task?'));
    if (!target) return;
    const { view } = target;
    const stepId = choice?.step ?? view.state?.stoppedIn?.id;
    if (!stepId || !view.definition) {
      void vscode.window.showInformationMessage(t("'{0}' did not stop in a forEach step: it has no item to {1}.", view.id, edit));
      return;
    }
    let index = choice?.index;
    if (index === undefined) {
      const report = itemsReport(view.paths, view.definition, stepId, false);
      if ('problem' in report) return void vscode.window.showErrorMessage(report.problem);
      const wanted = edit === 'skip' ? ['failed', 'to run'] : ['failed', 'done', 'skipped'];
      const picks = report.items
        .filter((r) => wanted.includes(r.state))
        .sort((a, b) => Number(b.state === 'failed') - Number(a.state === 'failed') || a.index - b.index)
        .map((r) => ({ label: `${r.index}: ${r.item}`, description: r.state, detail: r.error, index: r.index }));
      if (!picks.length) return void vscode.window.showInformationMessage(t("Step '{0}' of '{1}' has no item to {2}.", stepId, view.id, edit));
      const picked = await vscode.window.showQuickPick(picks, { placeHolder: edit === 'skip' ? t("Skip which item of '{0}'?", stepId) : t("Run again which item of '{0}'?", stepId), matchOnDescription: true, matchOnDetail: true });
      if (!picked) return;
      index = picked.index;
    }
    const outcome = editItem(view, stepId, index, edit, 'vscode');
    if (outcome.kind !== 'edited') return this.refused(outcome);
    target.store.schedule([view.id]);
    void vscode.window.showInformationMessage(edit === 'skip' ? t("Item {0} ({1}) of '{2}' is skipped: the step completes without it on resume.", index, outcome.item, stepId) : t("Item {0} ({1}) of '{2}' runs again on resume.", index, outcome.item, stepId));
  }

  async pause(node?: Node): Promise<void> {
    const target = await this.target(node, 'pause', t('Pause which task?'));
    if (!target) return;
    const outcome = stopTask(target.view, 'pause', 'vscode');
    if (isRefusal(outcome)) return this.refused(outcome);
    target.store.schedule([target.view.id]);
  }

  async interrupt(node?: Node): Promise<void> {
    const target = await this.target(node, 'interrupt', t('Interrupt which task?'));
    if (!target) return;
    if (this.settings().confirmInterrupt) {
      const step = target.view.state?.currentStep?.id;
      const interrupt = t('Interrupt');
      const choice = await vscode.window.showWarningMessage(
        t("Interrupt '{0}'?", target.view.id),
        { modal: true, detail: step ? t("Step '{0}' is stopped now and runs again on resume; everything finished before is kept.", step) : t('The step in flight is stopped now and runs again on resume; everything finished before is kept.') },
        interrupt,
      );
      if (choice !== interrupt) return;
    }
    const outcome = stopTask(target.view, 'interrupt', 'vscode');
    if (isRefusal(outcome)) return this.refused(outcome);
    target.store.schedule([target.view.id]);
  }

  async reset(node?: Node): Promise<void> {
    const target = await this.target(node, 'reset', t('Reset which task?'));
    if (!target) return;
    const reset = t('Reset');
    const choice = await vscode.window.showWarningMessage(
      t("Reset '{0}'?", target.view.id),
      { modal: true, detail: t('Its progress is forgotten: the next run starts from the first step. The last checkpoint is kept under checkpoints/.') },
      reset,
    );
    if (choice !== reset) return;
    const outcome = resetTask(target.view);
    if (isRefusal(outcome)) await this.refused(outcome);
    target.store.schedule([target.view.id]);
  }

  async setAll(desired: 'running' | 'paused'): Promise<void> {
    if (desired === 'running' && !this.trusted('resume tasks')) return;
    for (const store of this.stores()) {
      if (!fs.existsSync(store.tasksDir)) continue;
      if (desired === 'paused') {
        const outcome = await pauseAll(store.tasksDir, 'vscode');
        if (isRefusal(outcome)) await this.refused(outcome);
        else for (const id of outcome.notTaken) void vscode.window.showWarningMessage(t("'{0}' has not taken the pause: its runner may be gone. See its state in the tree.", id));
      } else {
        const outcome = await resumeAll(store.tasksDir, 'vscode', this.launchOptions(store));
        if (isRefusal(outcome)) await this.refused(outcome);
        else for (const f of outcome.failed) void vscode.window.showErrorMessage(t("Could not resume '{0}': {1}", f.id, lastLine(f.message)));
      }
      store.schedule(undefined);
    }
  }

  allPaused(): boolean {
    const stores = this.stores().filter((s) => s.tasks.size);
    return stores.length > 0 && stores.every((s) => s.globalControl?.desired === 'paused');
  }

  // ---- documents -------------------------------------------------------------------------------

  async openCheckpoint(node?: Node): Promise<void> {
    const target = await this.target(node, undefined, t('Open the checkpoint of which task?'));
    if (!target) return;
    if (!fs.existsSync(target.view.paths.checkpoint)) {
      void vscode.window.showInformationMessage(t("'{0}' has no checkpoint yet: it is written when the task first runs.", target.view.id));
      return;
    }
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(target.view.paths.checkpoint));
    await vscode.window.showTextDocument(doc, { preview: true });
  }

  async compareCheckpoint(node?: Node): Promise<void> {
    const target = await this.target(node, undefined, t('Compare the checkpoint of which task?'));
    if (!target) return;
    const [previous] = listSnapshots(target.view.paths.checkpointsDir);
    if (!previous || !fs.existsSync(target.view.paths.checkpoint)) {
      void vscode.window.showInformationMessage(t("'{0}' has no earlier checkpoint to compare with.", target.view.id));
      return;
    }
    const title = `${target.view.id}: ${path.basename(previous, '.json')} ↔ current checkpoint`;
    await vscode.commands.executeCommand('vscode.diff', vscode.Uri.file(previous), vscode.Uri.file(target.view.paths.checkpoint), title);
  }

  async openLog(node?: Node): Promise<void> {
    let file: string | undefined;
    let task: { store: TaskStore; id: string } | undefined;
    if (node?.kind === 'step' || node?.kind === 'log') {
      const view = node.task.store.tasks.get(node.task.id);
      task = node.task;
      file = node.kind === 'log' ? node.file : view?.paths && stepLogPath(view.paths, node.row.id);
    } else {
      const target = await this.target(node, undefined, t('Open a log of which task?'));
      if (!target) return;
      task = { store: target.store, id: target.view.id };
      const logs = fs.existsSync(target.view.paths.logsDir) ? fs.readdirSync(target.view.paths.logsDir).filter((n) => n.endsWith('.log')) : [];
      const current = target.view.state?.currentStep?.id ?? target.view.state?.reason?.match(/step '([^']+)'/)?.[1];
      if (current && logs.includes(`${current}.log`)) file = stepLogPath(target.view.paths, current);
      else if (logs.length === 1) file = path.join(target.view.paths.logsDir, logs[0]);
      else if (logs.length) {
        const pick = await vscode.window.showQuickPick(logs, { placeHolder: t('Which step’s log?') });
        file = pick && path.join(target.view.paths.logsDir, pick);
      }
    }
    if (!file) return;
    if (!fs.existsSync(file)) {
      void vscode.window.showInformationMessage(t('{0}: the step has printed nothing yet.', path.basename(file)));
      return;
    }
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
    // While the task runs, the editor follows the log as it grows, and the next step's.
    if (task) this.logOpened?.(task.store, task.id, path.basename(file, '.log'), editor);
  }

  async newTask(): Promise<void> {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (!folders.length) {
      void vscode.window.showInformationMessage(t('Open a folder first: tasks live in its .tasks folder.'));
      return;
    }
    const folder = folders.length === 1 ? folders[0] : await vscode.window.showWorkspaceFolderPick({ placeHolder: t('Create the task in which folder?') });
    if (!folder) return;
    const store = this.stores().find((s) => s.folder.uri.toString() === folder.uri.toString());
    const tasksDir = store?.tasksDir ?? path.join(folder.uri.fsPath, this.settings().tasksFolder);
    let suggestion = 'example';
    for (let n = 2; fs.existsSync(path.join(tasksDir, `${suggestion}.json`)); n++) suggestion = `example-${n}`;
    const id = await vscode.window.showInputBox({
      prompt: 'Task id: the file name in .tasks/, lowercase letters, digits, ".", "_" or "-"',
      value: suggestion,
      validateInput: (v) => taskIdProblem(v) ?? (fs.existsSync(path.join(tasksDir, `${v}.json`)) ? `${v}.json exists already` : undefined),
    });
    if (!id) return;
    fs.mkdirSync(tasksDir, { recursive: true });
    const file = path.join(tasksDir, `${id}.json`);
    fs.writeFileSync(file, JSON.stringify(exampleTask(), null, 2) + '\n', { flag: 'wx' });
    store?.schedule([id]);
    await vscode.window.showTextDocument(vscode.Uri.file(file));
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function taskNodeOf(node: Node): TaskNode | undefined {
  if (node.kind === 'task') return node;
  if (node.kind === 'folder') return undefined;
  return node.task;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}
