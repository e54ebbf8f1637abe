// Preloaded (NODE_OPTIONS=--require) into a runner by the side-by-side benchmark: its own CPU time, written at exit.
const fs = require('node:fs');
process.on('exit', () => fs.writeFileSync(process.env.BENCH_CPU_FILE, JSON.stringify(process.cpuUsage())));
