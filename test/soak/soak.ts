/**
 * `npm run soak`: the chaos soak of chaos.ts for SOAK_SECONDS (default 300) with SOAK_TASKS tasks
 * (default 20). SOAK_SEED repeats the choices of a run, SOAK_REPORT saves the summary as JSON,
 * SOAK_KEEP=1 keeps the workspace. Exits 1 when an invariant was violated.
 */
import * as fs from 'node:fs';
import { formatSummary, runSoak } from './chaos';

const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} should be a positive number, not ${JSON.stringify(raw)}`);
  return n;
};

async function main(): Promise<number> {
  const summary = await runSoak({
    seconds: num('SOAK_SECONDS', 300),
    tasks: num('SOAK_TASKS', 20),
    seed: process.env.SOAK_SEED ? num('SOAK_SEED', 1) : undefined,
    keep: process.env.SOAK_KEEP === '1',
    log: (line) => console.log(line),
  });
  console.log(formatSummary(summary));
  if (process.env.SOAK_REPORT) {
    fs.writeFileSync(process.env.SOAK_REPORT, JSON.stringify(summary, null, 2) + '\n');
    console.log(`Summary saved to ${process.env.SOAK_REPORT}`);
  }
  return summary.violations.length || !summary.allCompleted ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
