/**
 * picture: the picture of a run with 20,000 items, in a real VS Code (code-server, offline). A
 * real run of 20,000 trivial items at concurrency 4, done, and another paused at three quarters;
 * VS Code opens the picture of the first (the first webview of the window), then of the second,
 * then resumes the second with its picture open. Target: open in under 1 s, and
 * responsive while the run goes on (each redraw, and how late the extension host's event loop
 * ran). The measuring runs in the extension host: test/vscode/suite/picture.bench.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runInCodeServer, TESTS_ENV } from '../test/vscode/harness';
import { log, makeWorkspace, median, QUICK, readState, REPO, round, RUNNER, waitFor, type BenchResult } from './lib';

const ITEMS = 20_000;
const OUT = path.join(REPO, 'out/test/vscode');

export async function picture(): Promise<BenchResult> {
  execFileSync('bash', [path.join(REPO, '.ci/install-code-server.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(process.execPath, [path.join(REPO, 'test/vscode/build.mjs')], { stdio: 'inherit' });
  const ws = makeWorkspace('picture');
  try {
    fs.writeFileSync(path.join(ws.root, 'items.txt'), Array.from({ length: ITEMS }, (_, i) => `item-${i}`).join('\n') + '\n');
    const steps = [{ id: 'prepare', run: 'true' }, { id: 'each', run: 'true', forEach: { file: 'items.txt' }, concurrency: 4 }, { id: 'report', run: 'true' }];
    fs.writeFileSync(path.join(ws.tasksDir, 'big.json'), JSON.stringify({ steps }));
    // A whole run of 20,000 items, done: its picture is the one opened first, in a webview never opened before.
    fs.writeFileSync(path.join(ws.tasksDir, 'done.json'), JSON.stringify({ steps }));
    execFileSync(process.execPath, [RUNNER, 'run', 'done', '--root', ws.root], { stdio: 'ignore' });
    log('picture: a run of 20,000 items done');
    const runner = spawn(process.execPath, [RUNNER, 'run', 'big', '--root', ws.root], { stdio: 'ignore' });
    await waitFor(() => (readState(ws, 'big')?.currentStep?.items?.done ?? 0) >= ITEMS * 0.75 || undefined, { timeoutMs: 300_000, intervalMs: 100, what: '15,000 items done' });
    execFileSync(process.execPath, [RUNNER, 'pause', 'big', '--root', ws.root]);
    await new Promise((resolve) => runner.once('exit', resolve));
    log(`picture: ${readState(ws, 'big')?.stoppedIn?.items?.done} items done, paused`);
    const out = path.join(ws.scratch, 'bench.json');
    const result = await runInCodeServer({
      extensionPath: REPO,
      testsPath: path.join(OUT, 'hostRunner.js'),
      workspace: ws.root,
      timeoutMs: 300_000,
      env: { [TESTS_ENV]: path.join(OUT, 'suite/picture.bench.js'), PTASKS_BENCH_OUT: out },
    });
    if (result.failed) throw new Error(result.failures.map((f) => f.error).join('\n'));
    const r = JSON.parse(fs.readFileSync(out, 'utf8'));
    // Responsive: the picture's own work on the host's thread stays short, and the host's loop is rarely late (the run itself saturates the 2 cores).
    const buildMax = Math.max(...r.buildMs);
    const met = r.doneOpenMs < 1000 && r.openMs < 1000 && median(r.buildMs) <= 100 && r.lag.p99 < 100;
    return {
      id: 'picture',
      title: `Picture of a run of ${ITEMS.toLocaleString('en')} items in VS Code: open; while the run goes on`,
      headline: `open ${round(r.doneOpenMs, 0)} ms (20,000 items), ${round(r.openMs, 0)} ms (a run paused at 3/4); its work on the host ${round(median(r.buildMs), 0)} ms a redraw (median); host late p99 ${round(r.lag.p99, 0)} ms`,
      target: 'open < 1 s; responsive (≤ 100 ms a redraw on the host, median; late p99 < 100 ms)',
      met,
      details: r,
      notes: [
        `the first picture opened in the window, a run of ${r.done.items} items done: Show Run → drawn ${round(r.doneOpenMs, 0)} ms (${r.done.bars} bars; reading the files to the drawing ${round(r.done.ms, 0)} ms, the rest VS Code making the webview)`,
        `then a run paused at three quarters: Show Run → drawn: ${round(r.openMs, 0)} ms for ${r.first.items} items (${r.first.bars} bars; from reading the files to the drawing ${round(r.first.ms, 0)} ms, the rest is VS Code making the webview); ` +
          `${r.redraws.length} redraws while the last ${ITEMS / 4} items ran (median ${round(median(r.redraws), 0)} ms, max ${round(Math.max(...r.redraws, 0), 0)} ms); ` +
          `the picture's own work on the extension host's thread median ${round(median(r.buildMs), 0)} ms, max ${round(buildMax, 0)} ms a redraw; the host's event loop late by p99 ${round(r.lag.p99, 1)} ms, max ${round(r.lag.max, 0)} ms (the run's 4 items at once and the runner share the 2 cores with code-server and Chromium); at the end ${r.final.items} items, ${r.final.bars} bars, and its picture closed and opened again in ${round(r.reopenMs, 0)} ms (${round(r.again.ms, 0)} ms of it ours: VS Code makes a webview slowly right after one is closed)${QUICK ? ' (BENCH_QUICK has no effect here)' : ''}`,
      ],
    };
  } finally {
    ws.cleanup();
  }
}
