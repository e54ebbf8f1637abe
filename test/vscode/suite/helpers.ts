// Shared by the extension-host suites: the extension's API and what the tree shows.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PausableTasksApi } from '../../../src/extension/extension';
import type { Node } from '../../../src/extension/tree';

export const EXTENSION_ID = 'pausable-tasks.pausable-tasks';

export async function api(): Promise<PausableTasksApi> {
  const ext = vscode.extensions.getExtension<PausableTasksApi>(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not loaded`);
  return ext.activate();
}

export const workspaceRoot = () => vscode.workspace.workspaceFolders![0].uri.fsPath;
export const tasksDir = () => path.join(workspaceRoot(), '.tasks');

/** A task's tree item, as VS Code would render it. */
export async function taskItem(a: PausableTasksApi, id: string): Promise<{ node: Node; item: vscode.TreeItem } | undefined> {
  for (const node of await a.tree.getChildren()) {
    if (node.kind === 'task' && node.id === id) return { node, item: a.tree.getTreeItem(node) };
  }
  return undefined;
}

export const description = (item: vscode.TreeItem) => String(item.description ?? '');

/** Poll until the check returns something truthy, or fail with what was seen last. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Wait until the task's tree item says `status` (its contextValue carries the state). */
export async function waitForStatus(a: PausableTasksApi, id: string, status: string, timeoutMs?: number) {
  return waitFor(
    `'${id}' to show as ${status}`,
    async () => {
      const t = await taskItem(a, id);
      return t && t.item.contextValue?.startsWith(`task.${status}`) ? t : undefined;
    },
    timeoutMs,
  );
}

export function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}
