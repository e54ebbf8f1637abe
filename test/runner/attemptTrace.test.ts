/** Every attempt leaves a trace: a header in its log even when it prints nothing, an attempt number that counts across resumes, the logs of the last few runs. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ptask, readLines, RUNNER, workspace, type Workspace } from './helpers';

describe('runner: every attempt leaves a trace', () => {
  let ws: Workspace;
  let attempts: string;
  beforeEach(() => {
    ws = workspace();
    attempts = path.join(ws.root, 'attempts');
  });
  afterEach(() => ws.cleanup());

  const log = (step: string) => fs.readFileSync(ws.file('t', path.join('logs', `${step}.log`)), 'utf8');

  it('an attempt that prints nothing still has its header (attempt number, start time, run)', () => {
    ws.define('t', { steps: [{ id: 'quiet', run: 'true' }] });
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.match(log('quiet'), /^=== quiet attempt 1 · \d{4}-\d\d-\d\dT[\d:.]+Z · run [0-9a-f-]{36} ===\n$/);
  });

  it('TASK_STEP_ATTEMPT and the log count attempts across resumes, for steps and items', () => {
    const record = (what: string) => `echo "${what} $TASK_STEP_ATTEMPT" >> ${JSON.stringify(attempts)}`;
    ws.define('t', {
      steps: [
        { id: 's', run: `${record('s')}; exit 3`, retries: 1, retryDelay: '10ms' },
        { id: 'e', run: `${record('e')}; exit 3`, forEach: { items: ['x'] } },
      ],
    });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    assert.equal(ptask(ws, 'resume', 't').code, 1);
    assert.deepEqual(readLines(attempts), ['s 1', 's 2', 's 3', 's 4']);
    assert.deepEqual(log('s').match(/attempt \d+/g), ['attempt 1', 'attempt 2', 'attempt 3', 'attempt 4']);
    ws.define('t', { steps: [{ id: 's', run: record('s'), retries: 1, retryDelay: '10ms' }, { id: 'e', run: `${record('e')}; exit 3`, forEach: { items: ['x'] } }] });
    assert.equal(ptask(ws, 'resume', 't', '--force').code, 1);
    assert.equal(ptask(ws, 'resume', 't').code, 1);
    assert.deepEqual(readLines(attempts).slice(4), ['s 5', 'e 1', 'e 2']);
    assert.match(ws.readJson('t', 'checkpoint.json').unfinished.error, /item 0 \(x\) failed: exit code 3/);
  });

  it('keeps the logs of the last three runs before this one, not forever', () => {
    ws.define('t', { steps: [{ id: 'a', run: 'echo "run $TASK_RUN_ID"' }] });
    const runs: string[] = [];
    for (let i = 0; i < 5; i++) {
      assert.equal(ptask(ws, 'run', 't').code, 0);
      runs.push(ws.readJson('t', 'checkpoint.json').runId);
    }
    assert.match(log('a'), new RegExp(`run ${runs[4]}\\n$`));
    assert.doesNotMatch(log('a'), new RegExp(runs[3]), 'this run only');
    const earlier = fs.readdirSync(ws.file('t', path.join('logs', 'earlier'))).sort();
    assert.equal(earlier.length, 3);
    const kept = earlier.map((dir) => fs.readFileSync(ws.file('t', path.join('logs', 'earlier', dir, 'a.log')), 'utf8'));
    assert.deepEqual(kept.map((text) => runs.findIndex((r) => text.includes(`run ${r}`))), [1, 2, 3]);
  });

  it('a runner killed as it moved the logs folder aside loses no log: the next run finishes the move; a file of the user\'s in logs/ stays', () => {
    ws.define('t', { steps: [{ id: 'a', run: 'echo "run $TASK_RUN_ID"' }] });
    const logs = ws.file('t', 'logs');
    const retiring = ws.file('t', 'logs.retiring');
    const runs: string[] = [];
    const run = () => {
      assert.equal(ptask(ws, 'run', 't').code, 0);
      runs.push(ws.readJson('t', 'checkpoint.json').runId);
    };
    const earlierRuns = () => fs.readdirSync(path.join(logs, 'earlier')).sort().map((dir) => runs.findIndex((r) => fs.readFileSync(path.join(logs, 'earlier', dir, 'a.log'), 'utf8').includes(r)));
    run();
    run();
    assert.deepEqual(earlierRuns(), [0]);
    assert.ok(!fs.existsSync(retiring), 'the folder moved aside is gone once the run starts');
    // Killed right after it moved logs/ aside: no logs/ at all.
    fs.renameSync(logs, retiring);
    run();
    assert.deepEqual(earlierRuns(), [0, 1], 'the run before is kept, and the one before it');
    assert.match(log('a'), new RegExp(`run ${runs[2]}\n$`));
    // Killed after it made logs/ again and moved one of its folders back.
    fs.renameSync(logs, retiring);
    fs.mkdirSync(logs);
    fs.renameSync(path.join(retiring, 'earlier'), path.join(logs, 'earlier'));
    run();
    assert.deepEqual(earlierRuns(), [0, 1, 2]);
    assert.ok(!fs.existsSync(retiring));
    // A file of the user's among the logs: it stays where it is, and the logs go one by one.
    fs.writeFileSync(path.join(logs, 'notes.txt'), 'mine\n');
    run();
    assert.equal(fs.readFileSync(path.join(logs, 'notes.txt'), 'utf8'), 'mine\n');
    assert.deepEqual(earlierRuns(), [1, 2, 3]);
    assert.match(log('a'), new RegExp(`run ${runs[4]}\n$`));
  });

  it('a run that finishes a killed runner\'s move of the logs and then moves its own (a log written there meanwhile) keeps both', () => {
    ws.define('t', { steps: [{ id: 'a', run: 'echo "run $TASK_RUN_ID"' }] });
    assert.equal(ptask(ws, 'run', 't').code, 0);
    const logs = ws.file('t', 'logs');
    const retiring = ws.file('t', 'logs.retiring');
    fs.renameSync(logs, retiring);
    fs.mkdirSync(logs);
    fs.writeFileSync(path.join(logs, 'stray.log'), 'stray\n');
    assert.equal(ptask(ws, 'run', 't').code, 0);
    assert.ok(!fs.existsSync(retiring));
    const kept = fs.readdirSync(path.join(logs, 'earlier')).flatMap((dir) => fs.readdirSync(path.join(logs, 'earlier', dir)));
    assert.deepEqual(kept.sort(), ['a.log', 'stray.log']);
  });

  it('a runner killed as it moved the logs folder aside, then resumed: the logs moved aside go under earlier/, as those moved one by one did', () => {
    const ok = path.join(ws.root, 'ok');
    ws.define('t', { steps: [{ id: 'a', run: 'echo "first run"' }, { id: 'b', run: `test -f ${JSON.stringify(ok)} || exit 3` }] });
    assert.equal(ptask(ws, 'run', 't').code, 1);
    const logs = ws.file('t', 'logs');
    const retiring = ws.file('t', 'logs.retiring');
    fs.renameSync(logs, retiring);
    fs.writeFileSync(ok, '');
    assert.equal(ptask(ws, 'resume', 't').code, 0);
    assert.ok(!fs.existsSync(retiring));
    const [kept] = fs.readdirSync(path.join(logs, 'earlier'));
    assert.match(fs.readFileSync(path.join(logs, 'earlier', kept, 'a.log'), 'utf8'), /first run/);
    assert.match(log('b'), /attempt 2/);
  });

  for (const executor of ['a slot', 'the runner (PTASK_EXECUTOR=local)']) {
    it(`a new run makes its logs from the files of the run no longer kept, emptied, under ${executor}; never through a link planted among them`, () => {
      ws.define('t', { steps: [{ id: 'a', run: 'echo "run $TASK_RUN_ID"' }, { id: 'b', run: 'true' }] });
      const env = { ...process.env, ...(executor.startsWith('the runner') ? { PTASK_EXECUTOR: 'local' } : {}) };
      const run = () => assert.equal(spawnSync(process.execPath, [RUNNER, 'run', 't', '--root', ws.root], { cwd: ws.root, env }).status, 0);
      const logs = ws.file('t', 'logs');
      const inodes = () => ['a', 'b'].map((id) => fs.statSync(path.join(logs, `${id}.log`)).ino);
      const first: number[][] = [];
      for (let i = 0; i < 4; i++) {
        run();
        first.push(inodes());
      }
      // The fifth run: the first run's logs are retired, and become its own.
      run();
      assert.deepEqual(inodes(), first[0]);
      assert.deepEqual(fs.readdirSync(path.join(logs, '.reuse')), [], 'taken from logs/.reuse, where the retired run waited');
      assert.match(log('a'), /^=== a attempt 1 · [^\n]+ ===\nrun [0-9a-f-]{36}\n$/);
      assert.equal(fs.readdirSync(path.join(logs, 'earlier')).length, 3);
      // A link among the earlier runs, the oldest (a hostile workspace): what it leads to is never emptied.
      const outside = path.join(ws.root, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'a.log'), 'keep me\n');
      fs.symlinkSync(outside, path.join(logs, 'earlier', '00000000T000000000Z'));
      run();
      run();
      assert.equal(fs.readFileSync(path.join(outside, 'a.log'), 'utf8'), 'keep me\n');
      assert.equal(fs.readdirSync(path.join(logs, 'earlier')).length, 3);
    });
  }
});
