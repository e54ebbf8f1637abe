// The tasks of .tasks/ as VS Code tasks (Run Task, type "pausable"), run through their terminal in
// a real VS Code: the output shows live, Terminate pauses, a second terminate interrupts, Ctrl+C
// does the same in the terminal; the view's badge and the Explorer's decorations follow.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PausableTasksApi } from '../../../src/extension/extension';
import { groupAlive } from '../../../src/protocol/processGroups';
import { api, description, readJson, taskItem, tasksDir, waitFor, waitForStatus, workspaceRoot } from './helpers';

describe('Pausable Tasks as VS Code tasks (Run Task)', function () {
  this.timeout(60_000);
  let a: PausableTasksApi;
  const gate = () => path.join(workspaceRoot(), 'gate');
  const store = () => a.stores()[0];
  const pausable = async (id: string) => {
    const task = (await vscode.tasks.fetchTasks({ type: 'pausable' })).find((t) => t.definition.task === id);
    assert.ok(task, `'${id}' is in Run Task`);
    return task;
  };
  const ended = (execution: vscode.TaskExecution) => new Promise<void>((resolve) => {
    const listener = vscode.tasks.onDidEndTask((e) => e.execution === execution && (listener.dispose(), resolve()));
  });
  const decoration = (id: string) => a.activity.provideFileDecoration(vscode.Uri.file(path.join(tasksDir(), `${id}.json`)))?.badge;

  before(async () => {
    a = await api();
    await Promise.all(a.stores().map((s) => s.watching));
  });
  afterEach(() => ['', '.after', '.then'].forEach((suffix) => fs.rmSync(gate() + suffix, { force: true })));

  it('Run Task lists every valid task as type "pausable", and resolves one named in tasks.json', async () => {
    const tasks = await vscode.tasks.fetchTasks({ type: 'pausable' });
    const ids = tasks.map((t) => t.definition.task);
    for (const id of ['quick', 'gated', 'long', 'chatty']) assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
    assert.ok(!ids.includes('broken'), 'an invalid definition is not offered');
    assert.equal(tasks.find((t) => t.definition.task === 'quick')!.source, 'pausable');
    const named = new vscode.Task({ type: 'pausable', task: 'quick' }, vscode.workspace.workspaceFolders![0], 'quick', 'pausable');
    const resolved = a.taskProvider.resolveTask(named);
    assert.equal(resolved?.definition, named.definition, 'the same definition object, as VS Code matches it');
    assert.ok(resolved?.execution instanceof vscode.CustomExecution);
  });

  it('a run from Run Task shows the output live; Terminate pauses it with a checkpoint on disk; Run Task again resumes it', async () => {
    const execution = await vscode.tasks.executeTask(await pausable('chatty'));
    const pty = await waitFor('its terminal', () => a.taskProvider.terminalOf(store(), 'chatty'));
    await waitFor('the step output in the terminal', () => pty.written.includes('hello-from-the-step'));
    await waitForStatus(a, 'chatty', 'running');
    const done = ended(execution);
    execution.terminate();
    await waitForStatus(a, 'chatty', 'pausing');
    await done;
    fs.writeFileSync(gate(), '');
    fs.writeFileSync(`${gate()}.after`, '');
    await waitForStatus(a, 'chatty', 'paused');
    const checkpoint = readJson(path.join(tasksDir(), 'chatty', 'checkpoint.json'));
    assert.equal(checkpoint.reason, 'paused');
    assert.deepEqual(checkpoint.completed.map((s: { id: string }) => s.id), ['wait']);

    fs.writeFileSync(`${gate()}.then`, '');
    const again = await vscode.tasks.executeTask(await pausable('chatty'));
    const finished = ended(again);
    const second = await waitFor('a new terminal', () => a.taskProvider.terminalOf(store(), 'chatty') !== pty && a.taskProvider.terminalOf(store(), 'chatty'));
    await finished;
    assert.match(second.written, /Resuming 'chatty'/);
    assert.match(second.written, /second-step/);
    assert.match(second.written, /'chatty' completed/);
    await waitForStatus(a, 'chatty', 'completed');
  });

  it('a second terminate, while it pauses, interrupts it; the badge and the decoration follow the state', async () => {
    assert.equal(a.activity.badge, undefined, 'no task runs');
    const first = await vscode.tasks.executeTask(await pausable('long'));
    const running = await waitForStatus(a, 'long', 'running');
    const pid = await waitFor('the step pid', () => running.node.kind === 'task' && running.node.store.tasks.get('long')?.state?.currentStep?.pid);
    assert.equal(a.activity.badge, 1);
    assert.equal(decoration('long'), 'R');
    const firstEnded = ended(first);
    first.terminate();
    await waitForStatus(a, 'long', 'pausing');
    await firstEnded;
    assert.match(description((await taskItem(a, 'long'))!.item), /pausing · .*waits for step forever/);
    // Run Task while it pauses follows it; terminating that interrupts.
    const second = await vscode.tasks.executeTask(await pausable('long'));
    const follower = await waitFor('the follower', () => a.taskProvider.terminalOf(store(), 'long'));
    await waitFor('it follows', () => follower.written.includes("Following 'long', pausing"));
    second.terminate();
    await waitForStatus(a, 'long', 'interrupted');
    assert.equal(groupAlive(pid), false, 'the step process group is gone');
    await waitFor('the badge to go', () => a.activity.badge === undefined);
    await waitFor('the decoration', () => decoration('long') === 'I');
  });

  it('Ctrl+C in its terminal pauses, a second Ctrl+C interrupts; the terminal says so and ends', async () => {
    const execution = await vscode.tasks.executeTask(await pausable('long'));
    const pty = await waitFor('its terminal', () => a.taskProvider.terminalOf(store(), 'long'));
    await waitForStatus(a, 'long', 'running');
    const done = ended(execution);
    pty.handleInput('\x03');
    await waitForStatus(a, 'long', 'pausing');
    pty.handleInput('\x03');
    await waitForStatus(a, 'long', 'interrupted');
    await done;
    assert.match(pty.written, /Pausing: what is in flight finishes/);
    assert.match(pty.written, /Interrupting/);
    assert.match(pty.written, /'long' interrupted; run the task again to resume it/);
  });

  it('Show Run draws the run of a task, one bar per step and item, and follows it live', async () => {
    const { node } = (await taskItem(a, 'batch'))!;
    await vscode.commands.executeCommand('pausableTasks.run', node);
    await waitForStatus(a, 'batch', 'failed'); // item c fails (continueOnError): the step fails at the end
    const panel = a.pictures.show(store(), 'batch');
    const drawn = await panel.nextDrawn();
    assert.deepEqual([drawn.steps, drawn.items], [1, 3], 'the items step and its three items');
    // A run followed as it goes: gated waits for its gate, then completes; the picture follows.
    const gated = a.pictures.show(store(), 'gated');
    await vscode.commands.executeCommand('pausableTasks.run', (await taskItem(a, 'gated'))!.node);
    await waitForStatus(a, 'gated', 'running');
    await waitFor('the step in flight drawn', () => gated.drawn && gated.drawn.steps >= 1 && gated.drawn);
    fs.writeFileSync(gate(), '');
    await waitForStatus(a, 'gated', 'completed');
    await waitFor('all three steps drawn', () => gated.drawn?.steps === 3);
    assert.equal(await vscode.commands.executeCommand('pausableTasks.showRun', (await taskItem(a, 'gated'))!.node), gated, 'Show Run again brings the same picture to the front');
  });

  it('Open Log follows the log of the step in flight as it grows, then the next step\'s', async () => {
    const { node } = (await taskItem(a, 'chatty'))!;
    await vscode.commands.executeCommand('pausableTasks.run', node);
    await waitForStatus(a, 'chatty', 'running');
    const wait = path.join(tasksDir(), 'chatty', 'logs', 'wait.log');
    await waitFor('the first line in the log', () => fs.existsSync(wait) && fs.readFileSync(wait, 'utf8').includes('hello-from-the-step'));
    await vscode.commands.executeCommand('pausableTasks.openLog', (await taskItem(a, 'chatty'))!.node);
    const shown = () => vscode.window.activeTextEditor?.document;
    assert.equal(shown()?.uri.fsPath, wait);
    assert.equal(a.logs.step, 'wait');
    fs.writeFileSync(gate(), '');
    await waitFor('the step log grown in the editor', () => shown()?.uri.fsPath === wait && shown()!.getText().includes('after-the-gate'));
    const before = vscode.window.activeTextEditor!;
    assert.ok(before.visibleRanges.some((r) => r.end.line >= before.document.lineCount - 2), 'kept at its end');
    fs.writeFileSync(`${gate()}.after`, '');
    await waitFor('the next step followed', () => shown()?.uri.fsPath.endsWith(path.join('logs', 'then.log')) && shown()!.getText().includes('second-step'));
    assert.equal(a.logs.step, 'then');
    const editor = vscode.window.activeTextEditor!;
    fs.writeFileSync(`${gate()}.then`, '');
    await waitForStatus(a, 'chatty', 'completed');
    await waitFor('its last line, in view', () => editor.document.getText().includes('then-done') && editor.visibleRanges.some((r) => r.end.line >= editor.document.lineCount - 2));
  });

  it('clicking a task in flight in the tree reveals a terminal that follows it', async () => {
    const { node } = (await taskItem(a, 'gated'))!;
    await vscode.commands.executeCommand('pausableTasks.run', node);
    const running = await waitForStatus(a, 'gated', 'running');
    assert.equal(running.item.command?.command, 'pausableTasks.follow');
    await vscode.commands.executeCommand(running.item.command!.command, ...(running.item.command!.arguments ?? []));
    const pty = await waitFor('a following terminal', () => a.taskProvider.terminalOf(store(), 'gated'));
    assert.ok(vscode.window.terminals.some((t) => t.name === 'gated (Pausable Tasks)'));
    await waitFor('it says what closing it does', () => /closing this terminal leaves it as it is/.test(pty.written));
    fs.writeFileSync(gate(), '');
    await waitForStatus(a, 'gated', 'completed');
    await waitFor('the terminal to say it ended', () => pty.written.includes("'gated' completed"));
    // Closing a terminal that only followed a task leaves the task alone: it completes (a pause would stop it after its first step).
    fs.rmSync(gate());
    await vscode.commands.executeCommand('pausableTasks.run', (await taskItem(a, 'gated'))!.node);
    await waitForStatus(a, 'gated', 'running');
    await vscode.commands.executeCommand('pausableTasks.follow', (await taskItem(a, 'gated'))!.node);
    const follower = await waitFor('a new follower', () => a.taskProvider.terminalOf(store(), 'gated') !== pty && a.taskProvider.terminalOf(store(), 'gated'));
    await waitFor('it follows', () => follower.written.includes("Following 'gated'"));
    follower.close();
    fs.writeFileSync(gate(), '');
    const after = await waitFor('gated to end', async () => {
      const status = (await taskItem(a, 'gated'))?.item.contextValue;
      return status && !/^task\.(running|pausing)/.test(status) && status;
    });
    assert.match(after, /^task\.completed/);
  });
});
