/**
 * Steps that leave processes behind. A process that leaves the step's group (`setsid cmd &`) but
 * keeps its output open used to keep the step open until it ended, and interrupt could not end it:
 * now the step ends when its shell has exited (the output drained for a moment), and such a process
 * is stopped. A daemon that also lets go of the output escapes, as the README says.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pidAlive, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: steps that leave daemons', () => {
  let ws: Workspace;
  let pids: string;
  beforeEach(() => {
    ws = workspace();
    pids = path.join(ws.root, 'pids');
  });
  afterEach(() => {
    for (const pid of readLines(pids)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    ws.cleanup();
  });

  it('a step that exits leaving `setsid sleep 45 &` holding its output ends, and the sleep is stopped', () => {
    ws.define('t', { steps: [{ id: 'a', run: `setsid sleep 45 & echo $! >> ${JSON.stringify(pids)}; echo started; exit 0` }, { id: 'b', run: 'echo b' }] });
    const r = ptask(ws, 'run', 't'); // before: 45 s, beyond mocha's timeout
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(status(ws, 't').status, 'completed');
    const [daemon] = readLines(pids).map(Number);
    assert.ok(daemon > 1);
    return waitFor('the process that held the output to be stopped', () => !pidAlive(daemon));
  });

  it('interrupt ends such a step within the grace period', async () => {
    ws.define('t', { steps: [{ id: 'a', run: `setsid sleep 45 & echo $! >> ${JSON.stringify(pids)}; sleep 30` }] });
    const runner = ptaskChild(ws, 'run', 't', '--grace-ms', '500');
    await waitFor('the step to start its daemon', () => readLines(pids).length === 1);
    const r = ptask(ws, 'interrupt', 't', '--wait', '--timeout', '10');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await runner.exited, 4, runner.output());
    assert.equal(status(ws, 't').status, 'interrupted');
    const [daemon] = readLines(pids).map(Number);
    await waitFor('the daemon to be stopped', () => !pidAlive(daemon));
  });

  it('a daemon that lets go of the output too escapes (documented): the step ends at once', () => {
    ws.define('t', { steps: [{ id: 'a', run: `setsid sleep 45 >/dev/null 2>&1 & echo $! >> ${JSON.stringify(pids)}` }] });
    assert.equal(ptask(ws, 'run', 't').code, 0);
    const [daemon] = readLines(pids).map(Number);
    assert.ok(pidAlive(daemon), 'it runs on: nothing of the step is left to find it by but its environment');
    assert.ok(fs.existsSync(ws.file('t', 'checkpoint.json')));
  });
});
