// The extension's benchmark, inside a real VS Code (run by bench/extension.ts, not by npm test):
// activation and first read of the tasks, how soon a state.json change shows in the tree, and
// how many refreshes a burst of state writes causes. Figures go to $PTASKS_BENCH_OUT.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { api, tasksDir, waitFor } from './helpers';

const TRIALS = Number(process.env.PTASKS_BENCH_TRIALS ?? 40);
const BURST = Number(process.env.PTASKS_BENCH_BURST ?? 1000);

function writeState(id: string, stepsDone: number): void {
  const file = path.join(tasksDir(), id, 'state.json');
  const state = JSON.parse(fs.readFileSync(file, 'utf8'));
  state.stepsDone = stepsDone;
  state.updatedAt = new Date().toISOString();
  // As the runner writes it: a temp file renamed over the old one.
  fs.writeFileSync(`${file}.bench.tmp`, JSON.stringify(state));
  fs.renameSync(`${file}.bench.tmp`, file);
}

describe('extension benchmark', function () {
  this.timeout(300_000);

  it('measures', async () => {
    const a = await api();
    const firstLoad = await a.timings.firstLoad;
    const store = a.stores()[0];
    const ids = [...store.tasks.values()].filter((v) => v.state).map((v) => v.id);
    const out: Record<string, unknown> = {
      tasks: store.tasks.size,
      loadMs: a.timings.loadMs,
      activateMs: a.timings.activateMs,
      activationMs: a.timings.loadMs + a.timings.activateMs,
      firstLoadMs: firstLoad - a.timings.activated,
    };
    if (ids.length) {
      await store.watching;
      await waitFor('the read after the watcher started', () => store.refreshes >= 2); // first read, then the reconciling one
      await a.tree.getChildren(); // the tree has been shown once, as in a window
      const latencies: number[] = [];
      for (let trial = 0; trial < TRIALS; trial++) {
        const id = ids[trial % ids.length];
        const node = a.tree.taskNode(store, id);
        const value = 1000 + trial;
        const seen = new Promise<number>((resolve) => {
          const sub = a.tree.onDidChangeTreeData((e) => {
            const nodes = Array.isArray(e) ? e : [e];
            if ((e === undefined || nodes.includes(node)) && store.tasks.get(id)?.state?.stepsDone === value) {
              sub.dispose();
              resolve(performance.now());
            }
          });
        });
        const t0 = performance.now();
        writeState(id, value);
        latencies.push((await seen) - t0);
      }
      out.latenciesMs = latencies;

      let fires = 0;
      const sub = a.tree.onDidChangeTreeData(() => fires++);
      const refreshesBefore = store.refreshes;
      const t0 = performance.now();
      for (let i = 0; i < BURST; i++) {
        writeState(ids[i % Math.min(ids.length, 50)], 2000 + i);
        // About one write a millisecond: the burst lasts about a second.
        const due = t0 + ((i + 1) * 1000) / BURST;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      const burstMs = performance.now() - t0;
      const last = ids[(BURST - 1) % Math.min(ids.length, 50)];
      const settleStart = performance.now();
      while (store.tasks.get(last)?.state?.stepsDone !== 2000 + BURST - 1 && performance.now() - settleStart < 5000) await new Promise((r) => setTimeout(r, 10));
      out.burst = { writes: BURST, burstMs, treeRefreshes: fires, storeRefreshes: store.refreshes - refreshesBefore, settledMs: performance.now() - settleStart };
      sub.dispose();
    }
    fs.writeFileSync(process.env.PTASKS_BENCH_OUT!, JSON.stringify(out, null, 2));
  });
});
