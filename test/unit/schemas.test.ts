import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDuration } from '../../src/protocol/duration';
import { parseJsonText, readJsonSync, writeJsonAtomicSync } from '../../src/protocol/jsonFile';
import { assertTaskPathsSafe, taskIdProblem, taskPaths } from '../../src/protocol/paths';
import { controlSchema, definitionHash, definitionSchema, publicDefinition } from '../../src/protocol/schemas';
import { describeChanges } from '../../src/protocol/definitionChanges';

const parseDef = (def: unknown) => parseJsonText('x.json', JSON.stringify(def), definitionSchema);
const step = (id: string, run = 'true') => ({ id, run });

describe('task definition schema', () => {
  it("does not count Slurm's resources as a change of the task: more memory or time is a resume's tuning", () => {
    const base = { executor: 'slurm' as const, steps: [{ id: 'a', run: 'x', forEach: { items: ['1'] } }] };
    const tuned = { ...base, slurm: { mem: '64G', time: '4h' }, steps: [{ ...base.steps[0], slurm: { partition: 'bigmem' } }] };
    assert.equal(definitionHash(definitionSchema.parse(base)), definitionHash(definitionSchema.parse(tuned)));
    assert.notEqual(definitionHash(definitionSchema.parse(base)), definitionHash(definitionSchema.parse({ ...base, executor: 'local' })), 'where it runs does count');
  });

  it('accepts the design example', () => {
    const r = parseDef({ name: 'N', cwd: '.', env: { BATCH: '64' }, steps: [{ id: 'fetch', run: 'x', timeout: '10m', retries: 2 }, step('publish')] });
    assert.ok(r.ok);
  });

  const bad: [string, unknown, RegExp][] = [
    ['no steps', { steps: [] }, /steps: a task needs at least one step/],
    ['missing steps', { name: 'x' }, /steps: /],
    ['unknown field', { steps: [step('a')], stpes: [] }, /stpes/],
    ['unknown step field', { steps: [{ id: 'a', run: 'x', retry: 1 }] }, /steps\[0\].*retry/],
    ['duplicate ids', { steps: [step('a'), step('b'), step('A')] }, /steps\[2\]\.id: duplicate step id "A" \(also steps\[0\]\)/],
    ['bad step id', { steps: [step('../etc')] }, /steps\[0\]\.id: a step id/],
    ['empty command', { steps: [{ id: 'a', run: '' }] }, /steps\[0\]\.run: a shell command/],
    ['bad duration', { steps: [{ id: 'a', run: 'x', timeout: '10 minutes' }] }, /timeout/],
    ['negative retries', { steps: [{ id: 'a', run: 'x', retries: -1 }] }, /retries/],
    ['an unknown executor', { executor: 'kubernetes', steps: [step('a')] }, /executor: .*"local"\|"slurm"/],
    ['a bad Slurm memory size', { steps: [{ id: 'a', run: 'x', slurm: { mem: '8 GB' } }] }, /steps\[0\]\.slurm\.mem: a size such as "8G"/],
    ['a partition with a space', { slurm: { partition: 'gpu a100' }, steps: [step('a')] }, /slurm\.partition: a partition name/],
    ['an sbatch option ptask sets itself', { steps: [{ id: 'a', run: 'x', slurm: { sbatchArgs: ['--output=/tmp/x'] } }] }, /steps\[0\]\.slurm\.sbatchArgs\[0\]: an option ptask sets itself/],
    ['sbatchArgs that are not options', { slurm: { sbatchArgs: ['account=x'] }, steps: [step('a')] }, /slurm\.sbatchArgs\[0\]: an sbatch option/],
    ['an unknown Slurm field', { slurm: { partitions: 'gpu' }, steps: [step('a')] }, /partitions/],
    ['a Slurm state pauseOn does not know', { pauseOn: { slurmStates: ['COMPLETED'] }, steps: [step('a')] }, /pauseOn\.slurmStates\[0\]/],
  ];
  for (const [name, def, message] of bad) {
    it(`refuses ${name} with the field and the reason`, () => {
      const r = parseDef(def);
      assert.ok(!r.ok);
      assert.match(r.error.message, /^x\.json: /);
      assert.match(r.error.message, message);
    });
  }

  it('says when a file is not JSON or empty', () => {
    const notJson = parseJsonText('a.json', '{"steps": [', definitionSchema);
    assert.ok(!notJson.ok && /a\.json: not valid JSON/.test(notJson.error.message));
    const empty = parseJsonText('a.json', '  ', definitionSchema);
    assert.ok(!empty.ok && /the file is empty/.test(empty.error.message));
  });

  it('says where a JSON error is without quoting the text around it (it may hold a secret)', () => {
    const secret = 's3cr3t-value-123';
    const token = parseJsonText('a.json', `{\n  "env": {\n    "API_TOKEN": "${secret}", x\n  }\n}`, definitionSchema);
    assert.ok(!token.ok);
    assert.match(token.error.message, /a\.json: not valid JSON \(.* line 3/);
    assert.ok(!token.error.message.includes(secret), token.error.message);
    const unexpected = parseJsonText('a.json', `{"env": {"API_TOKEN": "${secret}" oops }}`, definitionSchema);
    assert.ok(!unexpected.ok && !unexpected.error.message.includes(secret) && !unexpected.error.message.includes('oops'), !unexpected.ok ? unexpected.error.message : '');
  });

  it('hashes what the task does, not its labels or key order', () => {
    const a = definitionSchema.parse({ name: 'A', steps: [{ id: 's', run: 'x', retries: 1 }] });
    const b = definitionSchema.parse({ steps: [{ retries: 1, run: 'x', id: 's', name: 'label' }], name: 'B' });
    const c = definitionSchema.parse({ steps: [{ id: 's', run: 'y', retries: 1 }] });
    assert.equal(definitionHash(a), definitionHash(b));
    assert.notEqual(definitionHash(a), definitionHash(c));
  });

  it('masks secret-looking env values in what the tools write', () => {
    const def = definitionSchema.parse({ env: { API_TOKEN: 's3cret', BATCH: '64' }, steps: [{ id: 'a', run: 'x', env: { DB_PASSWORD: 'pw' } }] });
    const text = JSON.stringify(publicDefinition(def));
    assert.ok(!text.includes('s3cret') && !text.includes('"pw"'));
    assert.ok(text.includes('"BATCH":"64"'));
  });

  it('describes what changed between two definitions', () => {
    const before = definitionSchema.parse({ steps: [step('a'), step('b'), step('c')] });
    const after = definitionSchema.parse({ steps: [step('a', 'false'), step('c'), step('d')] });
    assert.deepEqual(describeChanges(before, after), [
      'step "a" changed its run',
      'step "c" moved from position 3 to 2',
      'step "d" was added',
      'step "b" was removed',
    ]);
  });
});

describe('control schema', () => {
  it('refuses an unknown desired state', () => {
    const r = parseJsonText('control.json', JSON.stringify({ v: 1, seq: 1, desired: 'stopped', requestedAt: 'now', requestedBy: 'me' }), controlSchema);
    assert.ok(!r.ok);
    assert.match(r.error.message, /control\.json: desired: /);
  });
});

describe('durations', () => {
  it('parses units and seconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('10m'), 600_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration(3), 3000);
    assert.throws(() => parseDuration('soon'), /not a duration/);
  });
});

describe('files', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-unit-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes atomically and leaves no temp file', () => {
    const file = path.join(dir, 'a.json');
    writeJsonAtomicSync(file, { v: 1 }, { durable: true });
    writeJsonAtomicSync(file, { v: 2 });
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { v: 2 });
    assert.deepEqual(fs.readdirSync(dir), ['a.json']);
  });

  it('reports a missing file, a directory and a bad file by name', () => {
    const missing = readJsonSync(path.join(dir, 'none.json'), controlSchema);
    assert.ok(!missing.ok && missing.error.code === 'missing');
    fs.mkdirSync(path.join(dir, 'control.json'));
    const isDir = readJsonSync(path.join(dir, 'control.json'), controlSchema);
    assert.ok(!isDir.ok && /control\.json: is a directory/.test(isDir.error.message));
  });

  it('checks task ids', () => {
    assert.equal(taskIdProblem('nightly-2.v1'), undefined);
    assert.match(taskIdProblem('a/b')!, /path separator/);
    assert.match(taskIdProblem('..')!, /"\.\."/);
    assert.match(taskIdProblem('Nightly')!, /not valid/);
    assert.match(taskIdProblem('x'.repeat(65))!, /not valid/);
  });

  it('refuses a definition that is a symbolic link out of .tasks', () => {
    const tasks = path.join(dir, '.tasks');
    fs.mkdirSync(tasks);
    fs.writeFileSync(path.join(dir, 'outside.json'), '{}');
    fs.symlinkSync(path.join(dir, 'outside.json'), path.join(tasks, 'evil.json'));
    assert.throws(() => assertTaskPathsSafe(taskPaths(tasks, 'evil')), /symbolic link that leads out of/);
    fs.writeFileSync(path.join(tasks, 'real.json'), '{}');
    fs.symlinkSync(path.join(tasks, 'real.json'), path.join(tasks, 'alias.json'));
    assert.doesNotThrow(() => assertTaskPathsSafe(taskPaths(tasks, 'alias')));
  });
});
