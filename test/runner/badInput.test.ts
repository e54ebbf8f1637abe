import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, readLines, snapshotTree, status, waitFor, workspace, type Workspace } from './helpers';

describe('runner and CLI: bad input', () => {
  let ws: Workspace;
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  /** Run a command that must be refused: exit code, a message naming the file, and no file changed. */
  function refused(args: string[], code: number, message: RegExp) {
    const before = snapshotTree(ws.root);
    const r = ptask(ws, ...args);
    assert.equal(r.code, code, `exit code of ptask ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.deepEqual(snapshotTree(ws.root), before, 'no file changed');
    return r;
  }

  const definitions: [string, string, RegExp][] = [
    ['not JSON', '{"steps": [ {"id": "a", "run": "true"} ', /broken\.json: not valid JSON/],
    ['an unknown field', '{"steps": [{"id": "a", "run": "true"}], "retries": 3}', /broken\.json: .*retries/],
    ['a missing field', '{"steps": [{"id": "a"}]}', /broken\.json: steps\[0\]\.run: /],
    ['duplicate step ids', '{"steps": [{"id": "a", "run": "true"}, {"id": "a", "run": "true"}]}', /broken\.json: steps\[1\]\.id: duplicate step id "a"/],
    ['a bad step id', '{"steps": [{"id": "../../x", "run": "true"}]}', /broken\.json: steps\[0\]\.id: /],
    ['a forEach with no source', '{"steps": [{"id": "a", "run": "true", "forEach": {}}]}', /broken\.json: steps\[0\]\.forEach: give a source of items: items, file or glob/],
    ['a forEach with two sources', '{"steps": [{"id": "a", "run": "true", "forEach": {"items": ["x"], "glob": "*.txt"}}]}', /broken\.json: steps\[0\]\.forEach: has items and glob: give one source of items/],
    ['a forEach with an unknown field', '{"steps": [{"id": "a", "run": "true", "forEach": {"glob": "*", "recursive": true}}]}', /broken\.json: steps\[0\]\.forEach: .*"recursive"/],
    ['a glob that leaves the folder', '{"steps": [{"id": "a", "run": "true", "forEach": {"glob": "../*.txt"}}]}', /broken\.json: steps\[0\]\.forEach\.glob: the pattern must not contain "\.\."/],
    ['a glob with an unclosed class', '{"steps": [{"id": "a", "run": "true", "forEach": {"glob": "data/[ab.txt"}}]}', /broken\.json: steps\[0\]\.forEach\.glob: "\[ab\.txt": "\[" at position 1 is not closed/],
    ['a concurrency of 0', '{"steps": [{"id": "a", "run": "true", "forEach": {"items": []}, "concurrency": 0}]}', /broken\.json: steps\[0\]\.concurrency: at least 1/],
    ['a fractional concurrency', '{"steps": [{"id": "a", "run": "true", "forEach": {"items": []}, "concurrency": 1.5}]}', /broken\.json: steps\[0\]\.concurrency: a whole number/],
    ['a concurrency without forEach', '{"steps": [{"id": "a", "run": "true", "concurrency": 4}]}', /broken\.json: steps\[0\]\.concurrency: concurrency applies only to a step with forEach/],
    ['an unknown pauseOn field', '{"steps": [{"id": "a", "run": "true"}], "pauseOn": {"exitCode": [3]}}', /broken\.json: pauseOn: .*"exitCode"/],
    ['an unknown autoResume field', '{"steps": [{"id": "a", "run": "true"}], "pauseOn": {"exitCodes": [3], "autoResume": {"after": "1m", "retries": 2}}}', /broken\.json: pauseOn\.autoResume: .*"retries"/],
    ['a pauseOn that matches nothing', '{"steps": [{"id": "a", "run": "true"}], "pauseOn": {"autoResume": {"after": "1m"}}}', /broken\.json: pauseOn: say which failures pause the task/],
    ['a pauseOn with a bad regular expression', '{"steps": [{"id": "a", "run": "true"}], "pauseOn": {"outputMatches": ["/(429/"]}}', /broken\.json: pauseOn\.outputMatches\[0\]: \/\(429\/: not a valid regular expression/],
    ['a pauseOn exit code 0', '{"steps": [{"id": "a", "run": "true"}], "pauseOn": {"exitCodes": [0]}}', /broken\.json: pauseOn\.exitCodes\[0\]: an exit code of a failure/],
  ];
  for (const [what, text, message] of definitions) {
    it(`a definition with ${what}: exit 65, the file and the reason, nothing written`, () => {
      fs.writeFileSync(path.join(ws.tasksDir, 'broken.json'), text);
      refused(['run', 'broken'], 65, message);
      refused(['run', 'broken', '--detach'], 65, message);
      const list = JSON.parse(ptask(ws, 'list', '--json').stdout);
      assert.equal(list[0].valid, false);
      assert.match(list[0].error, message);
    });
  }

  it('a definition file whose name is not a task id is listed as invalid', () => {
    fs.writeFileSync(path.join(ws.tasksDir, 'Bad Name.json'), '{"steps": [{"id": "a", "run": "true"}]}');
    const list = JSON.parse(ptask(ws, 'list', '--json').stdout);
    assert.equal(list[0].valid, false);
    assert.match(list[0].error, /task id "Bad Name" is not valid/);
    refused(['run', 'Bad Name'], 64, /is not valid/);
  });

  it('task ids with "/" or ".." are usage errors; a definition linked from outside .tasks is refused', () => {
    ws.define('ok', { steps: [{ id: 'a', run: 'true' }] });
    refused(['run', '../ok'], 64, /path separator/);
    refused(['status', '..'], 64, /"\.\."/);
    refused(['reset', 'a/b'], 64, /path separator/);
    const outside = path.join(ws.root, 'outside.json');
    fs.writeFileSync(outside, '{"steps": [{"id": "a", "run": "touch pwned"}]}');
    fs.symlinkSync(outside, path.join(ws.tasksDir, 'linked.json'));
    refused(['run', 'linked'], 65, /linked\.json: is a symbolic link that leads out of/);
    assert.equal(fs.existsSync(path.join(ws.root, 'pwned')), false);
  });

  it('a run folder that is a symbolic link is refused', () => {
    ws.define('moved', { steps: [{ id: 'a', run: 'true' }] });
    const elsewhere = path.join(ws.root, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(elsewhere, path.join(ws.tasksDir, 'moved'));
    refused(['run', 'moved'], 65, /symbolic link/);
  });

  it('a control file with an unknown desired state', async () => {
    const marks = path.join(ws.root, 'marks.txt');
    ws.define('t', { env: { MARKS: marks }, steps: [{ id: 'a', run: `${fixture('mark.js')} a 300` }, { id: 'b', run: `${fixture('mark.js')} b` }] });
    ptask(ws, 'run', 't', '--detach');
    await waitFor('a to start', () => readLines(marks).length === 1);
    assert.equal(ptask(ws, 'pause', 't', '--wait').code, 0);
    fs.writeFileSync(ws.file('t', 'control.json'), JSON.stringify({ v: 1, seq: 9, desired: 'stopped', requestedAt: 'x', requestedBy: 'me' }));
    refused(['resume', 't'], 65, /control\.json: desired: /);
    refused(['pause', 't'], 65, /control\.json: desired: /);
    assert.equal(status(ws, 't').status, 'paused');
  });

  it('a truncated checkpoint: resume refuses and says so; the previous snapshot is still there', async () => {
    const marks = path.join(ws.root, 'marks.txt');
    ws.define('t', { env: { MARKS: marks }, steps: ['a', 'b', 'c'].map((id) => ({ id, run: `${fixture('mark.js')} ${id} 300` })) });
    ptask(ws, 'run', 't', '--detach');
    await waitFor('b to start', () => readLines(marks).length === 2);
    assert.equal(ptask(ws, 'pause', 't', '--wait').code, 0);
    const checkpoint = ws.file('t', 'checkpoint.json');
    const text = fs.readFileSync(checkpoint, 'utf8');
    fs.writeFileSync(checkpoint, text.slice(0, 200));
    const r = refused(['resume', 't'], 65, /checkpoint\.json: not valid JSON/);
    assert.match(r.stderr, /will not resume from a damaged checkpoint/);
    const history = fs.readdirSync(ws.file('t', 'checkpoints'));
    assert.ok(history.length >= 1);
    for (const name of history) JSON.parse(fs.readFileSync(path.join(ws.file('t', 'checkpoints'), name), 'utf8'));
    // A hand edit that breaks the shape is refused the same way.
    fs.writeFileSync(checkpoint, text.replace(/"journalSeq": \d+/, '"journalSeq": "many"'));
    refused(['resume', 't'], 65, /checkpoint\.json: journalSeq: /);
    // Restoring the document makes resume work again.
    fs.writeFileSync(checkpoint, text);
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'b', 'c']);
  });

  it('a definition changed since the checkpoint: the plan says what resume does, and resume does it (a step not done runs as defined now, a new one runs)', async () => {
    const marks = path.join(ws.root, 'marks.txt');
    const def = { env: { MARKS: marks }, steps: ['a', 'b', 'c'].map((id) => ({ id, run: `${fixture('mark.js')} ${id} 300` })) };
    ws.define('t', def);
    ptask(ws, 'run', 't', '--detach');
    await waitFor('a to start', () => readLines(marks).length === 1);
    assert.equal(ptask(ws, 'pause', 't', '--wait').code, 0);
    ws.define('t', { ...def, steps: [def.steps[0], { id: 'c', run: `${fixture('mark.js')} c2` }, { id: 'd', run: `${fixture('mark.js')} d` }] });
    const plan = ptask(ws, 'plan', 't');
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /changed since the checkpoint: .*step "c" changed its run.*step "d" was added.*step "b" was removed/);
    assert.match(plan.stdout, /\n  done   a  done .*\n  run    c  not run yet\n  run    d  new since the checkpoint; after 'c'\n$/);
    const resumed = ptask(ws, 'resume', 't');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'c2', 'd']);
  });

  it('bad usage: unknown command, missing argument, unknown option', () => {
    assert.equal(ptask(ws, 'frobnicate').code, 64);
    assert.equal(ptask(ws, 'pause').code, 64);
    const r = ptask(ws, 'list', '--wait');
    assert.equal(r.code, 64);
    assert.match(r.stderr, /list does not take --wait/);
  });
});
