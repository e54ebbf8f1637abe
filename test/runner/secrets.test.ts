/**
 * Values of secret-looking env variables never reach a file the tools write or a message they
 * print: a task holding several is run to completion through every kind of stop, and every file of
 * its run folder (but logs/, the steps' own output) and every CLI output is searched for them.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, ptask, readLines, status, waitFor, workspace, type CliResult, type Workspace } from './helpers';

const TOKEN = 'tok-4f9a2c1e8bQx';
const NEW_TOKEN = 'tok-NEW-77d1e0aa';
const PASSWORD = 'pw-Zq81xLm0vv';
const SERVICE = 'sec-77Hh2kPq0w';
/** In the runner's own environment, which steps inherit. */
const INHERITED = 'inh-9kLm3NbV2c';
const SECRETS = [TOKEN, NEW_TOKEN, PASSWORD, SERVICE, INHERITED];

/** Every file under a folder but logs/, with its path. */
function filesOf(dir: string, skip: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (p === skip) continue;
      if (entry.isDirectory()) walk(p);
      else out.push({ file: p, text: fs.readFileSync(p, 'latin1') });
    }
  };
  walk(dir);
  return out;
}

describe('runner and CLI: secrets', () => {
  let ws: Workspace;
  const outputs: string[] = [];
  before(() => (process.env.PTASK_TEST_TOKEN = INHERITED));
  after(() => delete process.env.PTASK_TEST_TOKEN);
  beforeEach(() => (ws = workspace()));
  afterEach(() => ws.cleanup());

  /** ptask, its output kept for the search, and (`show`) what the CLI shows of the task after it. */
  function cli(...args: string[]): CliResult {
    const r = ptask(ws, ...args);
    outputs.push(`$ ptask ${args.join(' ')}\n${r.stdout}${r.stderr}`);
    if (args[0] !== 'status' && args[0] !== 'list') for (const show of [['status', 't', '--json'], ['status', 't']]) cli(...show);
    return r;
  }

  it('never appear in state, checkpoints, journal, history, runner log or CLI output: completed, paused, failed, interrupted, resumed --force after a change', async () => {
    const flag = (name: string) => path.join(ws.root, `flag-${name}`);
    const definition = (token: string) => ({
      env: { API_TOKEN: token, DB_PASSWORD: PASSWORD, PLAIN: 'visible' },
      pauseOn: { outputMatches: ['rate limit'] },
      steps: [
        { id: 'show', run: 'echo "token=$API_TOKEN password=$DB_PASSWORD service=$SERVICE_SECRET inherited=$PTASK_TEST_TOKEN"; echo "::progress 1/1"', env: { SERVICE_SECRET: SERVICE } },
        // A run line that spells a secret out: masked in the checkpoint's copy of the definition.
        { id: 'literal', run: `test "$API_TOKEN" = "${token}"` },
        { id: 'wait', run: `${fixture('gate.js')} wait`, env: { GATE: flag('wait') } },
        // Pauses on a failure whose reason quotes the line: with the secrets in it.
        { id: 'limited', run: `[ -e "${flag('limited')}" ] || { echo "rate limit hit for $API_TOKEN and $PTASK_TEST_TOKEN"; exit 1; }` },
        { id: 'broken', run: `[ -e "${flag('broken')}" ] || { echo "fatal: $DB_PASSWORD rejected" >&2; exit 3; }` },
        { id: 'hold', run: `${fixture('gate.js')} hold`, env: { GATE: flag('hold') } },
        {
          id: 'items',
          run: `echo "item $ITEM with $SERVICE_SECRET"; [ "$ITEM" != bad ] || [ -e "${flag('items')}" ]`,
          forEach: { items: ['ok', 'bad'] },
          continueOnError: true,
          env: { SERVICE_SECRET: SERVICE },
        },
        { id: 'last', run: 'true' },
      ],
    });
    ws.define('t', definition(TOKEN));

    // Paused by a person, in 'wait'.
    assert.equal(cli('run', 't', '--detach').code, 0);
    await waitFor('wait to start', () => status(ws, 't').currentStep?.id === 'wait');
    assert.equal(cli('pause', 't').code, 0);
    fs.writeFileSync(flag('wait'), '');
    await waitFor('paused', () => status(ws, 't').status === 'paused');
    // Paused by a failure that quotes the secrets.
    const limited = cli('resume', 't');
    assert.equal(limited.code, 2, limited.stdout + limited.stderr);
    assert.match(limited.stdout, /rate limit hit for \*\*\* and \*\*\*/);
    assert.match(status(ws, 't').reason, /its output matched "rate limit": rate limit hit for \*\*\* and \*\*\*/);
    // Failed.
    fs.writeFileSync(flag('limited'), '');
    assert.equal(cli('resume', 't').code, 1);
    assert.equal(status(ws, 't').status, 'failed');
    // A secret changed: resume says so without the values; --force goes on. Interrupted in 'hold'.
    fs.writeFileSync(flag('broken'), '');
    ws.define('t', definition(NEW_TOKEN));
    const plan = cli('plan', 't');
    assert.match(plan.stdout, /changed since the checkpoint: the value of a secret env variable changed/);
    assert.equal(cli('resume', 't', '--detach').code, 0);
    await waitFor('hold to start', () => status(ws, 't').currentStep?.id === 'hold');
    assert.equal(cli('interrupt', 't', '--wait').code, 0);
    assert.equal(status(ws, 't').status, 'interrupted');
    // An item fails: the step fails, listing it.
    fs.writeFileSync(flag('hold'), '');
    assert.equal(cli('resume', 't').code, 1);
    // Completed.
    fs.writeFileSync(flag('items'), '');
    const done = cli('resume', 't');
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.equal(status(ws, 't').status, 'completed');

    cli('list', '--json');
    cli('list');

    // The steps did get the values (their own output, in logs/, keeps them)...
    const logs = path.join(ws.runDir('t'), 'logs');
    assert.match(fs.readFileSync(path.join(logs, 'show.log'), 'utf8'), new RegExp(`token=${TOKEN} password=${PASSWORD} service=${SERVICE} inherited=${INHERITED}`));
    assert.ok(fs.readFileSync(path.join(logs, 'limited.log'), 'utf8').includes(`rate limit hit for ${TOKEN} and ${INHERITED}`));
    // ...and no other file of the run folder, nor any output, holds one.
    const files = filesOf(ws.runDir('t'), logs);
    assert.ok(files.some((f) => f.file.endsWith('runner.log')) && files.some((f) => f.file.includes(`${path.sep}checkpoints${path.sep}`)), files.map((f) => f.file).join('\n'));
    for (const secret of SECRETS) {
      for (const { file, text } of files) assert.ok(!text.includes(secret), `${secret} in ${file}:\n${text}`);
      for (const out of outputs) assert.ok(!out.includes(secret), `${secret} in the output of ${out}`);
    }
    const checkpoint = ws.readJson('t', 'checkpoint.json');
    assert.equal(checkpoint.definition.env.API_TOKEN, '***');
    assert.equal(checkpoint.definition.steps[1].run, 'test "$API_TOKEN" = "***"');
    assert.equal(checkpoint.definition.env.PLAIN, 'visible');
  });

  it('an item that is a secret runs with its value, and is masked everywhere else: its list is kept in items/, owner-only', async () => {
    const marks = path.join(ws.root, 'marks');
    const fixed = path.join(ws.root, 'fixed');
    const listFile = path.join(ws.root, 'list.txt');
    fs.writeFileSync(listFile, `plain\n${PASSWORD}\n`);
    const run = `echo "$ITEM" >> ${JSON.stringify(marks)}; [ "$ITEM" = plain ] || [ -e ${JSON.stringify(fixed)} ] || { echo "no access with $ITEM" >&2; exit 1; }`;
    ws.define('t', {
      env: { API_TOKEN: TOKEN, DB_PASSWORD: PASSWORD },
      steps: [
        { id: 'inline', run, forEach: { items: ['plain', TOKEN] } },
        { id: 'fromFile', run, forEach: { file: 'list.txt' } },
      ],
    });
    const failed = cli('run', 't');
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(status(ws, 't').reason, /item 1 \(\*\*\*\) failed: exit code 1/);
    fs.writeFileSync(fixed, '');
    const done = cli('resume', 't');
    assert.equal(done.code, 0, done.stdout + done.stderr);
    // The items ran with their values, each once (the failed one twice: it failed, then it was retried).
    assert.deepEqual(readLines(marks), ['plain', TOKEN, TOKEN, 'plain', PASSWORD]);
    const items = path.join(ws.runDir('t'), 'items');
    for (const step of ['inline', 'fromFile']) assert.equal(fs.statSync(path.join(items, `${step}.json`)).mode & 0o777, 0o600, step);
    const logs = path.join(ws.runDir('t'), 'logs');
    const files = filesOf(ws.runDir('t'), logs).filter((f) => !f.file.startsWith(items + path.sep));
    assert.ok(files.some((f) => f.file.includes(`${path.sep}checkpoints${path.sep}`)), files.map((f) => f.file).join('\n'));
    for (const secret of [TOKEN, PASSWORD]) {
      for (const { file, text } of files) assert.ok(!text.includes(secret), `${secret} in ${file}:\n${text}`);
      for (const out of outputs) assert.ok(!out.includes(secret), `${secret} in the output of ${out}`);
    }
  });
});
