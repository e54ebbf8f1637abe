// The browser test: Playwright drives the workbench in Chromium as a person would: opens the
// Pausable Tasks view, runs a task from its inline action, pauses and resumes it, opens the
// checkpoint, opens the picture of a run that paused and resumed, and toggles pause all from the
// status bar. Saves screenshots (the README's).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';

/** test-results/screenshots (ignored), or docs/images with `npm run screenshots` (for the README). */
export const SCREENSHOTS = resolve(__dirname, '../..', process.env.PTASKS_SCREENSHOTS ?? 'test-results/screenshots');

export async function clickThrough(page: Page, workspace: string): Promise<void> {
  const deadline = { timeout: 60_000 };
  const row = (text: string) => page.locator('.monaco-list-row', { hasText: text }).first();
  const inline = async (task: string, action: string) => {
    await row(task).hover();
    await row(task).locator(`.action-label[aria-label="${action}"]`).click();
  };
  const shows = (task: string, text: RegExp) => row(task).filter({ hasText: text }).waitFor(deadline);

  await page.locator('.monaco-workbench').waitFor(deadline);
  await waitForFile(join(workspace, 'ui-ready'), 60_000); // the extension has read and is watching the tasks
  await page.locator('.activitybar [aria-label^="Pausable Tasks"]').first().click();
  await row('gated').waitFor(deadline);

  await inline('gated', 'Run');
  await shows('gated', /running/);
  await inline('gated', 'Pause');
  await shows('gated', /pausing/);
  writeFileSync(join(workspace, 'gate'), ''); // the step in flight ends
  await shows('gated', /paused · 1\/3/);

  // Expand the task: its steps, and the checkpoint to open.
  await row('gated').locator('.monaco-tl-twistie').click();
  await row('Checkpoint').waitFor(deadline);
  await page.screenshot({ path: join(SCREENSHOTS, 'tree-paused.png') });
  await row('Checkpoint').click();
  await page.locator('.tab', { hasText: 'checkpoint.json' }).waitFor(deadline);
  await page.locator('.view-lines', { hasText: '"reason": "paused"' }).waitFor(deadline);
  await page.screenshot({ path: join(SCREENSHOTS, 'checkpoint.png') });

  await inline('gated', 'Resume');
  await shows('gated', /completed · 3\/3/);

  // The picture of a run that paused in its items and resumed: one bar per step and item, against the checkpoint.
  await inline('picture', 'Run');
  await shows('picture', /running · 1\/3 · embed/);
  await inline('picture', 'Pause');
  await shows('picture', /pausing/);
  writeFileSync(join(workspace, 'gate.picture'), '');
  await shows('picture', /paused · 1\/3/);
  await inline('picture', 'Resume');
  await shows('picture', /completed · 3\/3/);
  // From the Command Palette: a context menu on the tree closes when the tree re-renders (the run's last writes).
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor(deadline);
  await input.fill('>Pausable Tasks: Show Run');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Show Run' }).first().waitFor(deadline);
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'picture' }).first().click();
  const picture = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  const drawn = picture.locator('body[data-bars]');
  await drawn.waitFor({ state: 'attached', ...deadline });
  const checkpoint = JSON.parse(readFileSync(join(workspace, '.tasks', 'picture', 'checkpoint.json'), 'utf8'));
  const items = checkpoint.completed.reduce((n: number, s: { items?: number }) => n + (s.items ?? 0), 0);
  const [steps, drawnItems] = [await drawn.getAttribute('data-steps'), await drawn.getAttribute('data-items')];
  if (Number(steps) !== checkpoint.completed.length || Number(drawnItems) !== items)
    throw new Error(`the picture drew ${steps} steps and ${drawnItems} items; the checkpoint has ${checkpoint.completed.length} and ${items}`);
  await picture.locator('#summary', { hasText: /2 runners, 1 pause/ }).waitFor(deadline);
  await picture.locator('canvas').focus();
  await page.keyboard.press('End');
  await picture.locator('#detail', { hasText: /report, attempt 1: succeeded/ }).waitFor(deadline);
  await page.screenshot({ path: join(SCREENSHOTS, 'run-picture.png') });
  await page.keyboard.press('Control+W');

  const status = page.locator('.statusbar-item', { hasText: /Tasks idle|running|paused/ }).last();
  await status.click();
  await page.locator('.statusbar-item', { hasText: 'All paused' }).waitFor(deadline);
  await page.screenshot({ path: join(SCREENSHOTS, 'pause-all.png') });
  await page.locator('.statusbar-item', { hasText: 'All paused' }).click();
  await page.locator('.statusbar-item', { hasText: 'All paused' }).waitFor({ state: 'detached', ...deadline });

  writeFileSync(join(workspace, 'ui-done'), 'ok');
}

async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${file}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
