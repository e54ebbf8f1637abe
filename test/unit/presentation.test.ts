import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunnerState } from '../../src/protocol/schemas';
import type { TaskView } from '../../src/protocol/taskView';
import { TASK_STATES, transition, type Request } from '../../src/protocol/transitions';
import { stepRows, taskActions, taskContextValue, taskDescription, taskIcon, taskTooltip } from '../../src/extension/presentation';

const definition = { name: 'Nightly', steps: ['fetch', 'embed', 'publish'].map((id) => ({ id, run: 'true' })) };
const state = (over: Partial<RunnerState> = {}): RunnerState => ({
  v: 1, taskId: 'nightly', runId: 'r1', status: 'running', pid: 10, host: 'h', startedAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z', heartbeatAt: '2026-01-01T00:00:00Z', stepsTotal: 3, stepsDone: 1,
  currentStep: { id: 'embed', index: 1, attempt: 1, startedAt: '2026-01-01T00:00:00Z', progress: { done: 120, total: 1000 } },
  appliedSeq: 2, appliedGlobalSeq: 0, ...over,
});
const view = (over: Partial<TaskView> = {}): TaskView => ({ id: 'nightly', status: 'running', definition, state: state(), fileProblems: [], ...over });

describe('tree presentation', () => {
  it('describes a running task with its step and progress', () => {
    assert.equal(taskDescription(view()), 'running · 1/3 · embed 120/1000');
  });

  it('describes a paused task, and one paused by pause all', () => {
    const paused = view({ status: 'paused', state: state({ status: 'paused', currentStep: null, pausedBy: 'user' }) });
    assert.equal(taskDescription(paused), 'paused · 1/3 · Nightly');
    const all = view({ status: 'paused', state: state({ status: 'paused', currentStep: null, pausedBy: 'global' }) });
    assert.match(taskDescription(all), /^paused \(all\) · 1\/3/);
  });

  it('describes a forEach step by its items, failed ones included', () => {
    const step = { id: 'embed', index: 1, attempt: 1, startedAt: '2026-01-01T00:00:00Z', items: { done: 120, total: 1000, failed: 2, running: 4 } };
    assert.equal(taskDescription(view({ state: state({ currentStep: step }) })), 'running · 1/3 · embed 120/1000 (2 failed)');
  });

  it('describes a task stopped in a forEach step by the items it left: paused, failed, interrupted', () => {
    const stoppedIn = { id: 'embed', index: 1, items: { done: 3, total: 7, failed: 1, running: 0 } };
    for (const status of ['paused', 'failed', 'interrupted'] as const)
      assert.equal(taskDescription(view({ status, state: state({ status, currentStep: null, stoppedIn }) })), `${status} · 1/3 · embed 3/7 (1 failed)`);
    const resumeAt = new Date(Date.now() + 60_000).toISOString();
    assert.match(taskDescription(view({ status: 'paused', state: state({ status: 'paused', currentStep: null, stoppedIn, resumeAt }) })), /^paused · 1\/3 · embed 3\/7 \(1 failed\) · resumes (at|on) /);
    // A run that completed leaves none; a reset forgets it.
    assert.equal(taskDescription(view({ status: 'completed', state: state({ status: 'completed', currentStep: null, stoppedIn }) })), 'completed · 1/3 · Nightly');
  });

  it('says when a task paused by a failure resumes by itself', () => {
    const resumeAt = new Date(Date.now() + 60_000).toISOString();
    const paused = view({ status: 'paused', state: state({ status: 'paused', currentStep: null, pausedBy: 'failure', resumeAt, autoResume: { attempt: 2, maxAttempts: 5 } }) });
    assert.match(taskDescription(paused), /^paused · 1\/3 · resumes (at|on) /); // "on <date>" a minute before midnight
    assert.match(taskTooltip(paused, undefined), /Resumes by itself (at|on) .* \(automatic resume 2 of 5\)/);
  });

  it('describes an idle task by its name, and an invalid one as invalid', () => {
    assert.equal(taskDescription(view({ status: 'idle', state: undefined })), 'idle · Nightly');
    assert.equal(taskDescription(view({ problem: 'x.json: bad' })), 'invalid');
  });

  it('gives every state its own icon; running ones spin', () => {
    const ids = TASK_STATES.map((status) => taskIcon(view({ status })).id);
    assert.match(taskIcon(view({ status: 'running' })).id, /~spin$/);
    assert.equal(taskIcon(view({ problem: 'bad' })).id, 'error');
    assert.equal(new Set(ids.map((id, i) => `${id}:${taskIcon(view({ status: TASK_STATES[i] })).color}`)).size, TASK_STATES.length);
  });

  it('puts the state in contextValue, and offers the actions the transition table allows', () => {
    assert.equal(taskContextValue(view({ status: 'paused' }), true), 'task.paused.checkpoint');
    assert.equal(taskContextValue(view({ problem: 'bad' }), false), 'task.invalid');
    assert.deepEqual(taskActions(view({ status: 'paused' })), ['runFresh', 'pause', 'resume', 'reset']);
    assert.deepEqual(taskActions(view({ status: 'running' })), ['pause', 'resume', 'interrupt']);
    assert.deepEqual(taskActions(view({ problem: 'bad' })), []);
    // Paused by a failure, its runner waiting to resume it: pause and interrupt reach that runner; no reset under it.
    assert.equal(taskContextValue(view({ status: 'paused', waiting: true }), true), 'task.paused.waiting.checkpoint');
    assert.deepEqual(taskActions(view({ status: 'paused', waiting: true })), ['pause', 'resume', 'interrupt']);
  });

  it('shows each inline and context action exactly where the transition table allows it', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8'));
    const menus: { command: string; when: string }[] = manifest.contributes.menus['view/item/context'];
    const requestOf: Record<string, Request> = { 'pausableTasks.run': 'run', 'pausableTasks.pause': 'pause', 'pausableTasks.resume': 'resume', 'pausableTasks.interrupt': 'interrupt', 'pausableTasks.reset': 'reset' };
    const cases = [...TASK_STATES.map((status) => view({ status })), view({ status: 'paused', waiting: true })];
    let checked = 0;
    for (const v of cases) {
      for (const hasCheckpoint of [false, true]) {
        const contextValue = taskContextValue(v, hasCheckpoint);
        for (const menu of menus.filter((m) => requestOf[m.command])) {
          const regex = /viewItem =~ \/(.*)\/$/.exec(menu.when)?.[1];
          assert.ok(regex, `${menu.command}: ${menu.when}`);
          const request = requestOf[menu.command];
          // A request that leaves the state as it is (pause a paused task, resume a running one) is allowed, not offered.
          const noOp = !v.waiting && taskActions(v).includes(request) && transition(v.id, v.status, request) === v.status;
          const expected = taskActions(v).includes(request) && !noOp;
          assert.equal(new RegExp(regex).test(contextValue), expected, `${menu.command} on ${contextValue}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 100);
  });

  it('tooltip: state, step, last request and whether it was applied', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const control = { v: 1 as const, seq: 3, desired: 'paused' as const, requestedAt: '2026-01-01T00:00:30Z', requestedBy: 'vscode' };
    const text = taskTooltip(view({ status: 'pausing', control, state: state({ status: 'pausing', pausedBy: 'user' }) }), '2026-01-01T00:00:50Z', now);
    assert.match(text, /State: \*\*pausing\*\* \(by user\)/);
    assert.match(text, /Current step: `embed 120\/1000`, since 1m 0s ago/);
    assert.match(text, /Last checkpoint: 10s ago/);
    assert.match(text, /Last request: paused by vscode 30s ago, not applied yet/);
  });

  it('tooltip: what a run adopted from the lost runner before it', () => {
    const text = taskTooltip(view({ state: state({ adopted: { running: 2, ended: 1 } }) }), undefined);
    assert.match(text, /Adopted from the lost runner: 2 attempt\(s\) still running, 1 that had ended unwatched/);
    assert.doesNotMatch(taskTooltip(view(), undefined), /Adopted/);
  });

  it('tooltip: the Slurm jobs of the step in flight, pending with their reason, or held by the pause', () => {
    const text = taskTooltip(view({ state: state({ slurm: [{ jobId: '4711', step: 'embed', running: 4, pending: 46, held: 0, reason: 'JobArrayTaskLimit' }] }) }), undefined);
    assert.match(text.replace(/\\/g, ''), /Slurm: job 4711 \(step embed\): 4 running, 46 pending \(JobArrayTaskLimit\)/, 'Markdown-escaped');
    assert.doesNotMatch(taskTooltip(view(), undefined), /Slurm/);
  });

  it('lists a graph in an order that respects it: every step in flight, and what a pending step waits for', () => {
    const definition = {
      steps: [
        { id: 'report', run: 'true', needs: ['train'] },
        { id: 'fetch', run: 'true', needs: [] },
        { id: 'weights', run: 'true', needs: [] },
        { id: 'train', run: 'true', needs: ['fetch', 'weights'] },
      ],
    };
    const live = state({ currentStep: { id: 'fetch', index: 1, attempt: 1, startedAt: '2026-01-01T00:00:00Z' }, alsoRunning: [{ id: 'weights', index: 2, attempt: 1, startedAt: '2026-01-01T00:00:01Z' }] });
    const rows = stepRows(view({ definition, state: live }), [], [], Date.parse('2026-01-01T00:00:02Z'));
    assert.deepEqual(rows.map((r) => [r.id, r.status, r.description]), [
      ['fetch', 'running', 'running · 2.0s'],
      ['weights', 'running', 'running · 1.0s'],
      ['train', 'pending', 'waits for fetch, weights'],
      ['report', 'pending', 'waits for train'],
    ]);
    assert.match(taskDescription(view({ definition, state: live })), /fetch, weights/);
  });

  it('lists steps: done with duration, running with progress, unfinished with its outcome, pending', () => {
    const completed = [{ id: 'fetch', index: 0, exitCode: 0, attempts: 1, startedAt: 'a', endedAt: 'b', durationMs: 1500 }];
    const running = stepRows(view(), completed, [], Date.parse('2026-01-01T00:00:02Z'));
    assert.deepEqual(running.map((r) => [r.id, r.status, r.description]), [
      ['fetch', 'done', 'done · 1.5s'],
      ['embed', 'running', 'running · 120/1000 · 2.0s'],
      ['publish', 'pending', 'waits for embed'],
    ]);
    const failed = stepRows(view({ status: 'failed', state: state({ status: 'failed', currentStep: null }) }), completed, [{ id: 'embed', index: 1, attempts: 3, outcome: 'failed', error: 'exit code 3' }]);
    assert.deepEqual(failed[1], { id: 'embed', index: 1, status: 'failed', description: 'failed · exit code 3' });
  });

  it('never shows the value of a secret env variable, wherever a state, checkpoint or error file holds one', () => {
    // What an older runner, or a hand edit, could have left: every text the tree shows holds a secret.
    const secrets = { API_TOKEN: 'tok-visible-1', steps: 'pw-visible-22', short: 'abc' };
    const def = {
      name: `Nightly ${secrets.API_TOKEN}`,
      env: { API_TOKEN: secrets.API_TOKEN, DB_KEY: 'abc', PLAIN: 'plain-value' },
      steps: [
        { id: 'fetch', run: 'true', env: { DB_PASSWORD: secrets.steps } },
        { id: 'embed', run: 'true' },
      ],
    };
    const reason = `rate limit for ${secrets.API_TOKEN} (${secrets.steps}); plain-value stays`;
    const paused = view({ definition: def, status: 'paused', state: state({ status: 'paused', currentStep: null, reason }), fileProblems: [`control.json: bad "${secrets.steps}"`] });
    const texts = [
      taskDescription(paused),
      taskTooltip(paused, undefined),
      taskTooltip(view({ definition: def, problem: `t.json: env.API_TOKEN: "${secrets.API_TOKEN}" is wrong` }), undefined),
      taskTooltip(view({ definition: def, status: 'lost', lostReason: `gone ${secrets.steps}` }), undefined),
      ...stepRows(paused, [], [{ id: 'embed', index: 1, attempts: 1, outcome: 'failed', error: `exit 3: ${secrets.API_TOKEN}` }]).map((r) => r.description),
    ];
    for (const text of texts) {
      assert.ok(!text.includes(secrets.API_TOKEN) && !text.includes(secrets.steps), text);
      // Markdown-escaped, as the tooltip shows it.
      assert.ok(!text.includes('tok\\-visible') && !text.includes('pw\\-visible'), text);
    }
    assert.ok(taskTooltip(paused, undefined).includes('Reason: rate limit for \\*\\*\\* \\(\\*\\*\\*\\); plain\\-value stays'));
    assert.equal(stepRows(paused, [], [{ id: 'embed', index: 1, attempts: 1, outcome: 'failed', error: 'exit 3: tok-visible-1' }])[1].description, 'failed · exit 3: ***');
    // Values under 4 characters are not masked: "abc" would garble ordinary words.
    assert.match(taskDescription(view({ definition: { ...def, name: 'abc' }, status: 'idle', state: undefined })), /abc$/);
  });
});
