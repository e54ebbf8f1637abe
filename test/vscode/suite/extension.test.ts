// The extension in a real VS Code: what a person sees in the tree and the status bar after each
// command, with real runners, real steps and real files.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PausableTasksApi } from '../../../src/extension/extension';
import { groupAlive } from '../../../src/protocol/processGroups';
import { api, description, EXTENSION_ID, readJson, taskItem, tasksDir, waitFor, waitForStatus, workspaceRoot } from './helpers';

describe('Pausable Tasks in VS Code', function () {
  this.timeout(60_000);
  let a: PausableTasksApi;
  const gate = () => path.join(workspaceRoot(), 'gate');

  before(async () => {
    a = await api();
    await Promise.all(a.stores().map((s) => s.watching));
  });

  afterEach(() => fs.rmSync(gate(), { force: true }));

  it('runs in VS Code 1.100 with the workspace open', () => {
    assert.ok(vscode.version.startsWith('1.100'), vscode.version);
    assert.ok(fs.existsSync(tasksDir()));
  });

  it('lists every task, idle, with its actions chosen by state', async () => {
    const quick = await taskItem(a, 'quick');
    assert.ok(quick, 'quick is in the tree');
    assert.equal(quick.item.contextValue, 'task.idle');
    assert.match(description(quick.item), /^idle/);
    assert.ok(quick.item.tooltip instanceof vscode.MarkdownString);
    assert.match((quick.item.tooltip as vscode.MarkdownString).value, /State: \*\*idle\*\*/);
  });

  it('shows an invalid definition as an error item and in the Problems panel', async () => {
    const broken = await taskItem(a, 'broken');
    assert.ok(broken);
    assert.equal(broken.item.contextValue, 'task.invalid');
    assert.equal(description(broken.item), 'invalid');
    const children = await a.tree.getChildren(broken.node);
    assert.match(String(a.tree.getTreeItem(children[0]).label), /steps\[1\]\.id: duplicate step id "one"/);
    const diagnostics = await waitFor('a diagnostic', () => {
      const d = vscode.languages.getDiagnostics(vscode.Uri.file(path.join(tasksDir(), 'broken.json')));
      return d.length ? d : undefined;
    });
    assert.match(diagnostics[0].message, /duplicate step id/);
  });

  it('Run: the task runs to completion; its steps and checkpoint appear under it', async () => {
    const { node } = (await taskItem(a, 'quick'))!;
    await vscode.commands.executeCommand('pausableTasks.run', node);
    const done = await waitForStatus(a, 'quick', 'completed');
    assert.match(description(done.item), /^completed · 2\/2/);
    const children = (await a.tree.getChildren(done.node)).map((n) => a.tree.getTreeItem(n));
    assert.deepEqual(children.slice(0, 2).map((i) => [i.label, String(i.description).split(' · ')[0]]), [['one', 'done'], ['two', 'done']]);
    assert.ok(children.some((i) => i.label === 'Checkpoint'), 'the checkpoint is listed');
  });

  it('Pause: the step in flight finishes, then paused with a checkpoint on disk; Resume completes it', async () => {
    const { node } = (await taskItem(a, 'gated'))!;
    await vscode.commands.executeCommand('pausableTasks.run', node);
    await waitForStatus(a, 'gated', 'running');
    // The step's name follows the state within one state write (at most 50 ms apart).
    await waitFor('the running step in the description', async () => /running · 0\/3 · wait/.test(description((await taskItem(a, 'gated'))!.item)));
    await vscode.commands.executeCommand('pausableTasks.pause', node);
    await waitForStatus(a, 'gated', 'pausing');
    fs.writeFileSync(gate(), '');
    const paused = await waitForStatus(a, 'gated', 'paused');
    assert.match(description(paused.item), /^paused · 1\/3/);
    const checkpoint = readJson(path.join(tasksDir(), 'gated', 'checkpoint.json'));
    assert.equal(checkpoint.reason, 'paused');
    assert.deepEqual(checkpoint.completed.map((s: { id: string }) => s.id), ['wait']);

    await vscode.commands.executeCommand('pausableTasks.resume', node);
    const completed = await waitForStatus(a, 'gated', 'completed');
    assert.match(description(completed.item), /completed · 3\/3/);
  });

  it('Interrupt: the step is stopped at once and shows as interrupted', async () => {
    const config = vscode.workspace.getConfiguration('pausableTasks');
    await config.update('confirmInterrupt', false, vscode.ConfigurationTarget.Workspace);
    try {
      const { node } = (await taskItem(a, 'long'))!;
      await vscode.commands.executeCommand('pausableTasks.run', node);
      const running = await waitForStatus(a, 'long', 'running');
      const pid = (running.node.kind === 'task' && running.node.store.tasks.get('long')?.state?.currentStep?.pid) || undefined;
      await vscode.commands.executeCommand('pausableTasks.interrupt', node);
      const interrupted = await waitForStatus(a, 'long', 'interrupted');
      assert.match(description(interrupted.item), /^interrupted · 0\/2/);
      assert.ok(pid, 'state.json named the step');
      assert.equal(groupAlive(pid), false, 'the step process group is gone');
      const steps = (await a.tree.getChildren(interrupted.node)).map((n) => a.tree.getTreeItem(n));
      assert.match(String(steps[0].description), /^interrupted/);
    } finally {
      await config.update('confirmInterrupt', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  it('a failed forEach shows its items; Skip Item settles the failed one and resume completes the task', async () => {
    const { node } = (await taskItem(a, 'batch'))!;
    await vscode.commands.executeCommand('pausableTasks.run', node);
    const failed = await waitForStatus(a, 'batch', 'failed');
    assert.match(description(failed.item), /^failed · 0\/2 · items 2\/3 \(1 failed\)/);
    assert.match(failed.item.contextValue ?? '', /^task\.failed/);
    await vscode.commands.executeCommand('pausableTasks.skipItem', failed.node, { step: 'items', index: 2 });
    const journal = fs.readFileSync(path.join(tasksDir(), 'batch', 'journal.jsonl'), 'utf8');
    assert.match(journal, /"type":"item-skipped","stepId":"items","index":2,"by":"vscode"/);
    await vscode.commands.executeCommand('pausableTasks.resume', failed.node);
    await waitForStatus(a, 'batch', 'completed');
    const checkpoint = readJson(path.join(tasksDir(), 'batch', 'checkpoint.json'));
    assert.deepEqual(checkpoint.completed.map((s: { id: string; skipped?: number }) => [s.id, s.skipped]), [['items', 1], ['after', undefined]]);
  });

  it('the status bar counts tasks and toggles pause all', async () => {
    const bar = a.statusBar.item;
    await waitFor('the status bar to count the interrupted task as idle', () => !bar.text.includes('running') && bar.text);
    await vscode.commands.executeCommand('pausableTasks.toggleAll');
    await waitFor('All paused', () => bar.text.includes('All paused') && bar.text);
    assert.equal(readJson(path.join(tasksDir(), '.control.json')).desired, 'paused');
    assert.ok(bar.backgroundColor instanceof vscode.ThemeColor);
    await vscode.commands.executeCommand('pausableTasks.toggleAll');
    await waitFor('pause all off', () => !bar.text.includes('All paused') && bar.text);
    assert.equal(readJson(path.join(tasksDir(), '.control.json')).desired, 'running');
  });

  it('Open Checkpoint opens checkpoint.json as a JSON document', async () => {
    const { node } = (await taskItem(a, 'quick'))!;
    await vscode.commands.executeCommand('pausableTasks.openCheckpoint', node);
    const editor = await waitFor('an editor', () => vscode.window.activeTextEditor);
    assert.equal(editor.document.uri.fsPath, path.join(tasksDir(), 'quick', 'checkpoint.json'));
    assert.equal(editor.document.languageId, 'json');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('a refused request says why and changes nothing', async () => {
    const { node } = (await taskItem(a, 'quick'))!;
    const before = fs.readFileSync(path.join(tasksDir(), 'quick', 'state.json'), 'utf8');
    await vscode.commands.executeCommand('pausableTasks.pause', node); // completed: cannot pause
    assert.equal(fs.readFileSync(path.join(tasksDir(), 'quick', 'state.json'), 'utf8'), before);
    assert.equal(fs.existsSync(path.join(tasksDir(), 'quick', 'control.json')) && readJson(path.join(tasksDir(), 'quick', 'control.json')).desired, 'running');
  });

  it('editing a definition gets errors from the task JSON Schema (jsonValidation)', async () => {
    const file = path.join(tasksDir(), 'typo.json');
    fs.writeFileSync(file, JSON.stringify({ stpes: [] }, null, 2));
    try {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
      await vscode.window.showTextDocument(doc);
      const fromSchema = await waitFor('schema diagnostics', () => {
        const d = vscode.languages.getDiagnostics(doc.uri).filter((x) => x.source !== 'Pausable Tasks');
        return d.length ? d : undefined;
      });
      const messages = fromSchema.map((d) => d.message).join('\n');
      assert.match(messages, /stpes|steps/);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      fs.rmSync(file, { force: true });
    }
  });

  it('resumes at its resumeAt a task whose runner died waiting to resume it', async () => {
    const id = 'orphaned';
    fs.writeFileSync(path.join(tasksDir(), `${id}.json`), JSON.stringify({ steps: [{ id: 'a', run: 'true' }, { id: 'b', run: 'true' }] }));
    fs.mkdirSync(path.join(tasksDir(), id));
    const t = new Date().toISOString();
    const resumeAt = new Date(Date.now() + 2000).toISOString();
    const state = { v: 1, taskId: id, runId: 'r0', status: 'paused', pid: 2 ** 22 + 7, host: 'gone', startedAt: t, updatedAt: t, heartbeatAt: t, stepsTotal: 2, stepsDone: 0, currentStep: null, appliedSeq: 0, appliedGlobalSeq: 0, pausedBy: 'failure', reason: 'rate limited', resumeAt };
    fs.writeFileSync(path.join(tasksDir(), id, 'state.json'), JSON.stringify(state));
    const paused = await waitForStatus(a, id, 'paused');
    assert.match(description(paused.item), /resumes (at|on) /); // "on <date>" when it falls on another day
    await waitForStatus(a, id, 'completed', 20_000);
    const after = readJson(path.join(tasksDir(), id, 'state.json'));
    assert.ok(Date.parse(after.startedAt) >= Date.parse(resumeAt), `resumed at ${after.startedAt}, not before ${resumeAt}`);
  });

  it('a task paused on a failure, its runner waiting: Resume asks that runner, which carries on at once', async () => {
    const id = 'ratelimited';
    const once = path.join(workspaceRoot(), 'ratelimited.once');
    // Fails with "429" the first time, succeeds after.
    const run = `if [ -e ${JSON.stringify(once)} ]; then echo done; else touch ${JSON.stringify(once)}; echo "HTTP 429"; exit 1; fi`;
    fs.writeFileSync(path.join(tasksDir(), `${id}.json`), JSON.stringify({ steps: [{ id: 'call', run }], pauseOn: { outputMatches: ['429'], autoResume: { after: '1h' } } }));
    const { node } = await waitFor('the task in the tree', () => taskItem(a, id));
    await vscode.commands.executeCommand('pausableTasks.run', node);
    const waiting = await waitForStatus(a, id, 'paused.waiting');
    assert.match(description(waiting.item), /resumes (at|on) /); // an hour from now may be tomorrow
    const runnerPid = readJson(path.join(tasksDir(), id, 'state.json')).pid;
    await vscode.commands.executeCommand('pausableTasks.resume', waiting.node);
    await waitForStatus(a, id, 'completed');
    // The waiting runner did it: no second runner was started.
    assert.equal(readJson(path.join(tasksDir(), id, 'state.json')).pid, runnerPid);
  });

  it('a change to one state.json shows in the tree within a second', async () => {
    const file = path.join(tasksDir(), 'quick', 'state.json');
    const state = readJson(file);
    state.reason = 'edited by the test';
    fs.writeFileSync(file, JSON.stringify(state));
    await waitFor('the tooltip to show the new reason', async () => {
      const t = await taskItem(a, 'quick');
      return (t?.item.tooltip as vscode.MarkdownString | undefined)?.value.includes('edited by the test');
    }, 1000);
  });
});

describe('Pausable Tasks: getting started', () => {
  it('has a walkthrough whose every step runs a command the extension has', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const [walkthrough] = ext.packageJSON.contributes.walkthroughs;
    assert.equal(walkthrough.steps.length, 5);
    const commands = new Set(await vscode.commands.getCommands(true));
    for (const step of walkthrough.steps) {
      // The manifest's words are in package.nls.json (l10n): %key% is looked up there.
      const words = JSON.parse(fs.readFileSync(path.join(ext.extensionPath, 'package.nls.json'), 'utf8'));
      const text = String(step.description).replace(/^%(.+)%$/, (_, key) => words[key]);
      const command = /\(command:([\w.]+)\)/.exec(text)?.[1];
      assert.ok(command && commands.has(command), `${step.id}: ${command} is registered`);
      const media = step.media.markdown ?? step.media.image;
      assert.ok(fs.existsSync(path.join(ext.extensionPath, media)), `${step.id}: ${media} is shipped`);
    }
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${EXTENSION_ID}#${walkthrough.id}`, false);
  });
});
