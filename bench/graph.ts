/**
 * Graph scheduling cost: 1,000 trivial steps (`true`) as 10 independent chains of 100 (`needs`),
 * against the same 1,000 steps as one chain, both at concurrency 1 so that only the scheduling
 * differs (target: the graph's per-step cost within 1.2x of the chain's). Side by side, the same
 * graph as a Makefile under `make -j1`, and both tools at 2 at once (this machine's cores), where
 * the graph's branches run in parallel. Rounds alternate the order; medians.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log, makeWorkspace, median, QUICK, round, RUNNER, timeProcess, type BenchResult, type Workspace } from './lib';

const CHAINS = 10;
const STEPS = QUICK ? 200 : 1000;
const ROUNDS = QUICK ? 1 : 3;
const TARGET = 1.2;

function prepare(ws: Workspace): void {
  const per = STEPS / CHAINS;
  const graphSteps = Array.from({ length: STEPS }, (_, i) => {
    const chain = Math.floor(i / per);
    return { id: `c${chain}s${i % per}`, run: 'true', needs: i % per === 0 ? [] : [`c${chain}s${(i % per) - 1}`] };
  });
  const write = (id: string, def: object) => fs.writeFileSync(path.join(ws.tasksDir, `${id}.json`), JSON.stringify(def));
  write('chain', { steps: Array.from({ length: STEPS }, (_, i) => ({ id: `s${i}`, run: 'true' })) });
  write('graph', { steps: graphSteps });
  write('graph2', { concurrency: 2, steps: graphSteps });
  const rules = graphSteps.map((s) => `${s.id}: ${s.needs.join(' ')}\n\t@sh -c true\n`).join('');
  const tops = Array.from({ length: CHAINS }, (_, c) => `c${c}s${per - 1}`);
  fs.writeFileSync(path.join(ws.root, 'Makefile'), `all: ${tops.join(' ')}\n.PHONY: all ${graphSteps.map((s) => s.id).join(' ')}\n${rules}`);
}

const ptask = (ws: Workspace, id: string) => timeProcess(process.execPath, [RUNNER, 'run', id, '--fresh', '--root', ws.root], 0, ws.root);
const make = (ws: Workspace, jobs: number) => timeProcess('/bin/sh', ['-c', `make -j${jobs} -s`], 0, ws.root);

export async function graph(): Promise<BenchResult> {
  const ws = makeWorkspace('graph');
  try {
    prepare(ws);
    const runs: Record<string, () => Promise<number>> = {
      'ptask chain': () => ptask(ws, 'chain'),
      'ptask graph': () => ptask(ws, 'graph'),
      'make -j1 graph': () => make(ws, 1),
      'ptask graph c2': () => ptask(ws, 'graph2'),
      'make -j2 graph': () => make(ws, 2),
    };
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
    const names = Object.keys(runs);
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of r % 2 ? [...names].reverse() : names) times[name].push(await runs[name]());
      log(`graph: round ${r + 1}/${ROUNDS} done`);
    }
    const m = (k: string) => median(times[k]);
    const ratio = m('ptask graph') / m('ptask chain');
    const perStep = (k: string) => round(m(k) / STEPS, 3);
    return {
      id: 'graph',
      title: `${STEPS.toLocaleString('en')} steps in ${CHAINS} chains (needs) / the same as one chain, concurrency 1`,
      headline: `${round(ratio)}x (${round(m('ptask graph') / 1000, 2)} s vs ${round(m('ptask chain') / 1000, 2)} s)`,
      target: `≤ ${TARGET}x`,
      met: ratio <= TARGET,
      details: { steps: STEPS, chains: CHAINS, rounds: ROUNDS, ratio: round(ratio, 3), ms: Object.fromEntries(names.map((k) => [k, times[k].map((x) => round(x, 1))])) },
      notes: [
        `per step (ms): chain ${perStep('ptask chain')}, graph ${perStep('ptask graph')}, make -j1 on the graph ${perStep('make -j1 graph')}; ` +
          `at 2 at once: ptask ${round(m('ptask graph c2'), 0)} ms, make -j2 ${round(m('make -j2 graph'), 0)} ms (ptask ${round(m('ptask graph c2') / m('make -j2 graph'))}x make; ` +
          `concurrency 2 / 1: ${round(m('ptask graph') / m('ptask graph c2'))}x)`,
      ],
    };
  } finally {
    ws.cleanup();
  }
}
