/**
 * `npm run bench`: builds, then runs every benchmark against dist/runner.js, prints a table,
 * writes bench/results/latest.json and rewrites the figures section of docs/benchmarks.md.
 * These are measurements, not tests: a missed target is reported, never an error exit.
 *
 *   BENCH_QUICK=1        a fast smoke run (fewer steps and trials); does not touch the docs
 *   BENCH_ONLY=a,b       only these (step-overhead, per-step-scaling, pause-latency, interrupt-latency, forEach, side-by-side, graph, slurm, extension, picture); does not touch the docs
 *   BENCH_WRITE_DOCS=1   rewrite the docs even so
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extension } from './extension';
import { forEach } from './forEach';
import { graph } from './graph';
import { interruptLatency } from './interruptLatency';
import { log, QUICK, REPO, RUNNER, type BenchResult } from './lib';
import { pauseLatency } from './pauseLatency';
import { picture } from './picture';
import { scaling } from './scaling';
import { sideBySide } from './sideBySide';
import { slurm } from './slurm';
import { stepOverhead } from './stepOverhead';

const BENCHMARKS: Record<string, () => Promise<BenchResult>> = {
  'step-overhead': stepOverhead,
  'per-step-scaling': scaling,
  'pause-latency': pauseLatency,
  'interrupt-latency': interruptLatency,
  forEach,
  'side-by-side': sideBySide,
  graph,
  slurm,
  extension,
  picture,
};

const DOCS = path.join(REPO, 'docs', 'benchmarks.md');
const START = '<!-- figures:start (written by `npm run bench`; edit the text outside these markers) -->';
const END = '<!-- figures:end -->';

function quiet(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function machine() {
  const cpus = os.cpus();
  const commit = quiet('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = quiet('git', ['status', '--porcelain', '--', 'src']);
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tmpdir: os.tmpdir(),
    // stat names ext4 by its magic number, shared with ext2 and ext3
    tmpdirFs: quiet('stat', ['-f', '-c', '%T', os.tmpdir()])?.replace('ext2/ext3', 'ext2/3/4') ?? 'unknown',
    commit: commit ? `${commit}${dirty ? ' + uncommitted changes in src/' : ''}` : 'unknown',
  };
}

function table(results: BenchResult[]): string {
  const rows = results.map((r) => [r.title, r.headline, r.target, r.met ? 'yes' : 'NO']);
  const head = ['benchmark', 'result', 'target', 'met'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function markdown(results: BenchResult[], info: ReturnType<typeof machine>, when: string, seconds: number): string {
  const lines = [
    `Measured ${when} in ${Math.round(seconds)} s${QUICK ? ' (BENCH_QUICK=1: a smoke run, not the figures of record)' : ''}, commit ${info.commit}, on ` +
      `${info.cpus} × ${info.cpuModel}, ${info.memoryGiB} GiB, ${info.os}, Node ${info.node}, temp folders on ${info.tmpdirFs}; ` +
      `load average ${info.loadAverageAtStart.join(' ')} at the start.`,
    '',
    '| benchmark | result | target | met |',
    '| --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.title} | ${r.headline} | ${r.target} | ${r.met ? 'yes' : '**no**'} |`),
    '',
    ...results.flatMap((r) => r.notes.map((n) => `- ${r.id}: ${n}`)),
  ];
  return lines.join('\n');
}

function writeDocs(figures: string): void {
  const text = fs.existsSync(DOCS) ? fs.readFileSync(DOCS, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  const next = a >= 0 && b > a ? `${text.slice(0, a + START.length)}\n${figures}\n${text.slice(b)}` : `${text.trimEnd()}\n\n## Figures\n\n${START}\n${figures}\n${END}\n`;
  fs.writeFileSync(DOCS, next);
}

async function main(): Promise<number> {
  if (!fs.existsSync(RUNNER)) {
    console.error(`bench: ${RUNNER} is missing: run 'npm run build' first (npm run bench does)`);
    return 1;
  }
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((n) => !BENCHMARKS[n]) ?? [];
  if (unknown.length) {
    console.error(`bench: unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
    return 64;
  }
  const info = machine();
  log(`${QUICK ? 'quick ' : ''}run on ${info.cpus} × ${info.cpuModel}, Node ${info.node}, ${info.tmpdir} (${info.tmpdirFs})`);
  const began = performance.now();
  const results: BenchResult[] = [];
  for (const [name, bench] of Object.entries(BENCHMARKS)) {
    if (only && !only.includes(name)) continue;
    const t0 = performance.now();
    log(`${name}…`);
    const load = os.loadavg()[0];
    const result = await bench();
    result.details.loadAverage1mBefore = Math.round(load * 100) / 100;
    results.push(result);
    log(`${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const seconds = (performance.now() - began) / 1000;
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  console.log(`\n${table(results)}\n`);
  for (const r of results) for (const n of r.notes) console.log(`${r.id}: ${n}`);

  const out = path.join(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'latest.json'), JSON.stringify({ when, seconds: Math.round(seconds), quick: QUICK, machine: info, results }, null, 2) + '\n');
  log(`wrote ${path.relative(REPO, path.join(out, 'latest.json'))}`);
  if ((!QUICK && !only) || process.env.BENCH_WRITE_DOCS === '1') {
    writeDocs(markdown(results, info, when, seconds));
    log(`rewrote the figures in ${path.relative(REPO, DOCS)}`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`bench: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  },
);
