/**
 * No request is reported done when it was not. A resume (or resume-all) that lands while the runner
 * writes its final pause must still end with the task running; and a person who pauses a task that
 * pause-all paused makes it their pause, which resume-all leaves alone.
 *
 * The race is built by hand: a stand-in process holds runner.lock and state.json says "pausing", so
 * the controller sees a live runner; once the controller has written its request, the stand-in
 * "finishes its pause" without having read it, as a real runner does when the request comes late.
 */
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST, processStartTime } from '../../src/protocol/processInfo';
import { fixture, ptask, ptaskChild, readLines, status, waitFor, workspace, type Workspace } from './helpers';

describe('control: a request that lands as the runner stops', () => {
  let ws: Workspace;
  let marks: string;
  let gate: string;
  let standIn: ChildProcess | undefined;
  beforeEach(() => {
    ws = workspace();
    marks = path.join(ws.root, 'marks');
    gate = path.join(ws.root, 'gate');
    ws.define('t', { env: { MARKS: marks, GATE: gate }, steps: [{ id: 'a', run: `${fixture('gate.js')} a` }, { id: 'b', run: `${fixture('mark.js')} b` }] });
  });
  afterEach(() => {
    standIn?.kill('SIGKILL');
    ws.cleanup();
  });

  /** A paused task (a done, b to run), paused by `how`. */
  const pausedAfterA = async (how: 'pause' | 'pause-all') => {
    const runner = ptaskChild(ws, 'run', 't');
    await waitFor('a to run', () => readLines(marks).length === 1);
    assert.equal(ptask(ws, how, ...(how === 'pause' ? ['t'] : [])).code, 0);
    fs.writeFileSync(gate, '');
    assert.equal(await runner.exited, 2, runner.output());
  };

  /** As the runner writes its files: a reader never sees a half-written state.json. */
  const writeAtomic = (file: string, text: string) => {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  };

  /** The task looks as it did while its runner was still pausing: a live process holds the lock. */
  const stillPausing = () => {
    standIn = spawn('sleep', ['60'], { stdio: 'ignore' });
    const pid = standIn.pid!;
    const paused = fs.readFileSync(ws.file('t', 'state.json'), 'utf8');
    const state = JSON.parse(paused);
    writeAtomic(ws.file('t', 'state.json'), JSON.stringify({ ...state, status: 'pausing', pid, host: HOST }));
    writeAtomic(ws.file('t', 'runner.lock'), JSON.stringify({ v: 1, pid, startTime: processStartTime(pid), host: HOST, acquiredAt: new Date().toISOString(), purpose: 'run' }));
    assert.equal(status(ws, 't').status, 'pausing');
    /** ... then it finishes its pause without having seen what came in meanwhile. */
    return () => {
      writeAtomic(ws.file('t', 'state.json'), paused);
      fs.rmSync(ws.file('t', 'runner.lock'));
      standIn!.kill('SIGKILL');
    };
  };

  it('resume while the runner writes its final pause: the task ends up running (and completes), not paused', async () => {
    await pausedAfterA('pause');
    const finishPause = stillPausing();
    const seq = ws.readJson('t', 'control.json').seq;
    const resume = ptaskChild(ws, 'resume', 't');
    await waitFor('the resume to be written', () => ws.readJson('t', 'control.json').seq > seq);
    finishPause();
    assert.equal(await resume.exited, 0, resume.output());
    assert.equal(status(ws, 't').status, 'completed');
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'b']);
  });

  it('resume-all while a task pause-all paused is still pausing: it is resumed too', async () => {
    await pausedAfterA('pause-all');
    assert.equal(status(ws, 't').pausedBy, 'global');
    const finishPause = stillPausing();
    const resumeAll = ptaskChild(ws, 'resume-all');
    await waitFor('pause-all to be off', () => JSON.parse(fs.readFileSync(path.join(ws.tasksDir, '.control.json'), 'utf8')).desired === 'running');
    finishPause();
    assert.equal(await resumeAll.exited, 0, resumeAll.output());
    assert.match(resumeAll.output(), /resumed t/);
    await waitFor('t to complete', () => status(ws, 't').status === 'completed');
    assert.deepEqual(readLines(marks).map((l) => l.split(' ')[0]), ['a', 'b']);
  });

  it('pause of a task that pause-all paused makes it a person\'s pause: resume-all leaves it paused', async () => {
    await pausedAfterA('pause-all');
    const pause = ptask(ws, 'pause', 't');
    assert.equal(pause.code, 0);
    assert.match(pause.stdout, /now you paused it too/);
    const resumeAll = ptask(ws, 'resume-all');
    assert.equal(resumeAll.code, 0, resumeAll.stdout + resumeAll.stderr);
    assert.doesNotMatch(resumeAll.stdout, /resumed t/);
    assert.equal(status(ws, 't').status, 'paused');
    assert.equal(ptask(ws, 'resume', 't').code, 0, 'a resume of its own still resumes it');
    assert.equal(status(ws, 't').status, 'completed');
  });
});
