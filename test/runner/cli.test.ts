import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, workspace, type Workspace } from './helpers';

describe('ptask: help and init', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  it('explains itself and each command', () => {
    const main = ptask(ws, '--help');
    assert.equal(main.code, 0);
    for (const command of ['list', 'status', 'run', 'resume', 'pause', 'interrupt', 'pause-all', 'resume-all', 'reset', 'init']) {
      assert.ok(main.stdout.includes(` ${command} `), `${command} is listed`);
      const help = ptask(ws, command, '--help');
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: ptask ${command}`));
    }
    assert.match(main.stdout, /Exit codes: 0 completed/);
  });

  it('init creates an example task that validates and runs', () => {
    fs.rmSync(ws.tasksDir, { recursive: true });
    const r = ptask(ws, 'init');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Created .*example\.json/);
    const list = JSON.parse(ptask(ws, 'list', '--json').stdout);
    assert.deepEqual(list.map((t: { id: string; valid: boolean }) => [t.id, t.valid]), [['example', true]]);
    const again = ptask(ws, 'init');
    assert.equal(again.code, 0);
    assert.match(again.stdout, /exists already/);
    assert.ok(fs.existsSync(path.join(ws.tasksDir, 'example.json')));
  });
});
