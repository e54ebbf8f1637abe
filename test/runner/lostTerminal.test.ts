/**
 * A foreground runner whose terminal goes away (ssh drops: SIGHUP, then EIO on every write) pauses
 * gracefully; one whose output is a closed pipe (`ptask run x | head -1`: EPIPE) carries on. Either
 * way nothing finished runs again, and the runner's messages are in runner.log.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, readLines, RUNNER, status, waitFor, workspace, type Workspace } from './helpers';

const hasScript = spawnSync('script', ['--version']).status === 0;

describe('runner: a lost terminal or a closed pipe', () => {
  let ws: Workspace;
  let marks: string;
  let gate: string;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    gate = path.join(ws.root, 'gate');
    // Each step waits for the gate: the terminal or the pipe goes away while one is in flight.
    const step = (id: string) => ({ id, run: `while [ ! -e ${JSON.stringify(gate)} ]; do sleep 0.02; done; echo ${id} >> ${JSON.stringify(marks)}; echo "${id} done"` });
    ws.define('t', { steps: [step('a'), step('b'), step('c')] });
  });
  afterEach(() => ws.cleanup());

  it('a terminal that hangs up (SIGHUP, then EIO): the step in flight finishes, the task pauses, resume goes on', async function () {
    if (!hasScript) this.skip(); // script(1), from util-linux, gives the runner a real terminal to lose
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(RUNNER)} run t --root ${JSON.stringify(ws.root)}`;
    const terminal = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    terminal.stdout.on('data', (d) => (screen += d));
    await waitFor('the runner to start in the terminal', () => screen.includes("Running 't'"));
    // Once step a runs it has left the terminal's process group (one caught starting is stopped with the runner: unit test).
    await waitFor('step a to run', () => status(ws, 't').currentStep?.pid);
    terminal.kill('SIGKILL'); // the terminal is gone: the runner's side of it hangs up
    await waitFor('the runner to take the hang-up for a pause', () => status(ws, 't').status === 'pausing');
    fs.writeFileSync(gate, '');
    const final = await waitFor('the task to stop', () => {
      const s = status(ws, 't');
      return s.status !== 'running' && s.status !== 'pausing' && s;
    });
    assert.equal(final.status, 'paused', JSON.stringify(final));
    assert.equal(final.pausedBy, 'signal');
    assert.deepEqual(readLines(marks), ['a'], 'the step in flight finished, and nothing else started');
    assert.match(fs.readFileSync(ws.file('t', 'runner.log'), 'utf8'), /Paused 't': 1\/3 steps done/);
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.deepEqual(readLines(marks), ['a', 'b', 'c'], 'each step ran once');
  });

  it('a closed pipe (ptask run | head -1): the runner carries on quietly and completes', async () => {
    const child = spawn(process.execPath, [RUNNER, 'run', 't', '--root', ws.root], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((resolve) => child.stdout.once('data', resolve));
    // What `head -1` does after its first line: the reading end goes away, and every later write gets EPIPE.
    child.stdout.destroy();
    child.stderr.destroy();
    fs.writeFileSync(gate, ''); // the steps end, and the runner's next lines meet the closed pipe
    assert.equal(await exited, 0);
    assert.equal(status(ws, 't').status, 'completed');
    assert.deepEqual(readLines(marks), ['a', 'b', 'c']);
    assert.match(fs.readFileSync(ws.file('t', 'runner.log'), 'utf8'), /Completed 't': 3\/3 steps/);
  });
});
