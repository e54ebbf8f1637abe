/**
 * The picture of a run: a webview per task that draws its run as a timeline (media/runPicture.js)
 * and follows it live. The extension reads the run's files (the timeline a line at a time as it
 * grows, the checkpoint, the state), builds the picture's data (protocol/runPicture) and posts it;
 * the webview only draws. Theme colours, keyboard reachable, no network, a strict CSP.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { loadCheckpointAsync } from '../protocol/checkpoint';
import { encodePicture, runPicture } from '../protocol/runPicture';
import { parseTimeline, type TimelineLine } from '../protocol/timeline';
import { readTaskViewAsync } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';
import type { TaskStore } from './taskStore';

/** While a run goes on, the picture is redrawn at most this often. */
const REFRESH_MS = 1000;

/** What the webview says once it has drawn: for tests and the benchmark. */
export interface Drawn {
  /** From the extension reading the files to the picture on screen. */
  ms: number;
  bars: number;
  steps: number;
  items: number;
}

/**
 * One picture at a time, like VS Code's Markdown preview: Show Run on another task shows that
 * task's run in the same panel. VS Code makes a second webview slowly (1.4 s against 0.35 s for
 * the window's first, on the machine of record: docs/benchmarks.md), and a run's picture is
 * looked at one at a time.
 */
export class RunPictures implements vscode.Disposable {
  private panel: RunPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {}

  watch(store: TaskStore): void {
    this.disposables.push(store.onDidChange((ids) => this.panel?.store === store && (!ids || ids.includes(this.panel.id)) && this.panel.refreshSoon()));
  }

  /** Show the picture of a task's run: in the panel open already (brought to the front), or a new one. */
  show(store: TaskStore, id: string): RunPanel {
    if (this.panel) this.panel.show(store, id);
    else this.panel = new RunPanel(store, id, this.extensionUri, () => (this.panel = undefined));
    return this.panel;
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

export class RunPanel {
  private readonly panel: vscode.WebviewPanel;
  private lines: TimelineLine[] = [];
  /** Bumped when the panel turns to another task: a read of the one before is dropped. */
  private generation = 0;
  /** How far the timeline has been read, and what was left of a line cut in two. */
  private offset = 0;
  private rest = '';
  private timer: NodeJS.Timeout | undefined;
  private lastRefresh = 0;
  private refreshing: Promise<void> | undefined;
  private drawnListeners: ((d: Drawn) => void)[] = [];
  /** The last drawing the webview reported. */
  drawn: Drawn | undefined;
  /** How long each picture took to build on the extension host's thread (the benchmark reads it). */
  readonly buildMs: number[] = [];

  constructor(
    public store: TaskStore,
    public id: string,
    extensionUri: vscode.Uri,
    private readonly onDispose: () => void,
  ) {
    const media = vscode.Uri.joinPath(extensionUri, 'media');
    this.panel = vscode.window.createWebviewPanel('pausableTasks.runPicture', vscode.l10n.t('Run of {0}', id), vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: false,
      localResourceRoots: [media],
    });
    this.panel.iconPath = vscode.Uri.joinPath(media, 'tasks.svg');
    // Listening before the page loads: it says 'ready' as soon as it can.
    this.panel.webview.onDidReceiveMessage((m: { type: string; generation?: number } & Drawn) => {
      if (m.type === 'ready') void this.refresh();
      // A drawing of the task the panel showed before it turned to this one does not count.
      if (m.type !== 'drawn' || m.generation !== this.generation) return;
      this.drawn = { ms: m.ms, bars: m.bars, steps: m.steps, items: m.items };
      for (const l of this.drawnListeners.splice(0)) l(this.drawn);
    });
    this.panel.webview.html = html(this.panel.webview, media, id);
    this.panel.onDidDispose(() => {
      clearTimeout(this.timer);
      this.onDispose();
    });
  }

  /** Show a task's run here: the same task brought to the front, or another read from its start. */
  show(store: TaskStore, id: string): void {
    if (store !== this.store || id !== this.id) {
      Object.assign(this, { store, id, offset: 0, rest: '', drawn: undefined, lines: [], refreshing: undefined });
      this.generation++;
      this.panel.title = vscode.l10n.t('Run of {0}', id);
      void this.panel.webview.postMessage({ type: 'title', title: this.panel.title });
    }
    this.panel.reveal();
    void this.refresh();
  }

  /** Resolves with the next drawing the webview reports. */
  nextDrawn(): Promise<Drawn> {
    return new Promise((resolve) => this.drawnListeners.push(resolve));
  }

  /** A change on disk: redraw, at most every REFRESH_MS. */
  refreshSoon(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastRefresh + REFRESH_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, wait);
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    this.lastRefresh = Date.now();
    const began = performance.now();
    const generation = this.generation;
    const view = await readTaskViewAsync(this.store.tasksDir, this.id);
    if (generation !== this.generation) return;
    if (!view.paths || !view.definition) return void this.panel.webview.postMessage({ type: 'problem', message: view.problem ?? `'${this.id}' cannot be read` });
    if (!(await this.readTimeline(view.paths.timeline, generation))) return;
    const loaded = await loadCheckpointAsync(view.paths);
    if (generation !== this.generation) return;
    const checkpoint = loaded.ok && (!view.state || loaded.value.checkpoint.runId === view.state.runId) ? loaded.value.checkpoint : undefined;
    const built = performance.now();
    const picture = encodePicture(runPicture(this.id, view.definition, this.lines, checkpoint, view.state, view.status));
    this.buildMs.push(performance.now() - built);
    await this.panel.webview.postMessage({ type: 'picture', picture, generation, live: ACTIVE_STATES.has(view.status), readMs: performance.now() - began });
  }

  /** The lines added since the last read; from the start again when a new run replaced the file. False: the panel turned to another task meanwhile. */
  private async readTimeline(file: string, generation: number): Promise<boolean> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, 'r');
    } catch {
      if (generation !== this.generation) return false;
      Object.assign(this, { lines: [], offset: 0, rest: '' });
      return true;
    }
    try {
      const { size } = await handle.stat();
      if (generation !== this.generation) return false;
      if (size < this.offset) Object.assign(this, { lines: [], offset: 0, rest: '' });
      if (size === this.offset) return true;
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      if (generation !== this.generation) return false;
      this.offset += bytesRead;
      const text = this.rest + buffer.subarray(0, bytesRead).toString('utf8');
      const cut = text.lastIndexOf('\n') + 1;
      this.rest = text.slice(cut);
      for (const line of parseTimeline(text.slice(0, cut))) this.lines.push(line);
      return true;
    } finally {
      await handle.close();
    }
  }

  dispose(): void {
    this.panel.dispose();
  }
}

function html(webview: vscode.Webview, media: vscode.Uri, id: string): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'runPicture.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'runPicture.css'));
  const t = vscode.l10n.t;
  return `<!DOCTYPE html>
<html lang="${vscode.env.language}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>${escape(t('Run of {0}', id))}</title>
</head>
<body>
<header>
  <h1>${escape(t('Run of {0}', id))}</h1>
  <p id="summary" aria-live="polite"></p>
  <ul class="legend">
    <li class="ok">${escape(t('succeeded'))}</li><li class="failed">${escape(t('failed'))}</li><li class="stopped">${escape(t('stopped'))}</li><li class="paused">${escape(t('paused'))}</li><li class="running">${escape(t('running'))}</li><li class="retry">${escape(t('a retry'))}</li><li class="gap">${escape(t('no runner (paused, or lost)'))}</li>
  </ul>
</header>
<div id="frame"><canvas id="picture" tabindex="0" role="img" aria-describedby="detail"></canvas></div>
<p id="detail" aria-live="polite">${escape(t('Arrow keys move from bar to bar; Home and End go to the first and the last.'))}</p>
<table id="steps"><caption>${escape(t('Steps'))}</caption><thead><tr><th>${escape(t('step'))}</th><th>${escape(t('attempts'))}</th><th>${escape(t('items'))}</th><th>${escape(t('failed'))}</th><th>${escape(t('time'))}</th></tr></thead><tbody></tbody></table>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
