// The picture of a run's benchmark, inside a real VS Code (run by bench/picture.ts, not by npm
// test): Show Run on a task of 20,000 items (paused at three quarters), then resume it with the
// picture open: how long the picture takes to open, each redraw while the run goes on, how long
// the extension host's event loop is held meanwhile, and the picture of the whole run opened again. Figures go to $PTASKS_BENCH_OUT.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { api, taskItem, waitFor, waitForStatus } from './helpers';

describe('picture benchmark', function () {
  this.timeout(300_000);

  it('measures', async () => {
    const a = await api();
    const store = a.stores()[0];
    await store.watching;
    await waitForStatus(a, 'big', 'paused');
    // A whole run of 20,000 items, the window's first webview.
    const doneAt = performance.now();
    const done = await a.pictures.show(store, 'done').nextDrawn();
    const doneOpenMs = performance.now() - doneAt;
    const opened = performance.now();
    const panel = a.pictures.show(store, 'big');
    const first = await panel.nextDrawn();
    const openMs = performance.now() - opened;

    // While the run goes on: every redraw, and the longest the host's event loop was late by.
    const redraws: number[] = [];
    let lagMax = 0;
    const lags: number[] = [];
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      const lag = now - last - 10;
      lags.push(lag);
      lagMax = Math.max(lagMax, lag);
      last = now;
    }, 10);
    let drawing = true;
    void (async () => {
      while (drawing) redraws.push((await panel.nextDrawn()).ms);
    })();
    await vscode.commands.executeCommand('pausableTasks.resume', (await taskItem(a, 'big'))!.node);
    await waitForStatus(a, 'big', 'completed', 240_000);
    const final = await waitFor('the last redraw', async () => {
      await panel.refresh();
      return panel.drawn?.items === 20_000 && panel.drawn;
    }, 30_000);
    drawing = false;
    clearInterval(tick);
    const buildMs = panel.buildMs.slice();
    lags.sort((x, y) => x - y);
    // Opened again on the whole run: 20,000 items from a cold panel.
    panel.dispose();
    const reopened = performance.now();
    const again = await a.pictures.show(store, 'big').nextDrawn();
    const reopenMs = performance.now() - reopened;
    fs.writeFileSync(
      process.env.PTASKS_BENCH_OUT!,
      JSON.stringify({ doneOpenMs, done, openMs, first, redraws, final, reopenMs, again, buildMs, lag: { max: lagMax, p99: lags[Math.floor(lags.length * 0.99)] ?? 0, samples: lags.length } }, null, 2),
    );
  });
});
