// In a restricted (untrusted) workspace the tree works and nothing runs.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, description, taskItem, tasksDir, waitFor, workspaceRoot } from './helpers';

describe('Pausable Tasks in a restricted workspace', function () {
  this.timeout(30_000);

  it('shows the tasks but refuses to run or resume them, starting no process', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the workspace opened restricted');
    const a = await api();
    await Promise.all(a.stores().map((s) => s.ready));
    const quick = await waitFor('the task in the tree', () => taskItem(a, 'quick'));
    assert.match(description(quick.item), /^idle/);
    const marks = path.join(workspaceRoot(), 'marks.txt');
    for (const command of ['run', 'resume', 'resumeAll']) await vscode.commands.executeCommand(`pausableTasks.${command}`, quick.node);
    // Nothing was started: no run folder, no control file, no mark from a step.
    assert.equal(fs.existsSync(path.join(tasksDir(), 'quick')), false);
    assert.equal(fs.existsSync(marks), false);
    assert.equal((await taskItem(a, 'quick'))!.item.contextValue, 'task.idle');
  });
});
