/**
 * What every benchmark shares: temp workspaces, starting the built runner (dist/runner.js, the
 * `ptask` CLI) as its own process, writing control.json the way a controller does, watching
 * files for a condition, and summary statistics. The benchmarks only use the CLI and the file
 * formats of DESIGN.md, never the runner's modules, so they measure what a user gets.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..');
export const RUNNER = path.join(REPO, 'dist', 'runner.js');
/** The `ptask` command a user types (a shell script that starts node on RUNNER), run here with this node first on PATH. */
export const COMMAND = path.join(REPO, 'dist', 'ptask');
export const COMMAND_ENV: NodeJS.ProcessEnv = { PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
export const QUICK = process.env.BENCH_QUICK === '1';

/** Milliseconds since the epoch with sub-millisecond precision (comparable to `date +%s%N`). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- workspaces ------------------------------------------------------------------------------

export interface Workspace {
  root: string;
  tasksDir: string;
  /** A folder of the workspace outside .tasks, for the steps' own files. */
  scratch: string;
  runDir(id: string): string;
  cleanup(): void;
}

const workspaces = new Set<string>();
process.on('exit', () => {
  for (const dir of workspaces) fs.rmSync(dir, { recursive: true, force: true });
});

export function makeWorkspace(name: string): Workspace {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `ptask-bench-${name}-`));
  workspaces.add(root);
  const tasksDir = path.join(root, '.tasks');
  const scratch = path.join(root, 'scratch');
  fs.mkdirSync(tasksDir);
  fs.mkdirSync(scratch);
  return {
    root,
    tasksDir,
    scratch,
    runDir: (id) => path.join(tasksDir, id),
    cleanup: () => {
      fs.rmSync(root, { recursive: true, force: true });
      workspaces.delete(root);
    },
  };
}

export interface StepDef {
  id: string;
  run: string;
}

export function writeTask(ws: Workspace, id: string, steps: StepDef[], name = `bench ${id}`): void {
  fs.writeFileSync(path.join(ws.tasksDir, `${id}.json`), JSON.stringify({ name, steps }, null, 2));
}

export const steps = (count: number, run: string, prefix = 's'): StepDef[] => Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i + 1}`, run }));

// ---- processes -------------------------------------------------------------------------------

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** now() when the process was seen to exit. */
  at: number;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  /** now() just before spawn. */
  at: number;
  exited: Promise<Exited>;
}

/** Start a process (stdout discarded, stderr kept for error messages); `exited` resolves at its exit. */
export function start(command: string, args: string[], cwd = REPO, env?: NodeJS.ProcessEnv): Started {
  const at = now();
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: env && { ...process.env, ...env } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString('utf8');
  });
  const exited = new Promise<Exited>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, at: now(), stderr }));
  });
  return { child, at, exited };
}

/** `ptask <command> <id> --root <workspace>` in the foreground, as a child process of the bench. */
export function startRunner(ws: Workspace, command: 'run' | 'resume', id: string, extra: string[] = []): Started {
  return start(process.execPath, [RUNNER, command, id, '--root', ws.root, ...extra], ws.root);
}

/** Wall time of a whole process, from spawn to exit; throws unless it exits with `expectCode`. */
export async function timeProcess(command: string, args: string[], expectCode = 0, cwd = REPO, env?: NodeJS.ProcessEnv): Promise<number> {
  const p = start(command, args, cwd, env);
  const end = await p.exited;
  if (end.code !== expectCode) throw new Error(`${path.basename(args[0] ?? command)} ${args.slice(1).join(' ')}: exit ${end.code ?? end.signal}, expected ${expectCode}\n${end.stderr}`);
  return end.at - p.at;
}

export async function expectExit(p: Started, code: number, what: string): Promise<Exited> {
  const end = await p.exited;
  if (end.code !== code) throw new Error(`${what}: the runner exited with ${end.code ?? end.signal}, expected ${code}\n${end.stderr}`);
  return end;
}

// ---- task files ------------------------------------------------------------------------------

/** JSON of a file, or undefined while it is missing or (never expected: writes are atomic) unparsable. */
export function readJson<T = any>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export interface StateFile {
  status: string;
  appliedSeq: number;
  stepsDone: number;
  currentStep: { id: string; index: number; startedAt: string; pid?: number; items?: { done: number; total: number } } | null;
  stoppedIn?: { id: string; items?: { done: number; total: number } };
  pid?: number;
  adopted?: { running: number; ended: number };
  slurm?: { jobId: string; step: string; pending: number; running: number; held: number }[];
}

export interface CompletedStep {
  id: string;
  index: number;
  startedAt: string;
  endedAt: string;
  durationMs: number;
}

export interface CheckpointFile {
  reason: string;
  writtenAt: string;
  journalSeq: number;
  completed: CompletedStep[];
  unfinished: (CompletedStep & { outcome: string }) | null;
}

export const readState = (ws: Workspace, id: string) => readJson<StateFile>(path.join(ws.runDir(id), 'state.json'));
export const readCheckpoint = (ws: Workspace, id: string) => readJson<CheckpointFile>(path.join(ws.runDir(id), 'checkpoint.json'));

/**
 * Write the task's control.json as `ptask pause|interrupt` does (src/cli/controller.ts
 * requestState): seq = max(current seq, applied seq) + 1, temp file, fsync, rename, fsync the
 * folder. Returns the seq and `at`, the moment of the rename (when a reader can first see it).
 * The folder's fsync runs on the thread pool: it is the controller's cost, not the runner's, and
 * done synchronously it would stall the bench's own polling (it can take a second or more
 * while the disk flushes what earlier benchmarks wrote).
 */
export function writeControl(ws: Workspace, id: string, desired: 'running' | 'paused' | 'interrupted'): { seq: number; at: number; synced: Promise<void> } {
  const dir = ws.runDir(id);
  const file = path.join(dir, 'control.json');
  const seq = Math.max(readJson<{ seq: number }>(file)?.seq ?? 0, readState(ws, id)?.appliedSeq ?? 0) + 1;
  const text = JSON.stringify({ v: 1, seq, desired, requestedAt: new Date().toISOString(), requestedBy: 'bench' }, null, 2) + '\n';
  const tmp = `${file}.${process.pid}.bench.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  fs.writeFileSync(fd, text);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const at = now();
  fs.renameSync(tmp, file);
  const synced = fs.promises.open(dir, 'r').then(async (handle) => {
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
  return { seq, at, synced };
}

/** Is any process of the group left? Zombies count: this is "gone and reaped". */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Fields of /proc/<pid>/stat: state and process group (Linux only); undefined when it is gone. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

export const HAS_PROC = process.platform === 'linux' && fs.existsSync('/proc/self/stat');

/** The pids in a process group now (Linux: from /proc). */
export function groupMembers(pgid: number): number[] {
  if (!HAS_PROC) return [];
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => procStat(pid)?.pgrp === pgid);
}

/**
 * Have these processes all exited? A zombie has: it is dead and holds nothing but its pid until
 * its parent reaps it. Orphans are reaped by PID 1, which some inits (this VM's, containers
 * without one) do late or never, so "exited" and "reaped" are told apart.
 */
export function allExited(pids: number[]): boolean {
  return pids.every((pid) => {
    const st = procStat(pid);
    return st === undefined || st.state === 'Z' || st.state === 'X';
  });
}

// ---- waiting ---------------------------------------------------------------------------------

export interface Seen<T> {
  value: T;
  /** now() just before the check that first saw the condition: the condition held by then. */
  at: number;
  /** Time since the check before it: the condition became true somewhere in this gap. */
  gapMs: number;
}

/**
 * Resolve when `check` returns a value: checked every `intervalMs` (1 ms: a timer tick) and at
 * once on every fs.watch event in `watchDir`. Rejects after `timeoutMs`.
 */
export function waitFor<T>(check: () => T | undefined, opts: { timeoutMs: number; intervalMs?: number; watchDir?: string; what: string }): Promise<Seen<T>> {
  const interval = opts.intervalMs ?? 1;
  const deadline = now() + opts.timeoutMs;
  return new Promise((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let watcher: fs.FSWatcher | undefined;
    const end = () => {
      done = true;
      clearTimeout(timer);
      watcher?.close();
    };
    let previous = now();
    const probe = () => {
      if (done) return;
      const at = now();
      const gapMs = at - previous;
      previous = at;
      let value: T | undefined;
      try {
        value = check();
      } catch (err) {
        end();
        reject(err as Error);
        return;
      }
      if (value !== undefined) {
        end();
        resolve({ value, at, gapMs });
      } else if (at > deadline) {
        end();
        reject(new Error(`timed out after ${opts.timeoutMs}ms waiting for ${opts.what}`));
      }
    };
    if (opts.watchDir) {
      try {
        watcher = fs.watch(opts.watchDir, { persistent: false }, probe);
        watcher.on('error', () => watcher?.close());
      } catch {
        // polling alone
      }
    }
    const loop = () => {
      probe();
      if (!done) timer = setTimeout(loop, interval);
    };
    loop();
  });
}

// ---- statistics ------------------------------------------------------------------------------

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile (p99 of 50 samples is the largest). */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export interface Distribution {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function distribution(xs: number[]): Distribution {
  return { n: xs.length, min: round(Math.min(...xs)), p50: round(percentile(xs, 50)), p90: round(percentile(xs, 90)), p99: round(percentile(xs, 99)), max: round(Math.max(...xs)), mean: round(mean(xs)) };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Uniform in [lo, hi). */
export const between = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

// ---- results ---------------------------------------------------------------------------------

export interface BenchResult {
  id: string;
  title: string;
  /** The figure the target is about, e.g. "ratio 1.31x" or "p99 12.4 ms". */
  headline: string;
  target: string;
  met: boolean;
  /** Everything else worth keeping: medians, distributions, windows. */
  details: Record<string, unknown>;
  /** Extra lines for the console and the docs. */
  notes: string[];
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** The step's own end time: `date +%s%N` where it has nanoseconds (GNU), else node. */
export function endStampCommand(file: string): string {
  return GNU_DATE ? `date +%s%N > "${file}"` : `node -e "require('fs').writeFileSync(process.argv[1], String(BigInt(Date.now()) * 1000000n))" "${file}"`;
}

const GNU_DATE = (() => {
  try {
    return /^\d{19}$/.test(execFileSync('date', ['+%s%N'], { encoding: 'utf8' }).trim());
  } catch {
    return false;
  }
})();

/** A time written by endStampCommand, in ms since the epoch. */
export function readStamp(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(BigInt(text) / 1000n) / 1000 : undefined;
  } catch {
    return undefined;
  }
}
