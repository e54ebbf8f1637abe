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

export class RunPictures implements vscode.Disposable {
  private readonly panels = new Map<string, RunPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {}

  watch(store: TaskStore): void {
    this.disposables.push(store.onDidChange((ids) => this.panels.forEach((p) => p.store === store && (!ids || ids.includes(p.id)) && p.refreshSoon())));
  }

  /** Open the picture of a task's run, or bring it to the front. */
  show(store: TaskStore, id: string): RunPanel {
    const key = `${store.folder.uri.toString()}#${id}`;
    let panel = this.panels.get(key);
    if (panel) panel.reveal();
    else {
      panel = new RunPanel(store, id, this.extensionUri, () => this.panels.delete(key));
      this.panels.set(key, panel);
    }
    return panel;
  }

  dispose(): void {
    for (const p of this.panels.values()) p.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

export class RunPanel {
  private readonly panel: vscode.WebviewPanel;
  private readonly lines: TimelineLine[] = [];
  /** How far the timeline has been read, and what was left of a line cut in two. */
  private offset = 0;
  private rest = '';
  private timer: NodeJS.Timeout | undefined;
  private lastRefresh = 0;
  private refreshing: Promise<void> | undefined;
  private drawnListeners: ((d: Drawn) => void)[] = [];
  /** The last drawing the webview reported. */
  drawn: Drawn | undefined;

  constructor(
    readonly store: TaskStore,
    readonly id: string,
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
    this.panel.webview.html = html(this.panel.webview, media, id);
    this.panel.webview.onDidReceiveMessage((m: { type: string } & Drawn) => {
      if (m.type === 'ready') void this.refresh();
      if (m.type !== 'drawn') return;
      this.drawn = { ms: m.ms, bars: m.bars, steps: m.steps, items: m.items };
      for (const l of this.drawnListeners.splice(0)) l(this.drawn);
    });
    this.panel.onDidDispose(() => {
      clearTimeout(this.timer);
      this.onDispose();
    });
  }

  reveal(): void {
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
    const view = await readTaskViewAsync(this.store.tasksDir, this.id);
    if (!view.paths || !view.definition) return void this.panel.webview.postMessage({ type: 'problem', message: view.problem ?? `'${this.id}' cannot be read` });
    await this.readTimeline(view.paths.timeline);
    const loaded = await loadCheckpointAsync(view.paths);
    const checkpoint = loaded.ok && (!view.state || loaded.value.checkpoint.runId === view.state.runId) ? loaded.value.checkpoint : undefined;
    const picture = runPicture(this.id, view.definition, this.lines, checkpoint, view.state, view.status);
    await this.panel.webview.postMessage({ type: 'picture', picture: encodePicture(picture), live: ACTIVE_STATES.has(view.status), readMs: performance.now() - began });
  }

  /** The lines added since the last read; from the start again when a new run replaced the file. */
  private async readTimeline(file: string): Promise<void> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, 'r');
    } catch {
      this.lines.length = 0;
      this.offset = 0;
      return;
    }
    try {
      const { size } = await handle.stat();
      if (size < this.offset) {
        this.lines.length = 0;
        this.offset = 0;
        this.rest = '';
      }
      if (size === this.offset) return;
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const text = this.rest + buffer.subarray(0, bytesRead).toString('utf8');
      const cut = text.lastIndexOf('\n') + 1;
      this.rest = text.slice(cut);
      for (const line of parseTimeline(text.slice(0, cut))) this.lines.push(line);
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
