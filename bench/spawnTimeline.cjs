// Preloaded (node -r bench/spawnTimeline.cjs ...) into the runner or the baseline by the
// step-overhead benchmark, to say where a step's time goes: child_process.spawn() itself (fork +
// exec: its cost grows with the parent's memory), the child running until its exit, and from
// the end of one step (exit and stdout closed) to the next spawn() (the runner's own work between
// steps). Writes a JSON summary to $BENCH_SPAWN_TIMELINE at exit. Changes nothing else.
'use strict';
const childProcess = require('node:child_process');
const fs = require('node:fs');

const out = process.env.BENCH_SPAWN_TIMELINE;
const events = [];
const original = childProcess.spawn;
childProcess.spawn = function spawn(...args) {
  const e = { start: performance.now() };
  const child = original.apply(this, args);
  e.returned = performance.now();
  events.push(e);
  child.on('exit', () => (e.exit = performance.now()));
  if (child.stdout) child.stdout.on('close', () => (e.closed = performance.now()));
  return child;
};
require('node:module').syncBuiltinESMExports();

process.on('exit', () => {
  if (!out || events.length < 2) return;
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ended = (e) => Math.max(e.exit ?? e.returned, e.closed ?? 0);
  const done = events.filter((e) => e.exit !== undefined);
  const summary = {
    steps: events.length,
    spawnCallMs: mean(done.map((e) => e.returned - e.start)),
    childRunMs: mean(done.map((e) => ended(e) - e.returned)),
    betweenStepsMs: mean(events.slice(1).map((e, i) => e.start - ended(events[i]))),
    firstSpawnAtMs: events[0].start,
    afterLastStepMs: performance.now() - ended(events[events.length - 1]),
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
  fs.writeFileSync(out, JSON.stringify(summary));
});
