/**
 * Slurm: on the local single-node cluster (test/slurm/cluster.sh), each trial runs a forEach of 24
 * items at concurrency 4, each item sleeping 1 s, and measures
 *   submit → first status: from the runner's start to state.json showing the job (its id, its
 *     elements' states), beside `sbatch` + `squeue` by hand (the floor: Slurm's own round trip);
 *   pause → held: from control.json {desired: paused} to squeue showing every pending element held;
 *   kill -9 → re-attached: from `ptask resume` after the runner was killed with -9 while elements
 *     ran, to state.json showing the adopted attempts and the job again;
 *   interrupt → none left: from control.json {desired: interrupted} to state.json saying
 *     interrupted and squeue listing nothing of the task pending or running.
 * Anchors, from their docs and code: Snakemake's Slurm plugin first asks for a job's status 40 s
 * after submitting it; Nextflow waits up to 270 s for a task's exit file.
 * Skipped, saying why, where no cluster answers.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { distribution, expectExit, log, makeWorkspace, now, QUICK, readState, round, startRunner, waitFor, writeControl, type BenchResult } from './lib';

const ITEMS = 24;

const squeue = (name: string) =>
  spawnSync('squeue', ['-h', '-r', '--states=PENDING,RUNNING', '-o', '%T|%r|%j'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.endsWith(`|${name}`) || l.includes(`|${name}`));

export async function slurm(): Promise<BenchResult> {
  const id = 'slurm';
  const title = 'Slurm: submit → first status, pause → held, kill -9 → re-attached, interrupt → none left';
  if (spawnSync('sinfo', ['-h'], { timeout: 10_000 }).status !== 0) {
    return { id, title, headline: 'skipped', target: 'no cluster', met: true, details: {}, notes: ['skipped: no Slurm cluster answers (bash test/slurm/cluster.sh start, as root)'] };
  }
  const trials = QUICK ? 2 : 5;
  const firstStatus: number[] = [];
  const byHand: number[] = [];
  const held: number[] = [];
  const reattached: number[] = [];
  const interrupted: number[] = [];
  for (let t = 0; t < trials; t++) {
    const ws = makeWorkspace('slurm');
    const task = `bench${process.pid}t${t}`;
    fs.writeFileSync(
      path.join(ws.tasksDir, `${task}.json`),
      JSON.stringify({ executor: 'slurm', steps: [{ id: 'items', forEach: { items: Array.from({ length: ITEMS }, (_, i) => i) }, concurrency: 4, run: 'sleep 1' }] }),
    );
    // Submit → first status.
    const runner = startRunner(ws, 'run', task);
    const shown = await waitFor(() => readState(ws, task)?.slurm?.[0]?.jobId, { timeoutMs: 60_000, watchDir: ws.runDir(task), intervalMs: 5, what: 'the job in state.json' });
    firstStatus.push(shown.at - runner.at);
    // Pause → every pending element held (squeue's word).
    const running = await waitFor(() => (squeue(`ptask.${task}.`).some((l) => l.startsWith('RUNNING')) ? true : undefined), { timeoutMs: 60_000, intervalMs: 20, what: 'an element to run' });
    void running;
    const pause = writeControl(ws, task, 'paused');
    const allHeld = await waitFor(
      () => {
        const pending = squeue(`ptask.${task}.`).filter((l) => l.startsWith('PENDING'));
        return pending.length && pending.every((l) => l.split('|')[1].startsWith('JobHeld')) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'every pending element held' },
    );
    held.push(allHeld.at - pause.at);
    await expectExit(runner, 2, 'paused run');
    // Resume, kill -9 while elements run, resume again: re-attached.
    const resumed = startRunner(ws, 'resume', task);
    await waitFor(() => (squeue(`ptask.${task}.`).some((l) => l.startsWith('RUNNING')) ? true : undefined), { timeoutMs: 60_000, intervalMs: 20, what: 'an element to run after resume' });
    resumed.child.kill('SIGKILL');
    await resumed.exited;
    const again = startRunner(ws, 'resume', task);
    const adopted = await waitFor(
      () => {
        const state = readState(ws, task);
        return state?.adopted && state.pid === again.child.pid && state.slurm?.length ? true : undefined;
      },
      { timeoutMs: 60_000, watchDir: ws.runDir(task), intervalMs: 5, what: 'the adopted job in state.json' },
    );
    reattached.push(adopted.at - again.at);
    // Interrupt → interrupted, and nothing of the task left in Slurm's queue.
    const stop = writeControl(ws, task, 'interrupted');
    const gone = await waitFor(() => (readState(ws, task)?.status === 'interrupted' && !squeue(`ptask.${task}.`).length ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 5,
      what: 'interrupted, nothing left in the queue',
    });
    interrupted.push(gone.at - stop.at);
    await expectExit(again, 4, 'interrupted run');
    // The floor: sbatch, then squeue until it lists the job.
    const t0 = now();
    const jobId = spawnSync('sbatch', ['--parsable', '--array=0-3', '--output=/dev/null', `--chdir=${ws.scratch}`, '--wrap=true'], { encoding: 'utf8' }).stdout.trim();
    await waitFor(() => (spawnSync('squeue', ['-h', '-j', jobId, '--states=all'], { encoding: 'utf8' }).stdout.trim() ? true : undefined), { timeoutMs: 30_000, intervalMs: 5, what: 'squeue to list the job' });
    byHand.push(now() - t0);
    ws.cleanup();
    log(`slurm trial ${t + 1}/${trials}: first status ${round(firstStatus[t])} ms, held ${round(held[t])} ms, re-attached ${round(reattached[t])} ms, interrupted ${round(interrupted[t])} ms`);
  }
  const d = { firstStatus: distribution(firstStatus), sbatchAndSqueueByHand: distribution(byHand), pauseToHeld: distribution(held), killToReattached: distribution(reattached), interruptToNoneLeft: distribution(interrupted) };
  return {
    id,
    title,
    headline: `first status median ${round(d.firstStatus.p50)} ms; held ${round(d.pauseToHeld.p50)} ms; re-attached ${round(d.killToReattached.p50)} ms`,
    target: 'seconds, not the 40 s of Snakemake\'s first status check or the 270 s of Nextflow\'s exit-file wait',
    met: d.firstStatus.max < 40_000 && d.killToReattached.max < 40_000,
    details: { trials, items: ITEMS, concurrency: 4, ...d },
    notes: [
      `submit → first status: median ${round(d.firstStatus.p50)} ms (max ${round(d.firstStatus.max)}), runner start included; sbatch + squeue by hand: median ${round(d.sbatchAndSqueueByHand.p50)} ms`,
      `pause → every pending element held (squeue): median ${round(d.pauseToHeld.p50)} ms (max ${round(d.pauseToHeld.max)})`,
      `kill -9 → re-attached (state.json shows the adopted job): median ${round(d.killToReattached.p50)} ms (max ${round(d.killToReattached.max)})`,
      `interrupt → interrupted, nothing left in the queue: median ${round(d.interruptToNoneLeft.p50)} ms (max ${round(d.interruptToNoneLeft.max)})`,
    ],
  };
}
