/**
 * Side by side with the tools a user would pick instead, in the same run: in each of 5 rounds each
 * ptask run next to the run it is compared with, which goes first alternating; a ratio is the
 * median of the rounds' ratios (times shown are medians):
 *  1. 2,000 trivial items (`true` through `sh -c`): `xargs -P1 -I{} sh -c true` against ptask at
 *     concurrency 1, `xargs -P4` against concurrency 4, and how much of the cores each of those
 *     two leaves idle (/proc/stat); ptask's concurrency 4 / 1 for the record.
 *  2. 2,000 small real items (sha256sum + gzip of a 4 KB file): `xargs -P2` against concurrency 2.
 *  3. A chain of 1,000 trivial steps against `make -j1` with the same recipes (each `sh -c true`;
 *     ptask commits each step durably before the next starts).
 * Also the runner's own CPU a trivial item (bench/cpuAtExit.cjs, preloaded), and the same runs
 * with PTASK_SLOT=perl (the Perl slot, where there is no `cc`) and PTASK_EXECUTOR=local (every
 * attempt forked by the runner, as before the slots).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMMAND, COMMAND_ENV, log, makeWorkspace, median, QUICK, round, timeProcess, type BenchResult, type Workspace } from './lib';

const CPU_AT_EXIT = path.join(__dirname, 'cpuAtExit.cjs');
const ITEMS = QUICK ? 300 : 2000;
const STEPS = QUICK ? 200 : 1000;
const ROUNDS = QUICK ? 1 : 5;
const OTHER_ROUNDS = QUICK ? 1 : 2;
/** What is compared, reference first: run next to each other in every round. */
const PAIRS: [string, string][] = [
  ['xargs -P1', 'ptask c1'],
  ['xargs -P4', 'ptask c4'],
  ['xargs -P2 real', 'ptask c2 real'],
  ['make -j1', 'ptask chain'],
];
const SMALL_REAL = `sha256sum "$ITEM" > "$ITEM.sha" && gzip -kf "$ITEM"`;

function prepare(ws: Workspace): void {
  const names = Array.from({ length: ITEMS }, (_, i) => `item-${i}`);
  fs.writeFileSync(path.join(ws.root, 'items.txt'), names.join('\n') + '\n');
  const data = path.join(ws.root, 'data');
  fs.mkdirSync(data);
  const block = Buffer.alloc(4096, 'pausable tasks ');
  for (const name of names) fs.writeFileSync(path.join(data, name), block);
  fs.writeFileSync(path.join(data, 'files.txt'), names.join('\n') + '\n');
  // Items from a file in the task's folder: the workspace for the trivial ones, data/ for the real ones.
  const task = (id: string, run: string, concurrency: number, folder?: string) =>
    fs.writeFileSync(path.join(ws.tasksDir, `${id}.json`), JSON.stringify({ ...(folder ? { cwd: folder } : {}), steps: [{ id: 'each', run, forEach: { file: folder ? 'files.txt' : 'items.txt' }, concurrency }] }));
  task('c1', 'true', 1);
  task('c4', 'true', 4);
  task('real2', SMALL_REAL, 2, 'data');
  fs.writeFileSync(path.join(ws.tasksDir, 'chain.json'), JSON.stringify({ steps: Array.from({ length: STEPS }, (_, i) => ({ id: `s${i}`, run: 'true' })) }));
  const targets = Array.from({ length: STEPS }, (_, i) => `s${i}`);
  fs.writeFileSync(path.join(ws.root, 'Makefile'), `all: ${targets.join(' ')}\n.PHONY: all ${targets.join(' ')}\n` + targets.map((t) => `${t}:\n\t@sh -c true\n`).join(''));
}

/**
 * The cores' idle time while `run` ran, as a share of all the time they had (/proc/stat's idle and
 * iowait, in its 10 ms ticks, over every core): what concurrency leaves unused.
 */
async function idleShare(run: () => Promise<number>, into: number[]): Promise<number> {
  const idle = () => {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/);
    return ((Number(cpu[4]) + Number(cpu[5])) * 1000) / 100;
  };
  const before = idle();
  const ms = await run();
  into.push((idle() - before) / (ms * os.availableParallelism()));
  return ms;
}

const sh = (script: string, cwd: string) => timeProcess('/bin/sh', ['-c', script], 0, cwd);
// As a user starts it: the ptask command (against make or xargs, the time of its start counts).
const ptask = (ws: Workspace, id: string, env: NodeJS.ProcessEnv = {}) => timeProcess(COMMAND, ['run', id, '--fresh', '--root', ws.root], 0, ws.root, { ...COMMAND_ENV, ...env });

/** The runner's own CPU (user + system, ms) for one run, from inside it. */
async function runnerCpu(ws: Workspace, id: string): Promise<number> {
  const file = path.join(ws.scratch, `${id}.cpu.json`);
  await timeProcess(COMMAND, ['run', id, '--fresh', '--root', ws.root], 0, ws.root, { ...COMMAND_ENV, NODE_OPTIONS: `--require "${CPU_AT_EXIT}"`, BENCH_CPU_FILE: file });
  const { user, system } = JSON.parse(fs.readFileSync(file, 'utf8')) as { user: number; system: number };
  return (user + system) / 1000;
}

export async function sideBySide(): Promise<BenchResult> {
  const ws = makeWorkspace('side-by-side');
  try {
    prepare(ws);
    const data = path.join(ws.root, 'data');
    const idle = { 'xargs -P4': [] as number[], 'ptask c4': [] as number[] };
    const runs: Record<string, () => Promise<number>> = {
      'xargs -P1': () => sh('xargs -P1 -I{} sh -c true < items.txt', ws.root),
      'ptask c1': () => ptask(ws, 'c1'),
      'xargs -P4': () => idleShare(() => sh('xargs -P4 -I{} sh -c true < items.txt', ws.root), idle['xargs -P4']),
      'ptask c4': () => idleShare(() => ptask(ws, 'c4'), idle['ptask c4']),
      'xargs -P2 real': () => sh(`xargs -P2 -I{} sh -c 'sha256sum "{}" > "{}.sha" && gzip -kf "{}"' < files.txt`, data),
      'ptask c2 real': () => ptask(ws, 'real2'),
      'make -j1': () => sh('make -j1 -s', ws.root),
      'ptask chain': () => ptask(ws, 'chain'),
      'perl c1': () => ptask(ws, 'c1', { PTASK_SLOT: 'perl' }),
      'perl c4': () => ptask(ws, 'c4', { PTASK_SLOT: 'perl' }),
      'perl c2 real': () => ptask(ws, 'real2', { PTASK_SLOT: 'perl' }),
      'local c1': () => ptask(ws, 'c1', { PTASK_EXECUTOR: 'local' }),
      'local c4': () => ptask(ws, 'c4', { PTASK_EXECUTOR: 'local' }),
      'local chain': () => ptask(ws, 'chain', { PTASK_EXECUTOR: 'local' }),
    };
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
    const names = Object.keys(runs);
    // Each ptask run next to the run it is compared with, the pair's order alternating: the VM's
    // speed drifts by a third within minutes here, and a ratio of runs made side by side sees
    // less of that than a ratio of medians made minutes apart.
    const ratiosOf = new Map<string, number[]>();
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? [...PAIRS].reverse() : PAIRS;
      for (const [reference, ours] of order) {
        for (const name of r % 2 ? [ours, reference] : [reference, ours]) times[name].push(await runs[name]());
        ratiosOf.set(ours, [...(ratiosOf.get(ours) ?? []), times[ours][r] / times[reference][r]]);
      }
      log(`side by side: round ${r + 1}/${ROUNDS} done`);
    }
    // The other slot and the old executor, for the record (no target): fewer rounds, against the medians above.
    const others = names.filter((n) => !PAIRS.some((pair) => pair.includes(n)));
    for (let r = 0; r < OTHER_ROUNDS; r++) for (const name of others) times[name].push(await runs[name]());
    const m = (k: string) => median(times[k]);
    const paired = (k: string) => median(ratiosOf.get(k) ?? []);
    const cpuMs = await runnerCpu(ws, 'c1');
    const ratios = {
      c1VsXargsP1: paired('ptask c1'),
      c4VsXargsP4: paired('ptask c4'),
      c4OverC1: median(times['ptask c1'].map((c1, r) => c1 / times['ptask c4'][r])),
      // The same for xargs: what concurrency 4 can gain here at all.
      xargsP4OverP1: median(times['xargs -P1'].map((p1, r) => p1 / times['xargs -P4'][r])),
      realVsXargsP2: paired('ptask c2 real'),
      chainVsMake: paired('ptask chain'),
      perlC1VsXargsP1: m('perl c1') / m('xargs -P1'),
      perlC4VsXargsP4: m('perl c4') / m('xargs -P4'),
      perlRealVsXargsP2: m('perl c2 real') / m('xargs -P2 real'),
      localC1VsXargsP1: m('local c1') / m('xargs -P1'),
      localC4VsXargsP4: m('local c4') / m('xargs -P4'),
      localChainVsMake: m('local chain') / m('make -j1'),
    };
    const idleC4 = median(idle['ptask c4']);
    const idleXargsP4 = median(idle['xargs -P4']);
    // c4 / c1 ≥ 1.6x was the target; c1 now keeps both cores busy itself (docs/benchmarks.md,
    // "Concurrency 4 / 1"), so what it stood for is asked directly: c4 leaves the cores no idler than xargs -P4.
    const met = ratios.c1VsXargsP1 <= 1.25 && ratios.c4VsXargsP4 <= 1.25 && idleC4 <= idleXargsP4 && ratios.realVsXargsP2 <= 1.1 && ratios.chainVsMake <= 1.5 && cpuMs / ITEMS <= 1;
    const x = (v: number) => `${round(v)}x`;
    const pct = (v: number) => `${round(v * 100, 0)}%`;
    return {
      id: 'side-by-side',
      title: `side by side: ${ITEMS.toLocaleString('en')} items against xargs, ${STEPS.toLocaleString('en')} steps against make`,
      headline: `c1 ${x(ratios.c1VsXargsP1)} xargs -P1, c4 ${x(ratios.c4VsXargsP4)} xargs -P4, chain ${x(ratios.chainVsMake)} make`,
      target: '≤ 1.25x xargs (c1, c4), c4 the cores no idler than xargs -P4, ≤ 1.1x xargs -P2 on small real items, ≤ 1.5x make, runner CPU ≤ 1 ms an item',
      met,
      details: {
        items: ITEMS,
        steps: STEPS,
        rounds: ROUNDS,
        otherRounds: OTHER_ROUNDS,
        pairedRatios: Object.fromEntries([...ratiosOf].map(([k, v]) => [k, v.map((x) => round(x, 2))])),
        medianMs: Object.fromEntries(names.map((k) => [k, round(m(k), 0)])),
        allMs: Object.fromEntries(names.map((k) => [k, times[k].map((t) => round(t, 0))])),
        ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, round(v, 2)])),
        idleShareOfCores: { 'ptask c4': round(idleC4, 3), 'xargs -P4': round(idleXargsP4, 3) },
        runnerCpuMsPerItem: round(cpuMs / ITEMS, 3),
      },
      notes: [
        `trivial items: ptask c1 ${round(m('ptask c1'), 0)} ms vs xargs -P1 ${round(m('xargs -P1'), 0)} ms (${x(ratios.c1VsXargsP1)}); c4 ${round(m('ptask c4'), 0)} vs xargs -P4 ${round(m('xargs -P4'), 0)} (${x(ratios.c4VsXargsP4)}); c4 / c1 ${x(ratios.c4OverC1)} (xargs -P4 / -P1 ${x(ratios.xargsP4OverP1)}); the cores idle ${pct(idleC4)} of c4, ${pct(idleXargsP4)} of xargs -P4`,
        `small real items (sha256sum + gzip of 4 KB): ptask c2 ${round(m('ptask c2 real'), 0)} ms vs xargs -P2 ${round(m('xargs -P2 real'), 0)} ms (${x(ratios.realVsXargsP2)})`,
        `${STEPS} trivial steps: ptask ${round(m('ptask chain'), 0)} ms vs make -j1 ${round(m('make -j1'), 0)} ms (${x(ratios.chainVsMake)}), each step's commit durable before the next`,
        `the runner's own CPU: ${round(cpuMs / ITEMS, 3)} ms an item (c1)`,
        `the Perl slot (PTASK_SLOT=perl): c1 ${x(ratios.perlC1VsXargsP1)} xargs -P1, c4 ${x(ratios.perlC4VsXargsP4)} xargs -P4, small real items ${x(ratios.perlRealVsXargsP2)} xargs -P2`,
        `forked by the runner (PTASK_EXECUTOR=local, as before the slots): c1 ${x(ratios.localC1VsXargsP1)} xargs -P1, c4 ${x(ratios.localC4VsXargsP4)} xargs -P4, chain ${x(ratios.localChainVsMake)} make`,
      ],
    };
  } finally {
    ws.cleanup();
  }
}
