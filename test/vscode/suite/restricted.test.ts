// In a restricted (untrusted) workspace the tree works and nothing runs: not one step process is
// started by any command, nor by the automatic resume of a task whose runner died.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, description, EXTENSION_ID, taskItem, tasksDir, waitFor, waitForStatus, workspaceRoot } from './helpers';

/** Runners of this workspace's tasks (by their command line) and step processes (by their environment). */
function taskProcesses(root: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      const runner = cmdline.includes('runner.js') && cmdline.includes(root);
      if (runner || environ.includes(`TASK_PAUSE_REQUESTED=${root}`)) found.push(`${pid}: ${cmdline.trim()}`);
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

describe('Pausable Tasks in a restricted workspace', function () {
  this.timeout(60_000);

  it('shows the tasks; no command starts a step process, and a due automatic resume waits for trust', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the workspace opened restricted');
    const a = await api();
    await Promise.all(a.stores().map((s) => s.ready));
    const quick = await waitFor('the task in the tree', () => taskItem(a, 'quick'));
    assert.match(description(quick.item), /^idle/);

    // A task paused on a failure whose runner died, due to resume now: a trusted window would resume it.
    const id = 'orphaned';
    const t = new Date().toISOString();
    fs.writeFileSync(path.join(tasksDir(), `${id}.json`), JSON.stringify({ steps: [{ id: 'a', run: `echo ran >> ${JSON.stringify(path.join(workspaceRoot(), 'marks.txt'))}` }] }));
    fs.mkdirSync(path.join(tasksDir(), id));
    const state = { v: 1, taskId: id, runId: 'r0', status: 'paused', pid: 2 ** 22 + 7, host: 'gone', startedAt: t, updatedAt: t, heartbeatAt: t, stepsTotal: 1, stepsDone: 0, currentStep: null, appliedSeq: 0, appliedGlobalSeq: 0, pausedBy: 'failure', reason: 'rate limited', resumeAt: t };
    fs.writeFileSync(path.join(tasksDir(), id, 'state.json'), JSON.stringify(state));
    await waitForStatus(a, id, 'paused');

    // Every command the extension contributes, on every task (modal questions are left unanswered).
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON;
    const commands: string[] = manifest.contributes.commands.map((c: { command: string }) => c.command).filter((c: string) => c !== 'pausableTasks.newTask');
    const nodes = (await a.tree.getChildren()).filter((n) => n.kind === 'task');
    for (const command of commands) {
      for (const node of [undefined, ...nodes]) {
        // A command asking which task (a quick pick) waits for an answer: close the pick until it settles.
        let settled = false;
        void Promise.resolve(vscode.commands.executeCommand(command, node)).finally(() => (settled = true));
        await waitFor(`${command} to settle`, async () => {
          if (!settled) await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
          return settled;
        });
      }
    }
    // VS Code runs no task in Restricted Mode (it asks for trust first); should it run one of ours
    // anyway, its terminal refuses: the terminal Run Task opens, opened here directly.
    const pty = a.taskProvider.runTerminal(a.stores()[0], 'quick');
    const closed = new Promise<number | void>((resolve) => pty.onDidClose(resolve));
    await pty.open();
    assert.equal(await closed, 1);
    assert.match(pty.written, /runs no task in a restricted workspace/);
    const calls = commands.length * (nodes.length + 1);
    assert.ok(calls >= 40, `${calls} command calls`);

    // Nothing was started: no runner or step process, no run folder, no mark from a step; the
    // automatic resume, due since the start, did not happen either.
    await waitFor('the tree to settle', async () => (await taskItem(a, 'quick'))?.item.contextValue === 'task.idle');
    assert.deepEqual(taskProcesses(workspaceRoot()), []);
    assert.equal(fs.existsSync(path.join(tasksDir(), 'quick')), false);
    assert.equal(fs.existsSync(path.join(workspaceRoot(), 'marks.txt')), false);
    assert.equal(fs.existsSync(path.join(tasksDir(), id, 'runner.lock')), false);
    assert.equal((await taskItem(a, id))!.item.contextValue?.startsWith('task.paused'), true);
  });
});
