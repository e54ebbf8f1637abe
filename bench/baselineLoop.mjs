// The baseline of the step-overhead benchmark: the least a runner of N shell steps must do.
// A plain Node process that spawns the same command N times, one after another, the way the
// runner does (src/runner/stepProcess.ts): /bin/sh -c, its own process group, stdout and stderr
// through pipes into a log; the next starts when the previous has exited and both pipes have
// closed. No checkpoints, no control. With a concurrency above 1, that many such loops share the
// count: the least a runner of a forEach step with that concurrency must do.
//
//   node bench/baselineLoop.mjs <count> <log file> [command, default "true"] [concurrency, default 1]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const [countArg, logFile, command = 'true', concurrencyArg = '1'] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
if (!Number.isInteger(count) || count < 1 || !logFile || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('usage: node bench/baselineLoop.mjs <count> <log file> [command] [concurrency]');
  process.exit(64);
}

const logFd = fs.openSync(logFile, 'a');
let started = 0;
const loop = async () => {
  while (started < count) await runOne(started++);
};
await Promise.all(Array.from({ length: concurrency }, loop));
fs.closeSync(logFd);

async function runOne(i) {
  const code = await new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let exitCode;
    let open = 3;
    const done = () => {
      if (--open === 0) resolve(exitCode);
    };
    child.on('error', reject);
    child.stdout.on('data', (chunk) => fs.writeSync(logFd, chunk));
    child.stderr.on('data', (chunk) => fs.writeSync(logFd, chunk));
    child.stdout.on('close', done);
    child.stderr.on('close', done);
    child.on('exit', (c) => {
      exitCode = c;
      done();
    });
  });
  if (code !== 0) {
    console.error(`step ${i + 1}: exit code ${code}`);
    process.exit(1);
  }
}
