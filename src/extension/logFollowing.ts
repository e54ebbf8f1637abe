/**
 * Open Log, while the task runs, follows like `tail -f`: the editor keeps the end of the log in
 * view as it grows (unless the person scrolled up to read), and when the step followed ends and
 * the next one starts, its log replaces it in the same editor. VS Code reloads a log from disk as
 * it changes; here the editor is only kept at its end, and moved on.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { stepLogPath } from '../protocol/paths';
import { runningSteps } from '../protocol/schemas';
import { ACTIVE_STATES } from '../protocol/transitions';
import type { TaskStore } from './taskStore';

/** How often the followed log is looked at for growth that VS Code has not loaded yet. */
const LOOK_MS = 500;

interface Followed {
  store: TaskStore;
  id: string;
  step: string;
  uri: vscode.Uri;
  /** The document's line count when it was last at its end: an editor that showed that line is at the end. */
  lines: number;
}

export class LogFollowing implements vscode.Disposable {
  private followed: Followed | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    this.disposables.push(vscode.workspace.onDidChangeTextDocument((e) => this.grown(e.document)));
  }

  watch(store: TaskStore): void {
    this.disposables.push(store.onDidChange((ids) => this.followed?.store === store && (!ids || ids.includes(this.followed.id)) && void this.moveOn()));
  }

  /** The step's log is open in `editor`: follow it while the task runs. */
  follow(store: TaskStore, id: string, step: string, editor: vscode.TextEditor): void {
    const view = store.tasks.get(id);
    if (!view || !ACTIVE_STATES.has(view.status)) return this.stop();
    this.followed = { store, id, step, uri: editor.document.uri, lines: editor.document.lineCount };
    this.toEnd(editor);
    clearInterval(this.timer);
    // A change VS Code's watcher has not reported yet (a network file system): ask it to look again.
    this.timer = setInterval(() => void this.look(), LOOK_MS);
  }

  /** The step followed now, for tests. */
  get step(): string | undefined {
    return this.followed?.step;
  }

  private grown(doc: vscode.TextDocument): void {
    const f = this.followed;
    if (!f || doc.uri.toString() !== f.uri.toString()) return;
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document !== doc) continue;
      // At the end before it grew (the former last line in view): stay at the end.
      if (editor.visibleRanges.some((r) => r.end.line >= f.lines - 2)) this.toEnd(editor);
    }
    f.lines = doc.lineCount;
  }

  private async look(): Promise<void> {
    const f = this.followed;
    if (!f) return;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === f.uri.toString());
    if (!doc || doc.isClosed) return this.stop();
    const size = await fs.promises.stat(f.uri.fsPath).then((s) => s.size, () => 0);
    // The document holds less than the file (UTF-8 bytes against characters: a lower bound) and is not being edited.
    if (!doc.isDirty && Buffer.byteLength(doc.getText()) < size && vscode.window.activeTextEditor?.document === doc) await vscode.commands.executeCommand('workbench.action.files.revert');
  }

  /** The step followed ended: on to the one running now, in the same editor, if it still shows the log. */
  private async moveOn(): Promise<void> {
    const f = this.followed;
    if (!f) return;
    const view = f.store.tasks.get(f.id);
    if (!view?.paths) return this.stop();
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === f.uri.toString());
    if (!editor) return this.stop();
    const running = runningSteps(view.state).map((s) => s.id);
    if (!ACTIVE_STATES.has(view.status)) return this.stop();
    if (running.includes(f.step) || !running.length) return;
    const next = vscode.Uri.file(stepLogPath(view.paths, running[0]));
    if (!fs.existsSync(next.fsPath)) return;
    const opened = await vscode.window.showTextDocument(next, { viewColumn: editor.viewColumn, preview: true });
    this.follow(f.store, f.id, running[0], opened);
  }

  private toEnd(editor: vscode.TextEditor): void {
    const end = editor.document.lineAt(Math.max(0, editor.document.lineCount - 1)).range.end;
    editor.revealRange(new vscode.Range(end, end), vscode.TextEditorRevealType.Default);
  }

  private stop(): void {
    this.followed = undefined;
    clearInterval(this.timer);
  }

  dispose(): void {
    this.stop();
    for (const d of this.disposables) d.dispose();
  }
}
