// The host side of the browser test (browser.ts): keeps the extension host's suite open while
// Playwright clicks through the workbench, until the page side writes its marker file.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { api, waitFor, workspaceRoot } from './helpers';

describe('browser test (host side)', function () {
  this.timeout(180_000);

  it('the extension is active while a person clicks through it', async () => {
    const a = await api();
    // The page side starts clicking once the tree is read and watched, and its first refreshes are done.
    await Promise.all(a.stores().map((s) => s.watching));
    await waitFor('the read after the watcher started', () => a.stores().every((s) => s.refreshes >= 2));
    fs.writeFileSync(path.join(workspaceRoot(), 'ui-ready'), 'ok');
    const marker = path.join(workspaceRoot(), 'ui-done');
    await waitFor('the browser side to finish', () => fs.existsSync(marker), 170_000);
    assert.equal(fs.readFileSync(marker, 'utf8'), 'ok');
  });
});
