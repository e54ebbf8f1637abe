import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, readLines, RUNNER, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner: concurrent controllers', () => {
  let ws: Workspace;
  afterEach(() => ws.cleanup());

  it('eight controllers resume the same paused task at once: exactly one runner runs', async () => {
    ws = workspace();
    const marks = path.join(ws.root, 'marks.txt');
    ws.define('shared', {
      env: { MARKS: marks },
      steps: ['a', 'b', 'c'].map((id) => ({ id, run: `${fixture('mark.js')} ${id} 700` })),
    });
    ptask(ws, 'run', 'shared', '--detach');
    await waitFor('step a to start', () => readLines(marks).length === 1);
    assert.equal(ptask(ws, 'pause', 'shared', '--wait').code, 0);
    assert.equal(status(ws, 'shared').status, 'paused');

    const controllers = Array.from({ length: 8 }, () =>
      new Promise<{ code: number; out: string }>((resolve) => {
        const c = spawn(process.execPath, [RUNNER, 'resume', 'shared', '--detach', '--root', ws.root]);
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (out += d));
        c.on('exit', (code) => resolve({ code: code ?? -1, out }));
      }),
    );
    const results = await Promise.all(controllers);
    for (const r of results) assert.equal(r.code, 0, r.out);
    await waitFor('completed', () => status(ws, 'shared').status === 'completed', 30_000);
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'b', 'c'], 'every step ran once, by one runner');
    const log = fs.readFileSync(ws.file('shared', 'runner.log'), 'utf8');
    assert.equal(log.match(/Resuming 'shared'/g)?.length, 1, log);
  });
});
