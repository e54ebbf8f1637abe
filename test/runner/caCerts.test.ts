/**
 * NODE_EXTRA_CA_CERTS is set aside while a runner starts (src/protocol/caCerts.ts), by the ptask
 * command (dist/ptask, through links to it as npm link makes them) and by a detached start
 * (launch.ts): the runner's process starts without it, and its steps see it as it was set.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, waitFor, workspace, type Workspace } from './helpers';

const COMMAND = path.resolve(__dirname, '../../dist/ptask');
const linux = fs.existsSync('/proc/self/stat');

// What the step sees, and what its runner (its slot's parent; the runner itself under the local executor) started with.
const SEEN = [
  'echo "${NODE_EXTRA_CA_CERTS+set}:${NODE_EXTRA_CA_CERTS-}:${PTASK_NODE_EXTRA_CA_CERTS+leaked}" > seen.txt',
  'if [ -r /proc/$PPID/environ ]; then',
  '  runner=$PPID; [ "$PTASK_EXECUTOR" = local ] || runner=$(sed "s/.*) //" /proc/$PPID/stat | cut -d" " -f2)',
  '  tr "\\000" "\\n" < /proc/$runner/environ | sed -n "s/^\\(NODE_EXTRA_CA_CERTS\\|PTASK_NODE_EXTRA_CA_CERTS\\)=.*/\\1/p" | sort | tr "\\n" " " > runner.txt',
  'fi',
].join('\n');

describe('NODE_EXTRA_CA_CERTS while a runner starts', () => {
  let ws: Workspace;
  beforeEach(() => {
    ws = workspace();
    ws.define('t', { steps: [{ id: 'look', run: SEEN }] });
  });
  afterEach(() => ws.cleanup());

  const env = (value: string | undefined, extra: NodeJS.ProcessEnv = {}) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
    delete e.NODE_EXTRA_CA_CERTS;
    delete e.PTASK_NODE_EXTRA_CA_CERTS;
    if (value !== undefined) e.NODE_EXTRA_CA_CERTS = value;
    return e;
  };
  const run = (command: string, e: NodeJS.ProcessEnv) => {
    const r = spawnSync(command, ['run', 't', '--root', ws.root], { cwd: ws.root, env: e, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  };
  const seen = () => fs.readFileSync(path.join(ws.root, 'seen.txt'), 'utf8').trim();
  const runnerHad = () => (linux ? fs.readFileSync(path.join(ws.root, 'runner.txt'), 'utf8').trim() : 'PTASK_NODE_EXTRA_CA_CERTS');

  it('the ptask command, through two links: the runner starts without it, its step sees it as set', () => {
    const bin = path.join(ws.root, 'bin');
    const lib = path.join(ws.root, 'lib');
    fs.mkdirSync(bin);
    fs.mkdirSync(lib);
    fs.symlinkSync(COMMAND, path.join(lib, 'ptask'));
    fs.symlinkSync('../lib/ptask', path.join(bin, 'ptask'));
    const value = path.join(ws.root, 'a folder', 'ca bundle.pem');
    for (const executor of ['slot', 'local']) {
      run(path.join(bin, 'ptask'), env(value, { PTASK_EXECUTOR: executor }));
      assert.equal(seen(), `set:${value}:`, executor);
      assert.equal(runnerHad(), 'PTASK_NODE_EXTRA_CA_CERTS', executor);
    }
  });

  it('unset stays unset and empty stays empty; one set aside by an earlier start is not handed on', () => {
    run(COMMAND, env(undefined, { PTASK_NODE_EXTRA_CA_CERTS: '/left/over.pem' }));
    assert.equal(seen(), '::');
    assert.equal(runnerHad(), '');
    run(COMMAND, env(''));
    assert.equal(seen(), 'set::');
  });

  it('a detached runner (launch.ts) starts without it, and its step sees it', async () => {
    const value = '/etc/ssl/certs/a bundle.pem';
    const r = spawnSync(process.execPath, [path.resolve(__dirname, '../../dist/runner.js'), 'run', 't', '--detach', '--root', ws.root], { cwd: ws.root, env: env(value), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    await waitFor('the step ran', () => fs.existsSync(path.join(ws.root, 'seen.txt')) && JSON.parse(ptask(ws, 'status', 't', '--json').stdout).status === 'completed');
    assert.equal(seen(), `set:${value}:`);
    assert.equal(runnerHad(), 'PTASK_NODE_EXTRA_CA_CERTS');
  });
});
