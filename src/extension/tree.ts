/**
 * The sidebar tree: (folders, when there are several) → tasks → steps, checkpoint, logs.
 * Nodes are plain data; getTreeItem builds the TreeItem from the store's current view.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadCheckpointAsync } from '../protocol/checkpoint';
import { stepLogPath } from '../protocol/paths';
import { unfinishedSteps } from '../protocol/schemas';
import type { TaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import { stepIcon, stepRows, taskContextValue, taskDescription, taskIcon, taskLabel, taskTooltip, type IconSpec, type StepRow } from './presentation';
import type { TaskStore } from './taskStore';

export type Node =
  | { kind: 'folder'; store: TaskStore }
  | { kind: 'task'; store: TaskStore; id: string }
  | { kind: 'step'; task: TaskNode; row: StepRow }
  | { kind: 'checkpoint'; task: TaskNode; file: string; writtenAt?: string }
  | { kind: 'logs'; task: TaskNode; files: string[] }
  | { kind: 'log'; task: TaskNode; file: string }
  | { kind: 'message'; task: TaskNode; text: string };
export type TaskNode = Extract<Node, { kind: 'task' }>;

const icon = (spec: IconSpec) => new vscode.ThemeIcon(spec.id, spec.color ? new vscode.ThemeColor(spec.color) : undefined);

export class TaskTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly _onDidChangeTreeData = new vscode.EventEmitter<Node | Node[] | undefined>();
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  private readonly disposables: vscode.Disposable[] = [];
  /** One node object per task, so that a refresh can name just the tasks that changed. */
  private readonly taskNodes = new Map<string, TaskNode>();
  /** When each task's checkpoint was written, learnt while listing its children (for the tooltip). */
  private readonly checkpointTimes = new Map<string, string>();

  constructor(private readonly stores: () => TaskStore[]) {}

  /** Follow a store: refresh the tasks it says changed. */
  watch(store: TaskStore): void {
    this.disposables.push(
      store.onDidChange((ids) => {
        if (!ids) return this._onDidChangeTreeData.fire(undefined);
        const nodes = ids.map((id) => this.taskNodes.get(key(store, id))).filter((n): n is TaskNode => !!n);
        if (nodes.length) this._onDidChangeTreeData.fire(nodes);
      }),
    );
  }

  refresh(): void {
    this._onDidChangeTreeData.fire(undefined);
  }

  taskNode(store: TaskStore, id: string): TaskNode {
    let node = this.taskNodes.get(key(store, id));
    if (!node) this.taskNodes.set(key(store, id), (node = { kind: 'task', store, id }));
    return node;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) {
      const stores = this.stores();
      await Promise.all(stores.map((s) => s.ready));
      if (stores.length > 1) return stores.filter((s) => s.tasks.size).map((store) => ({ kind: 'folder', store }));
      return stores.flatMap((s) => this.tasksOf(s));
    }
    if (node.kind === 'folder') return this.tasksOf(node.store);
    if (node.kind === 'task') return this.childrenOfTask(node);
    if (node.kind === 'logs') return node.files.map((file) => ({ kind: 'log', task: node.task, file }));
    return [];
  }

  private tasksOf(store: TaskStore): TaskNode[] {
    return [...store.tasks.keys()].sort().map((id) => this.taskNode(store, id));
  }

  private async childrenOfTask(task: TaskNode): Promise<Node[]> {
    const view = task.store.tasks.get(task.id);
    if (!view?.paths) return [];
    if (view.problem) return [{ kind: 'message', task, text: view.problem }];
    const loaded = await loadCheckpointAsync(view.paths);
    const nodes: Node[] = [];
    if (!loaded.ok && loaded.error.code !== 'missing') nodes.push({ kind: 'message', task, text: loaded.error.message });
    const checkpoint = loaded.ok ? loaded.value.checkpoint : undefined;
    // A new run has not yet replaced the last run's checkpoint: show the steps of the current run only.
    const current = checkpoint && (!view.state || checkpoint.runId === view.state.runId) ? checkpoint : undefined;
    for (const row of stepRows(view, current?.completed ?? [], current ? unfinishedSteps(current) : [])) nodes.push({ kind: 'step', task, row });
    if (checkpoint) {
      this.checkpointTimes.set(key(task.store, task.id), checkpoint.writtenAt);
      nodes.push({ kind: 'checkpoint', task, file: view.paths.checkpoint, writtenAt: checkpoint.writtenAt });
    }
    const logs = await listLogs(view.paths.logsDir);
    if (logs.length) nodes.push({ kind: 'logs', task, files: logs });
    return nodes;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'folder': {
        const item = new vscode.TreeItem(node.store.folder.name, vscode.TreeItemCollapsibleState.Expanded);
        item.iconPath = vscode.ThemeIcon.Folder;
        item.contextValue = 'folder';
        return item;
      }
      case 'task':
        return this.taskItem(node);
      case 'step': {
        const item = new vscode.TreeItem(node.row.id, vscode.TreeItemCollapsibleState.None);
        item.description = node.row.description;
        item.iconPath = icon(stepIcon(node.row));
        item.contextValue = `step.${node.row.status}`;
        item.id = `${itemId(node.task)}/step/${node.row.id}`;
        const view = node.task.store.tasks.get(node.task.id);
        const log = view?.paths && stepLogPath(view.paths, node.row.id);
        if (log && node.row.status !== 'pending') item.command = { command: 'pausableTasks.openLog', title: 'Open Log', arguments: [node] };
        return item;
      }
      case 'checkpoint': {
        const item = new vscode.TreeItem('Checkpoint', vscode.TreeItemCollapsibleState.None);
        item.description = node.writtenAt ? new Date(node.writtenAt).toLocaleString() : undefined;
        item.iconPath = new vscode.ThemeIcon('save');
        item.resourceUri = vscode.Uri.file(node.file);
        item.contextValue = 'checkpoint';
        item.id = `${itemId(node.task)}/checkpoint`;
        item.command = { command: 'pausableTasks.openCheckpoint', title: 'Open Checkpoint', arguments: [node.task] };
        return item;
      }
      case 'logs': {
        const item = new vscode.TreeItem('Logs', vscode.TreeItemCollapsibleState.Collapsed);
        item.iconPath = new vscode.ThemeIcon('output');
        item.id = `${itemId(node.task)}/logs`;
        return item;
      }
      case 'log': {
        const item = new vscode.TreeItem(path.basename(node.file), vscode.TreeItemCollapsibleState.None);
        item.resourceUri = vscode.Uri.file(node.file);
        item.command = { command: 'vscode.open', title: 'Open Log', arguments: [vscode.Uri.file(node.file)] };
        item.contextValue = 'log';
        return item;
      }
      case 'message': {
        const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon('warning');
        item.tooltip = node.text;
        return item;
      }
    }
  }

  private taskItem(node: TaskNode): vscode.TreeItem {
    const view = node.store.tasks.get(node.id);
    const item = new vscode.TreeItem(node.id, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = itemId(node);
    if (!view) return item;
    item.label = taskLabel(view);
    item.description = taskDescription(view);
    item.iconPath = icon(taskIcon(view));
    const checkpointAt = this.checkpointTimes.get(key(node.store, node.id));
    item.contextValue = taskContextValue(view, hasRun(view));
    item.tooltip = new vscode.MarkdownString(taskTooltip(view, checkpointAt), true);
    if (view.problem && view.paths) item.command = { command: 'vscode.open', title: 'Open Definition', arguments: [vscode.Uri.file(view.paths.definition)] };
    // A task in flight: a click reveals the terminal that follows it (or opens one).
    else if (ACTIVE_STATES.has(view.status)) item.command = { command: 'pausableTasks.follow', title: 'Follow in Terminal', arguments: [node] };
    return item;
  }

  getParent(node: Node): Node | undefined {
    if (node.kind === 'task') return this.stores().length > 1 ? { kind: 'folder', store: node.store } : undefined;
    if (node.kind === 'folder') return undefined;
    return node.task;
  }

  dispose(): void {
    this._onDidChangeTreeData.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

const key = (store: TaskStore, id: string) => `${store.folder.uri.toString()}#${id}`;
const itemId = (node: TaskNode) => key(node.store, node.id);

/** A task that has run has a run folder with a state (and usually a checkpoint). */
const hasRun = (view: TaskView) => view.state !== undefined;

async function listLogs(dir: string): Promise<string[]> {
  try {
    return (await fs.promises.readdir(dir)).filter((n) => n.endsWith('.log')).sort().map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}
