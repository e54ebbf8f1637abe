import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { ptask, RUNNER, status, waitFor, workspace, type Workspace } from './helpers';

/** The detached runner of this task, once it has exec'd (its command line says `__runner`). */
function runnerPid(ws: Workspace, id: string): number | undefined {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[1] === RUNNER && argv[2] === '__runner' && argv[4] === id && argv.includes(ws.root)) return Number(name);
    } catch {
      // gone
    }
  }
  return undefined;
}

/**
 * Found by the chaos soak (test/soak): a detached runner killed as it started made `ptask resume
 * --detach` exit 128 and print nothing.
 */
describe('ptask: a detached runner killed as it starts', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it('the controller says so, and the task can be resumed', async function () {
    if (process.platform !== 'linux') this.skip(); // the runner is found in /proc
    ws = workspace();
    ws.define('t', { steps: [{ id: 'a', run: 'true' }] });
    const controller = spawn(process.execPath, [RUNNER, 'run', 't', '--detach', '--root', ws.root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    controller.stdout.on('data', (d) => (out += d));
    controller.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => controller.on('exit', (code) => resolve(code)));
    // Node takes tens of milliseconds to load the runner: time enough to find it first.
    const pid = await waitFor('the runner to start', () => runnerPid(ws, 't'));
    process.kill(pid, 'SIGKILL');
    const code = await exited;
    if (code === 0) this.skip(); // it took the task first: not the case under test
    assert.equal(code, 128, out);
    assert.match(out, new RegExp(`the runner \\(pid ${pid}\\) was killed by SIGKILL as it started; see .*runner\\.log`));
    const now = status(ws, 't').status;
    assert.ok(['idle', 'lost'].includes(now), now);
    const again = ptask(ws, now === 'idle' ? 'run' : 'resume', 't');
    assert.equal(again.code, 0, again.stderr);
  });
});
