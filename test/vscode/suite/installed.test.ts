// The extension as a person installs it: from the .vsix, into a code-server extensions folder.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, description, EXTENSION_ID, taskItem, waitFor, waitForStatus } from './helpers';

describe('Pausable Tasks installed from its .vsix', function () {
  this.timeout(60_000);

  it('is the installed copy, activates, lists the tasks and runs one with its bundled runner', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, 'installed');
    assert.match(ext.extensionPath, /extensions[/\\]pausable-tasks\.pausable-tasks-/, `loaded from the extensions folder, not the work tree: ${ext.extensionPath}`);
    const a = await api();
    await Promise.all(a.stores().map((s) => s.watching));
    const quick = await waitFor('the task in the tree', () => taskItem(a, 'quick'));
    assert.match(description(quick.item), /^idle/);
    await vscode.commands.executeCommand('pausableTasks.run', quick.node);
    await waitForStatus(a, 'quick', 'completed');
  });
});
