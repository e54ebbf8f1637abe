/** Invalid definitions in the Problems panel, each on its file. */
import * as vscode from 'vscode';
import type { TaskStore } from './taskStore';

export class DefinitionProblems implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('pausableTasks');
  private readonly disposables: vscode.Disposable[] = [this.collection];

  watch(store: TaskStore): void {
    this.disposables.push(store.onDidChange(() => this.update(store)));
  }

  private readonly owned = new Map<TaskStore, Set<string>>();

  update(store: TaskStore): void {
    const previous = this.owned.get(store) ?? new Set<string>();
    const now = new Set<string>();
    for (const view of store.tasks.values()) {
      if (!view.problem) continue;
      const file = view.paths?.definition ?? `${store.tasksDir}/${view.id}.json`;
      // The message names the file already: the Problems panel shows the file, so drop it there.
      const message = view.problem.startsWith(`${file}: `) ? view.problem.slice(file.length + 2) : view.problem;
      const diagnostic = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 0), message, vscode.DiagnosticSeverity.Error);
      diagnostic.source = 'Pausable Tasks';
      this.collection.set(vscode.Uri.file(file), [diagnostic]);
      now.add(file);
    }
    for (const file of previous) if (!now.has(file)) this.collection.delete(vscode.Uri.file(file));
    this.owned.set(store, now);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
