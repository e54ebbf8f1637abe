/**
 * A chaos soak: many tasks in one workspace, random requests through the real CLI (run, resume,
 * pause, interrupt, pause-all, resume-all, reset, run --fresh, several resumes of one task at once,
 * kill -9 of runners), while a sampler checks the invariants every ~150 ms:
 *
 * - at most one runner runs a task: one lock holder, and only it has step processes;
 * - a step or item never runs twice at once (an orphan of a killed runner is stopped first);
 * - every checkpoint reads (loadCheckpoint), and its progress never goes backwards within a run;
 * - work recorded as done in a checkpoint never runs again (its marks stop growing);
 * - every step and item recorded as done had run (it has a mark);
 * - re-runs of unrecorded work stay within what the kills and interrupts explain;
 * - once the chaos stops, every task completes, and no runner or step process is left (nor any
 *   process a step left behind: the "bulky" tasks' steps start a `setsid` daemon that holds their
 *   output, which the runner must stop, and hand a 200 KB output to the next step);
 * - foreground runners whose terminal hangs up pause; run folders deleted and run again start over.
 *
 * Every step and item appends "<task> <step> <item|-> <runId> <runnerPid>" to marks.txt when its
 * work is done, just before it exits: what ran, how often, in which run.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/protocol/checkpoint';
import { readJsonSync } from '../../src/protocol/jsonFile';
import { readRunnerLock } from '../../src/protocol/lock';
import { taskPaths, type TaskPaths } from '../../src/protocol/paths';
import { processStartTime } from '../../src/protocol/processInfo';
import { checkpointSchema, stateSchema, type RunnerLock } from '../../src/protocol/schemas';
import { readTaskView, type TaskView } from '../../src/protocol/taskView';
import { ACTIVE_STATES } from '../../src/protocol/transitions';

export const RUNNER = path.resolve(__dirname, '../../dist/runner.js');
/** script(1), from util-linux: a terminal for a foreground runner, that can go away. */
const hasScript = spawnSync('script', ['--version']).status === 0;

export interface SoakOptions {
  /** How long the chaos lasts; the drain (everything completes) comes after. */
  seconds: number;
  tasks?: number;
  seed?: number;
  /** Invariant sampling interval. */
  sampleMs?: number;
  /** Deadline for every task to complete once the chaos stops. */
  drainSeconds?: number;
  /** Controller processes in flight at once (a concurrent resume burst may add a few). */
  maxInFlight?: number;
  /** Keep the workspace (it is always kept when an invariant was violated). */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface Violation {
  /** Seconds since the soak started. */
  at: number;
  what: string;
  task?: string;
  detail: string;
}

export interface SoakSummary {
  seed: number;
  tasks: number;
  workspace: string;
  seconds: { chaos: number; drain: number; total: number };
  /** Requests through the CLI, by command, and kill -9 of runners. */
  operations: Record<string, number>;
  /** Operations made together: several resumes at once, a pause then a kill, ... (their parts count above). */
  scenarios: Record<string, number>;
  /** Exit codes of the CLI by operation: "resume": { "0": 120, "64": 3 }. */
  exitCodes: Record<string, Record<string, number>>;
  kills: number;
  /** Distinct runner pids that took a task (state.json, runner.lock, the controllers' output). */
  runnerStarts: number;
  /** Distinct runner processes seen alive in /proc, the ones that lost the lock race included. */
  runnerProcessesSeen: number;
  /** Runs (task, run id) that reached completed. */
  completions: number;
  /** Completed runs of each task, least and most: a completed task starts its next lap (reset and run, or run again). */
  laps: { min: number; max: number };
  marks: number;
  /** Marks beyond one a step or item and run: work in flight at a kill or an interrupt, run again. */
  reruns: { extra: number; allowed: number };
  samples: number;
  /** The longest and the mean time a sample took (ms): the interval between checks is sampleMs plus this. */
  sampleCostMs: { mean: number; max: number };
  /** loadCheckpoint retried because a snapshot replaced checkpoint.json during the read. */
  checkpointReadRetries: number;
  /** ...of which the read failed (the journal no longer followed the snapshot read). */
  checkpointReadRaces: number;
  allCompleted: boolean;
  violations: Violation[];
  notes: string[];
}

// ---- the workspace -------------------------------------------------------------------------------

interface TaskPlan {
  id: string;
  kind: string;
  def: object;
  /** Every mark key of a run: "<step> <item|->". */
  keys: string[];
  /** The most processes of one step at once: what one kill may leave to run again. */
  concurrency: number;
}

const SCRIPTS: Record<string, string> = {
  // A long step (or item) of <count> units of <seconds>: its progress in TASK_STEP_STATE; with a
  // pause pending it saves and exits 75 (paused in the middle). units.sh <count> <seconds> <runnerPid>
  'units.sh': `n=$(cat "$TASK_STEP_STATE" 2>/dev/null || true)
[ -n "$n" ] || n=0
while [ "$n" -lt "$1" ]; do
  sleep "$2"
  n=$((n + 1))
  echo "$n" > "$TASK_STEP_STATE.tmp" && mv "$TASK_STEP_STATE.tmp" "$TASK_STEP_STATE"
  if [ "$n" -lt "$1" ] && [ -e "$TASK_PAUSE_REQUESTED" ]; then exit 75; fi
done
echo "$TASK_ID $TASK_STEP_ID \${ITEM_INDEX:--} $TASK_RUN_ID $3" >> "$MARKS"
`,
  // Fails with a rate limit the first time it runs in a run (pauseOn pauses the task), then works.
  // limited.sh <runnerPid>
  'limited.sh': `flag="$FLAGS/$TASK_ID.$TASK_RUN_ID.$TASK_STEP_ID.\${ITEM_INDEX:--}"
if [ ! -e "$flag" ]; then : > "$flag"; echo "HTTP 429 Too Many Requests" >&2; exit 1; fi
sleep 0.2
echo "$TASK_ID $TASK_STEP_ID \${ITEM_INDEX:--} $TASK_RUN_ID $1" >> "$MARKS"
`,
};

/** The mark a step's shell appends; $PPID of `sh -c` is the runner. */
const MARK = `echo "$TASK_ID $TASK_STEP_ID \${ITEM_INDEX:--} $TASK_RUN_ID $PPID" >> "$MARKS"`;

function plans(count: number, rand: () => number): TaskPlan[] {
  const pick = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const secs = (lo: number, hi: number) => (lo + rand() * (hi - lo)).toFixed(2);
  const out: TaskPlan[] = [];
  for (let i = 0; i < count; i++) {
    const kind = ['chain', 'slow', 'swarm', 'units', 'limited', 'bulky'][i % 6];
    const id = `${kind}-${String(i).padStart(2, '0')}`;
    const steps: Array<Record<string, unknown>> = [];
    let pauseOn: object | undefined;
    const plain = (sid: string, run: string) => steps.push({ id: sid, run });
    const each = (sid: string, n: number, concurrency: number, run: string) =>
      steps.push({ id: sid, run, forEach: { items: Array.from({ length: n }, (_, k) => `${sid}-${k}`) }, concurrency });
    switch (kind) {
      case 'chain':
        for (let s = 1; s <= pick(6, 10); s++) plain(`c${s}`, `sleep ${secs(0.05, 0.8)}; ${MARK}`);
        break;
      case 'slow':
        for (let s = 1; s <= pick(3, 4); s++) plain(`w${s}`, `for i in 1 2 3 4; do sleep ${secs(0.3, 0.8)}; echo "::progress $i/4"; done; ${MARK}`);
        // Looks at TASK_PAUSE_REQUESTED: a pause of the steps above must not reach it after a resume.
        plain('settle', `sh "$SCRIPTS/units.sh" 5 0.1 $PPID`);
        break;
      case 'swarm':
        plain('prep', `sleep 0.1; ${MARK}`);
        each('fan', pick(20, 60), pick(1, 4), `sleep ${secs(0.05, 0.5)}; ${MARK}`);
        plain('sum', MARK);
        break;
      case 'units':
        plain('long', `sh "$SCRIPTS/units.sh" ${pick(30, 60)} 0.1 $PPID`);
        each('parts', pick(4, 8), 2, `sh "$SCRIPTS/units.sh" ${pick(5, 10)} 0.1 $PPID`);
        plain('tail', MARK);
        break;
      case 'bulky':
        // A daemon that holds the step's output (stopped by the runner once the shell exits), and
        // an output too big for the environment: the next step reads it from TASK_OUTPUTS.
        plain('make', `SOAK_DAEMON=1 setsid sleep 600 & printf '{"big":"%s"}' "$(head -c 200000 /dev/zero | tr '\\0' x)" > "$TASK_STEP_OUTPUT"; ${MARK}`);
        plain('use', `[ -z "$TASK_OUTPUT_MAKE_BIG" ] && [ "$(wc -c < "$TASK_OUTPUTS")" -gt 200000 ] || exit 9; sleep ${secs(0.1, 0.5)}; ${MARK}`);
        plain('end', `sleep ${secs(0.1, 0.5)}; ${MARK}`);
        break;
      case 'limited':
        // maxAttempts is generous: a kill -9 while waiting counts as an automatic resume too.
        pauseOn = { outputMatches: ['429'], autoResume: { after: '300ms', backoff: 2, maxAttempts: 50 } };
        plain('call', 'sh "$SCRIPTS/limited.sh" $PPID');
        each('batch', pick(8, 16), 3, 'sh "$SCRIPTS/limited.sh" $PPID');
        plain('done', MARK);
        break;
    }
    const keys: string[] = [];
    let concurrency = 1;
    for (const step of steps) {
      const items = (step.forEach as { items: string[] } | undefined)?.items;
      if (!items) keys.push(`${step.id} -`);
      else {
        items.forEach((_, k) => keys.push(`${step.id} ${k}`));
        concurrency = Math.max(concurrency, step.concurrency as number);
      }
    }
    out.push({ id, kind, keys, concurrency, def: { name: `soak ${kind} ${i}`, steps, ...(pauseOn ? { pauseOn } : {}) } });
  }
  return out;
}

// ---- processes -----------------------------------------------------------------------------------

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  /** A detached runner (`runner.js __runner <mode> <id> --root <root>`): its task. */
  runnerOf?: string;
  /** A step process of this workspace: its task, step and item. */
  step?: { task: string; step: string; item: string; runId: string };
  /** Its environment names this workspace (a step, or anything a step started). */
  inWorkspace: boolean;
}

function statOf(pid: number): { state: string; ppid: number; pgid: number; startTime: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 20);
    return { state: f[0], ppid: Number(f[1]), pgid: Number(f[2]), startTime: f[19] };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  const s = statOf(pid);
  return s !== undefined && s.state !== 'Z';
}

type EnvInfo = Pick<Proc, 'step' | 'inWorkspace'>;

/**
 * The live processes that matter to the soak: runners of this workspace and processes of its steps.
 * What a process's environment says is kept by pid and start time (`envCache`): an environment
 * does not change, and reading every one each sample would cost more than the checks.
 */
function scanProcesses(root: string, envCache = new Map<string, EnvInfo>()): Proc[] {
  const needle = Buffer.from(root);
  const out: Proc[] = [];
  const seen = new Set<string>();
  for (const name of fs.readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57 || Number(name) === process.pid) continue;
    const pid = Number(name);
    const st = statOf(pid);
    if (!st || st.state === 'Z') continue;
    const cacheKey = `${pid}:${st.startTime}`;
    seen.add(cacheKey);
    let argv: string[];
    let info = envCache.get(cacheKey);
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!info) info = envInfo(fs.readFileSync(`/proc/${pid}/environ`), needle, root);
    } catch {
      continue; // gone, or not ours
    }
    // A child that a runner or controller forked and that has not exec'd yet looks like its parent.
    if (argv[1] !== RUNNER) envCache.set(cacheKey, info);
    const proc: Proc = { pid, ppid: st.ppid, pgid: st.pgid, ...info };
    if (argv[1] === RUNNER && argv[2] === '__runner' && argv[argv.indexOf('--root') + 1] === root) proc.runnerOf = argv[4];
    if (proc.runnerOf || proc.inWorkspace) out.push(proc);
  }
  for (const key of envCache.keys()) if (!seen.has(key)) envCache.delete(key);
  // A runner's child caught between fork and exec has its parent's command line: not a runner.
  const runnerPids = new Set(out.filter((p) => p.runnerOf).map((p) => p.pid));
  for (const p of out) if (p.runnerOf && runnerPids.has(p.ppid)) delete p.runnerOf;
  return out;
}

const DAEMON = Buffer.from('SOAK_DAEMON=1');

function envInfo(environ: Buffer, needle: Buffer, root: string): EnvInfo {
  if (!environ.includes(needle)) return { inWorkspace: false };
  const env = new Map<string, string>();
  for (const entry of environ.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0 && (entry.startsWith('TASK_') || entry.startsWith('ITEM_'))) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  const task = env.get('TASK_ID');
  // A daemon a step started: not the step (it must be gone once the step ends, which the end checks).
  if (!task || !env.get('TASK_PAUSE_REQUESTED')?.startsWith(root) || environ.includes(DAEMON)) return { inWorkspace: true };
  return { inWorkspace: true, step: { task, step: env.get('TASK_STEP_ID') ?? '?', item: env.get('ITEM_INDEX') ?? '-', runId: env.get('TASK_RUN_ID') ?? '?' } };
}

// ---- the soak ------------------------------------------------------------------------------------

/** A small, seedable PRNG (mulberry32): the same seed makes the same choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The chaos's own pace and the sampler's interval: time is the workload there, not a wait for anything. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wait for a condition, polling; false when the deadline passed first. */
async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Exit codes each request may end with while other requests race it (DESIGN.md section 4). */
const EXPECTED_CODES: Record<string, number[]> = {
  run: [0, 2, 3, 4, 64],
  fresh: [0, 2, 3, 4, 64],
  resume: [0, 2, 3, 4, 64],
  pause: [0, 64],
  interrupt: [0, 64],
  // 1: a task it could not pause or resume, named (a runner killed meanwhile, as the chaos does).
  'pause-all': [0, 1],
  'resume-all': [0, 1],
  reset: [0, 3, 64],
};

interface TaskTrack {
  plan: TaskPlan;
  paths: TaskPaths;
  /** Stat of checkpoint.json and journal.jsonl at the last read: unchanged means nothing to read. */
  lastStamp: string;
  /** Per run id: the keys recorded as done, with how many marks they had then. */
  frozen: Map<string, Map<string, number>>;
  /** Kills and interrupts that could leave work done but not recorded. */
  disruptions: number;
  completedRuns: Set<string>;
  /** A runner that does not hold the lock: since when it was seen alive. */
  strayRunners: Map<number, number>;
  /** Since when the checkpoint shows less done than it did (Date.now()). */
  backwardsSince?: number;
}

export async function runSoak(opts: SoakOptions): Promise<SoakSummary> {
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const log = opts.log ?? (() => {});
  const sampleMs = opts.sampleMs ?? 150;
  const maxInFlight = opts.maxInFlight ?? 6;
  const t0 = Date.now();
  const at = () => Math.round((Date.now() - t0) / 100) / 10;

  if (!fs.existsSync(RUNNER)) throw new Error(`${RUNNER} is missing: run 'npm run build' first`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-soak-'));
  const tasksDir = path.join(root, '.tasks');
  const marksFile = path.join(root, 'marks.txt');
  fs.mkdirSync(tasksDir);
  fs.mkdirSync(path.join(root, 'scripts'));
  fs.mkdirSync(path.join(root, 'flags'));
  fs.writeFileSync(marksFile, '');
  for (const [name, text] of Object.entries(SCRIPTS)) fs.writeFileSync(path.join(root, 'scripts', name), text);
  const taskPlans = plans(opts.tasks ?? 20, rand);
  const tracks = new Map<string, TaskTrack>();
  for (const plan of taskPlans) {
    const def = { ...plan.def, env: { MARKS: marksFile, SCRIPTS: path.join(root, 'scripts'), FLAGS: path.join(root, 'flags') } };
    fs.writeFileSync(path.join(tasksDir, `${plan.id}.json`), JSON.stringify(def, null, 2));
    tracks.set(plan.id, { plan, paths: taskPaths(tasksDir, plan.id), lastStamp: '', frozen: new Map(), disruptions: 0, completedRuns: new Set(), strayRunners: new Map() });
  }
  log(`soak: seed ${seed}, ${taskPlans.length} tasks in ${root}, ${opts.seconds}s of chaos`);

  const summary: SoakSummary = {
    seed,
    tasks: taskPlans.length,
    workspace: root,
    seconds: { chaos: 0, drain: 0, total: 0 },
    operations: {},
    scenarios: {},
    exitCodes: {},
    kills: 0,
    runnerStarts: 0,
    runnerProcessesSeen: 0,
    completions: 0,
    laps: { min: 0, max: 0 },
    marks: 0,
    reruns: { extra: 0, allowed: 0 },
    samples: 0,
    sampleCostMs: { mean: 0, max: 0 },
    checkpointReadRetries: 0,
    checkpointReadRaces: 0,
    allCompleted: false,
    violations: [],
    notes: [],
  };
  const reported = new Set<string>();
  const violate = (what: string, task: string | undefined, detail: string) => {
    const key = `${what}|${task}|${detail}`;
    if (reported.has(key)) return;
    reported.add(key);
    summary.violations.push({ at: at(), what, task, detail });
    log(`VIOLATION at ${at()}s: ${what}${task ? ` [${task}]` : ''}: ${detail}`);
  };
  const note = (text: string) => {
    if (summary.notes.length < 200) summary.notes.push(`${at()}s ${text}`);
  };
  const runnerPids = new Set<number>();
  const runnerProcs = new Set<number>();

  // ---- marks: read as they are appended --------------------------------------------------------
  const counts = new Map<string, number>(); // "<task> <step> <item> <runId>" → marks
  let marksOffset = 0;
  let marksRest = '';
  const readMarks = () => {
    const fd = fs.openSync(marksFile, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= marksOffset) return;
      const buf = Buffer.alloc(size - marksOffset);
      fs.readSync(fd, buf, 0, buf.length, marksOffset);
      marksOffset = size;
      const lines = (marksRest + buf.toString('utf8')).split('\n');
      marksRest = lines.pop() ?? '';
      for (const line of lines) {
        const [task, step, item, runId, pid] = line.split(' ');
        if (!runId) continue;
        const key = `${task} ${step} ${item} ${runId}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        summary.marks++;
        if (Number(pid) > 1) runnerPids.add(Number(pid));
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  const marksOf = (task: string, key: string, runId: string) => counts.get(`${task} ${key} ${runId}`) ?? 0;

  // ---- checkpoints -----------------------------------------------------------------------------
  const stamp = (file: string) => {
    const s = fs.statSync(file, { throwIfNoEntry: false });
    return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '-';
  };
  /**
   * loadCheckpoint, read again when a snapshot replaced checkpoint.json meanwhile: it reads the
   * snapshot, then the journal, which a newer snapshot truncates (see docs/reliability.md).
   */
  const readCheckpoint = (track: TaskTrack): { loaded?: LoadedCheckpoint; missing?: boolean; error?: string } => {
    for (let attempt = 0; ; attempt++) {
      const before = stamp(track.paths.checkpoint);
      const read = loadCheckpoint(track.paths);
      if (stamp(track.paths.checkpoint) === before || attempt >= 20) {
        if (read.ok) return { loaded: read.value };
        if (read.error.code === 'missing') return { missing: true };
        return { error: read.error.message };
      }
      summary.checkpointReadRetries++;
      if (!read.ok && read.error.code !== 'missing') {
        summary.checkpointReadRaces++;
        note(`${track.plan.id}: loadCheckpoint failed while a snapshot replaced checkpoint.json: ${read.error.message}`);
      }
    }
  };
  /** The keys a checkpoint records as done. */
  const doneKeys = (track: TaskTrack, loaded: LoadedCheckpoint): string[] => {
    const keys: string[] = [];
    const def = track.plan.def as { steps: Array<{ id: string; forEach?: { items: string[] } }> };
    for (const done of loaded.checkpoint.completed) {
      const step = def.steps.find((s) => s.id === done.id);
      if (step?.forEach) step.forEach.items.forEach((_, k) => keys.push(`${done.id} ${k}`));
      else keys.push(`${done.id} -`);
    }
    const batch = loaded.batch;
    if (batch) for (let k = 0; k < batch.total; k++) if (batch.isDone(k)) keys.push(`${batch.stepId} ${k}`);
    return keys;
  };

  const checkCheckpoint = (track: TaskTrack) => {
    const id = track.plan.id;
    const now = `${stamp(track.paths.checkpoint)}|${stamp(track.paths.journal)}`;
    if (now === track.lastStamp) return;
    const read = readCheckpoint(track);
    if (read.error) {
      violate('checkpoint does not load', id, read.error);
      return;
    }
    if (!read.loaded) {
      track.lastStamp = now;
      return;
    }
    const { checkpoint } = read.loaded;
    const runId = checkpoint.runId;
    let frozen = track.frozen.get(runId);
    if (!frozen) track.frozen.set(runId, (frozen = new Map()));
    const done = new Set(doneKeys(track, read.loaded));
    const undone = [...frozen.keys()].filter((key) => !done.has(key));
    if (undone.length) {
      // A run starting over (run --fresh) removes the journal just before its first snapshot: the
      // old snapshot alone shows less for a moment. Progress lost for good stays lost.
      track.backwardsSince ??= Date.now();
      if (Date.now() - track.backwardsSince < 2000) return;
      for (const key of undone) violate('recorded progress went backwards', id, `run ${runId.slice(0, 8)}: ${key} was done, now is not`);
    }
    track.backwardsSince = undefined;
    track.lastStamp = now;
    // Marks are read after the checkpoint: a mark comes before its commit, so none is missed.
    readMarks();
    for (const key of done) {
      if (frozen.has(key)) continue;
      const n = marksOf(id, key, runId);
      if (n === 0) violate('recorded as done but never ran', id, `run ${runId.slice(0, 8)}: ${key}`);
      frozen.set(key, n);
    }
  };

  /** Marks of work recorded as done must not grow. */
  const checkFrozen = () => {
    readMarks();
    for (const track of tracks.values())
      for (const [runId, frozen] of track.frozen)
        for (const [key, n] of frozen) {
          const now = marksOf(track.plan.id, key, runId);
          if (now > n) {
            violate('work recorded as done ran again', track.plan.id, `run ${runId.slice(0, 8)}: ${key} had ${n} mark(s) when recorded done, now ${now}`);
            frozen.set(key, now);
          }
        }
  };

  // ---- runners and step processes -------------------------------------------------------------
  const envCache = new Map<string, EnvInfo>();
  const checkProcesses = () => {
    const lockBefore = new Map<string, RunnerLock | undefined>();
    for (const track of tracks.values()) lockBefore.set(track.plan.id, readRunnerLock(track.paths.lock));
    const procs = scanProcesses(root, envCache);
    const byPid = new Map(procs.map((p) => [p.pid, p]));
    // Still alive after the scan, which takes a while: a member seen in it is, and is no zombie (this
    // VM's init reaps orphans late). Two groups seen at different moments of the scan are not "at once".
    const groupLive = (pgid: number) => procs.some((p) => p.pgid === pgid && alive(p.pid));
    for (const track of tracks.values()) {
      const id = track.plan.id;
      const lock = readRunnerLock(track.paths.lock);
      const before = lockBefore.get(id);
      const stableLock = JSON.stringify(lock) === JSON.stringify(before) ? lock : undefined;
      const runners = procs.filter((p) => p.runnerOf === id);
      for (const r of runners) runnerProcs.add(r.pid);
      // Step groups whose leader (the step's shell) is a child of a runner of this task.
      const owners = new Map<number, number[]>(); // runner pid → its step groups
      const groups = new Map<string, Set<number>>(); // "<step> <item>" → live groups
      for (const p of procs) {
        if (p.step?.task !== id) continue;
        const key = `${p.step.step} ${p.step.item}`;
        if (!groups.has(key)) groups.set(key, new Set());
        groups.get(key)!.add(p.pgid);
        const parent = byPid.get(p.ppid);
        if (p.pid === p.pgid && parent?.runnerOf === id) owners.set(parent.pid, [...(owners.get(parent.pid) ?? []), p.pgid]);
      }
      // Confirmed after the scan: a group that ended during it is not counted.
      const ownersNow = [...owners].filter(([pid, pgids]) => alive(pid) && pgids.some(groupLive));
      if (ownersNow.length > 1)
        violate('two runners run steps of one task', id, `runners ${ownersNow.map(([pid, g]) => `${pid} (groups ${g.join(',')})`).join(' and ')}; lock: ${lock?.pid}`);
      if (stableLock)
        for (const [pid] of ownersNow)
          if (pid !== stableLock.pid) violate('a runner that does not hold the lock runs steps', id, `runner ${pid} runs steps, runner.lock names ${stableLock.pid} (${stableLock.purpose})`);
      // A new run has started: a step of an earlier run (left by a killed runner) must be gone by now.
      const state = readJsonSync(track.paths.state, stateSchema);
      if (state.ok && ACTIVE_STATES.has(state.value.status) && alive(state.value.pid)) {
        const runId = state.value.runId;
        for (const p of procs)
          if (p.step?.task === id && p.pid === p.pgid && p.step.runId !== runId && groupLive(p.pgid))
            violate('a step of an earlier run runs beside the new run', id, `${p.step.step} ${p.step.item} of run ${p.step.runId.slice(0, 8)} (group ${p.pgid}) while run ${runId.slice(0, 8)} runs (runner ${state.value.pid})`);
      }
      for (const [key, pgids] of groups) {
        const live = [...pgids].filter(groupLive);
        if (live.length > 1) {
          const who = live.map((g) => {
            const leader = byPid.get(g);
            return `group ${g} (run ${leader?.step?.runId.slice(0, 8) ?? '?'}, parent ${leader?.ppid ?? '?'})`;
          });
          violate('a step runs twice at once', id, `${key}: ${who.join(' and ')}`);
        }
      }
      // A runner that is not the lock holder exits at once; one that stays is a second runner.
      const now = Date.now();
      for (const r of runners) {
        if (lock && r.pid === lock.pid) {
          track.strayRunners.delete(r.pid);
          continue;
        }
        const since = track.strayRunners.get(r.pid) ?? now;
        track.strayRunners.set(r.pid, since);
        if (now - since > 10_000) violate('a runner that does not hold the lock stays alive', id, `runner ${r.pid} for ${Math.round((now - since) / 1000)}s; lock: ${lock?.pid}`);
      }
      for (const pid of track.strayRunners.keys()) if (!runners.some((r) => r.pid === pid)) track.strayRunners.delete(pid);
      if (lock?.purpose === 'run') runnerPids.add(lock.pid);
    }
  };

  const checkStates = () => {
    for (const track of tracks.values()) {
      const view = readTaskView(tasksDir, track.plan.id);
      if (view.state) runnerPids.add(view.state.pid);
      if (view.fileProblems.length) violate('a damaged state or control file', track.plan.id, view.fileProblems.join('; '));
      if (view.status === 'failed') violate('a task failed', track.plan.id, `run ${view.state?.runId.slice(0, 8)}: ${view.state?.reason}`);
      if (view.status === 'completed' && view.state && !track.completedRuns.has(view.state.runId)) {
        const runId = view.state.runId;
        const read = readCheckpoint(track);
        if (read.loaded?.checkpoint.runId !== runId) continue; // reset or run again meanwhile
        track.completedRuns.add(runId);
        summary.completions++;
        const completed = read.loaded.checkpoint.completed.map((s) => s.id);
        const steps = (track.plan.def as { steps: Array<{ id: string }> }).steps.map((s) => s.id);
        if (completed.join(',') !== steps.join(','))
          violate('completed without every step in its checkpoint', track.plan.id, `run ${runId.slice(0, 8)}: ${completed.join(',')}`);
        readMarks();
        const missing = track.plan.keys.filter((key) => marksOf(track.plan.id, key, runId) === 0);
        if (missing.length) violate('completed without running everything', track.plan.id, `run ${runId.slice(0, 8)}: no mark for ${missing.slice(0, 5).join(', ')}`);
      }
    }
  };

  let sampleTotalMs = 0;
  const sample = () => {
    const began = performance.now();
    summary.samples++;
    for (const track of tracks.values()) checkCheckpoint(track);
    checkFrozen();
    checkProcesses();
    checkStates();
    const took = performance.now() - began;
    sampleTotalMs += took;
    summary.sampleCostMs = { mean: Math.round(sampleTotalMs / summary.samples), max: Math.max(summary.sampleCostMs.max, Math.round(took)) };
  };

  // ---- the CLI ---------------------------------------------------------------------------------
  let inFlight = 0;
  const pending = new Set<Promise<unknown>>();
  /** Controllers in flight, by task. */
  const busy = new Map<string, number>();
  const count = (op: string) => (summary.operations[op] = (summary.operations[op] ?? 0) + 1);
  const scenario = (name: string) => (summary.scenarios[name] = (summary.scenarios[name] ?? 0) + 1);
  /** Run `ptask <args>` in the background; its exit code and output are checked when it ends. */
  const cli = (op: string, args: string[], task?: string): Promise<{ code: number; out: string }> => {
    count(op);
    inFlight++;
    if (task) busy.set(task, (busy.get(task) ?? 0) + 1);
    const started = Date.now();
    const done = new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn(process.execPath, [RUNNER, ...args, '--root', root], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), out }));
    }).then((r) => {
      inFlight--;
      if (task) busy.set(task, busy.get(task)! - 1);
      const codes = (summary.exitCodes[op] ??= {});
      codes[r.code] = (codes[r.code] ?? 0) + 1;
      for (const m of r.out.matchAll(/runner pid (\d+)/g)) runnerPids.add(Number(m[1]));
      const expected = EXPECTED_CODES[op] ?? [0];
      // The soak killed the runner this controller had just started.
      const killedAtStart = r.code === 128 && /was killed by SIGKILL as it started/.test(r.out);
      if ((!expected.includes(r.code) && !killedAtStart) || /unexpected error/.test(r.out))
        violate(`'ptask ${op}' ended with an unexpected exit code`, task, `exit ${r.code} after ${Date.now() - started}ms: ${r.out.trim().slice(0, 600)}`);
      else if (/could not resume/.test(r.out)) note(`${op}: ${r.out.trim().slice(0, 300)}`);
      if (op === 'interrupt' && task && r.code === 0 && /Interrupting/.test(r.out)) tracks.get(task)!.disruptions++;
      return r;
    });
    pending.add(done);
    void done.finally(() => pending.delete(done));
    return done;
  };
  const views = () => [...tracks.keys()].map((id) => readTaskView(tasksDir, id));
  const pickOf = <T>(list: T[]): T | undefined => (list.length ? list[Math.floor(rand() * list.length)] : undefined);
  const resumable = (v: TaskView) => ['paused', 'interrupted', 'lost', 'failed'].includes(v.status) && !v.waiting;

  /** kill -9 of a task's runner: the lock holder, checked to be a runner of this task first. */
  const kill = (id: string): boolean => {
    const track = tracks.get(id)!;
    const lock = readRunnerLock(track.paths.lock);
    if (!lock || lock.purpose !== 'run' || processStartTime(lock.pid) !== lock.startTime) return false;
    return killRunner(id, lock.pid);
  };
  /** kill -9 of one of the task's runner processes, whatever it is doing: starting, waiting for the lock, running. */
  const killAnyRunner = (id: string): boolean => {
    const runner = pickOf(scanProcesses(root, envCache).filter((p) => p.runnerOf === id));
    return runner !== undefined && killRunner(id, runner.pid);
  };
  const killRunner = (id: string, pid: number): boolean => {
    const track = tracks.get(id)!;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return false;
    }
    if (argv[1] !== RUNNER || argv[2] !== '__runner' || argv[4] !== id) return false;
    process.kill(pid, 'SIGKILL');
    count('kill -9');
    summary.kills++;
    track.disruptions++;
    return true;
  };

  let globalPausedUntil = 0;
  /** One random request. */
  const operate = async () => {
    const all = views();
    const active = all.filter((v) => ACTIVE_STATES.has(v.status));
    const roll = rand() * 100;
    if (globalPausedUntil && Date.now() > globalPausedUntil) {
      globalPausedUntil = 0;
      const n = rand() < 0.3 ? 2 : 1; // sometimes two controllers at once
      for (let k = 0; k < n; k++) void cli('resume-all', ['resume-all']);
      return;
    }
    // Keep most tasks busy: with more than a third idle or completed, start the next lap of one.
    const resting = all.filter((x) => x.status === 'idle' || x.status === 'completed');
    if (resting.length > all.length / 3 && !globalPausedUntil && rand() < 0.35) {
      const v = pickOf(resting)!;
      if (v.status === 'completed' && rand() < 0.3) void cli('reset', ['reset', v.id], v.id).then(() => cli('run', ['run', v.id, '--detach'], v.id));
      else void cli('run', ['run', v.id, '--detach'], v.id);
      return;
    }
    if (roll < 24) {
      // Resume a stopped task; now and then any task, to be refused or to cancel a pause.
      const v = rand() < 0.85 ? pickOf(all.filter(resumable)) : pickOf(all);
      if (v) void cli('resume', ['resume', v.id, '--detach'], v.id);
    } else if (roll < 34) {
      // The next lap of a completed task: run again, or reset first; now and then any task, to be refused.
      const v = pickOf(all.filter((x) => x.status === 'idle' || x.status === 'completed')) ?? (rand() < 0.2 ? pickOf(all) : undefined);
      if (v?.status === 'completed' && rand() < 0.5) void cli('reset', ['reset', v.id], v.id).then(() => cli('run', ['run', v.id, '--detach'], v.id));
      else if (v) void cli('run', ['run', v.id, '--detach'], v.id);
    } else if (roll < 48) {
      const v = pickOf(active) ?? pickOf(all.filter((x) => x.waiting));
      if (v) void cli('pause', ['pause', v.id], v.id);
    } else if (roll < 56) {
      const v = pickOf(active) ?? pickOf(all.filter((x) => x.waiting));
      if (v) void cli('interrupt', ['interrupt', v.id], v.id);
    } else if (roll < 68) {
      const v = pickOf([...active, ...all.filter((x) => x.waiting)]);
      // Now and then the kill is followed at once by several resumes racing to take over, or by a reset.
      const after = rand();
      if (v && kill(v.id)) {
        if (after < 0.4) for (let k = 0; k < 2 + Math.floor(rand() * 3); k++) void cli('resume', ['resume', v.id, '--detach'], v.id);
        else if (after < 0.55) void cli('reset', ['reset', v.id], v.id).then((r) => (r.code === 0 ? cli('run', ['run', v.id, '--detach'], v.id) : r));
      }
    } else if (roll < 76) {
      // Several controllers resume the same task at once.
      const v = pickOf(all.filter(resumable)) ?? pickOf(all);
      if (v) {
        scenario('concurrent resumes');
        for (let k = 0; k < 2 + Math.floor(rand() * 4); k++) void cli('resume', ['resume', v.id, '--detach'], v.id);
      }
    } else if (roll < 79) {
      if (!globalPausedUntil) {
        globalPausedUntil = Date.now() + 500 + rand() * 2500;
        void cli('pause-all', ['pause-all']);
      }
    } else if (roll < 83) {
      // Reset throws progress away: the work runs again, in a new run (the marks tell runs apart).
      const v = pickOf(all.filter((x) => ['paused', 'interrupted', 'lost', 'failed'].includes(x.status) && !x.waiting));
      if (v) void cli('reset', ['reset', v.id], v.id).then((r) => (r.code === 0 ? cli('run', ['run', v.id, '--detach'], v.id) : r));
    } else if (roll < 86) {
      const v = pickOf(all.filter(resumable));
      if (v) void cli('fresh', ['run', v.id, '--fresh', '--detach'], v.id);
    } else if (roll < 90) {
      // A crash while pausing: pause, then kill -9 the runner once it is pausing (or soon after).
      const v = pickOf(active.filter((x) => x.status === 'running'));
      if (v) {
        scenario('pause then kill -9');
        const asked = await cli('pause', ['pause', v.id], v.id);
        // Killed once the runner took the pause in (it is pausing), unless the pause already landed.
        if (asked.code === 0 && (await until(() => readTaskView(tasksDir, v.id).status !== 'running', 2000))) kill(v.id);
      }
    } else if (roll < 94) {
      // A crash while starting: resume, then kill -9 a runner of the task within moments.
      const v = pickOf(all.filter(resumable));
      if (v) {
        scenario('resume then kill -9');
        void cli('resume', ['resume', v.id, '--detach'], v.id);
        if (await until(() => scanProcesses(root, envCache).some((p) => p.runnerOf === v.id), 2000)) killAnyRunner(v.id);
      }
    } else if (roll < 95.5) {
      // A foreground runner whose terminal goes away (an ssh drop): script(1) gives it one, then dies.
      const v = hasScript ? pickOf(all.filter(resumable)) : undefined;
      if (v) {
        scenario('terminal hang-up');
        count('resume (foreground)');
        const terminal = spawn('script', ['-qfec', `${process.execPath} ${RUNNER} resume ${v.id} --root ${root}`, '/dev/null'], { stdio: 'ignore' });
        const gone = new Promise((resolve) => terminal.on('exit', resolve));
        // Hung up at a random moment into the run: the chaos's own pace, not a wait for anything.
        if (await until(() => ACTIVE_STATES.has(readTaskView(tasksDir, v.id).status), 3000)) await sleep(rand() * 400);
        terminal.kill('SIGKILL');
        await gone;
      }
    } else if (roll < 97) {
      // A run folder deleted (`git clean -fdX`, `rm -rf`) while nothing runs it, then the task run again: it starts over.
      const v = pickOf(all.filter((x) => ['paused', 'interrupted', 'failed', 'completed'].includes(x.status) && !x.waiting));
      if (v && !busy.get(v.id) && !scanProcesses(root, envCache).some((p) => p.runnerOf === v.id || p.step?.task === v.id)) {
        scenario('run folder deleted');
        fs.rmSync(tracks.get(v.id)!.paths.runDir, { recursive: true, force: true });
        void cli('run', ['run', v.id, '--detach'], v.id);
      }
    } else if (roll < 98.5) {
      // Controllers disagreeing at once: resume, run --fresh and reset of the same task together.
      const v = pickOf(all.filter(resumable));
      if (v) {
        scenario('racing requests');
        for (let k = 0; k < 2 + Math.floor(rand() * 3); k++) {
          const which = rand();
          if (which < 0.5) void cli('resume', ['resume', v.id, '--detach'], v.id);
          else if (which < 0.75) void cli('fresh', ['run', v.id, '--fresh', '--detach'], v.id);
          else void cli('reset', ['reset', v.id], v.id);
        }
      }
    }
    // else: nothing this time; the tasks run on
  };

  // ---- the loops -------------------------------------------------------------------------------
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        sample();
      } catch (err) {
        violate('the sampler failed', undefined, (err as Error).stack ?? String(err));
      }
      await sleep(sampleMs);
    }
  })();

  try {
    await chaosAndDrain();
  } catch (err) {
    // The soak itself failed: stop what it started, keep the workspace to look at.
    sampling = false;
    for (const p of scanProcesses(root)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    log(`soak: failed; workspace kept: ${root}`);
    throw err;
  }
  return finish();

  async function chaosAndDrain() {
    // Start everything, then the chaos.
    for (const id of tracks.keys()) {
      await until(() => inFlight < maxInFlight, 60_000);
      void cli('run', ['run', id, '--detach'], id);
    }
    const chaosEnd = t0 + opts.seconds * 1000;
    let nextReport = Date.now() + 10_000;
    while (Date.now() < chaosEnd) {
      if (inFlight < maxInFlight) await operate();
      await sleep(20 + rand() * 230); // the chaos's own pace, not a wait for anything
      if (Date.now() >= nextReport) {
        nextReport += 10_000;
        const st = views().reduce<Record<string, number>>((acc, v) => ((acc[v.status] = (acc[v.status] ?? 0) + 1), acc), {});
        log(`soak: ${at()}s, ${summary.completions} completions, ${summary.kills} kills, ${summary.violations.length} violations; ${JSON.stringify(st)}`);
      }
    }
    summary.seconds.chaos = at();

    // The drain: everything completes.
    log(`soak: chaos over at ${at()}s; draining`);
    await Promise.all([...pending]);
    await cli('resume-all', ['resume-all']);
    const drainEnd = Date.now() + (opts.drainSeconds ?? 120) * 1000;
    const lastNudge = new Map<string, number>();
    for (;;) {
      const all = views();
      if (all.every((v) => v.status === 'completed')) break;
      if (Date.now() > drainEnd) {
        violate('not every task completed after the chaos', undefined, all.filter((v) => v.status !== 'completed').map((v) => `${v.id}: ${v.status}${v.lostReason ? ` (${v.lostReason})` : ''}`).join('; '));
        break;
      }
      for (const v of all) {
        if (v.status === 'completed' || ACTIVE_STATES.has(v.status) || v.waiting) continue;
        if (Date.now() - (lastNudge.get(v.id) ?? 0) < 2000) continue;
        lastNudge.set(v.id, Date.now());
        if (v.status === 'idle') void cli('run', ['run', v.id, '--detach'], v.id);
        else void cli('resume', ['resume', v.id, '--detach'], v.id);
      }
      await sleep(200);
    }
    await Promise.all([...pending]);
    // The last runners write state.json, then release the lock and exit.
    const quietBy = Date.now() + 15_000;
    while (Date.now() < quietBy && scanProcesses(root).length) await sleep(50);
    sampling = false;
    await sampler;
    sample();
    summary.seconds.drain = Math.round((at() - summary.seconds.chaos) * 10) / 10;
  }

  /** The end: nothing left behind, every checkpoint whole. */
  function finish(): SoakSummary {
    const left = scanProcesses(root);
    for (const p of left) {
      if (p.runnerOf) violate('a runner is left running', p.runnerOf, `pid ${p.pid}`);
      else violate('a step process is left running', p.step?.task, `pid ${p.pid} (${p.step ? `${p.step.step} ${p.step.item}` : 'started by a step'})`);
      try {
        process.kill(p.pid, 'SIGKILL'); // ours: started by this soak's runners
      } catch {
        // gone meanwhile
      }
    }
    for (const track of tracks.values()) {
      const id = track.plan.id;
      const read = readCheckpoint(track);
      if (read.error) violate('checkpoint does not load', id, read.error);
      for (const file of fs.readdirSync(track.paths.checkpointsDir, { withFileTypes: true }).filter((e) => e.name.endsWith('.json'))) {
        const snap = readJsonSync(path.join(track.paths.checkpointsDir, file.name), checkpointSchema);
        if (!snap.ok) violate('an earlier snapshot does not load', id, snap.error.message);
      }
      // Extra marks a run: what kills and interrupts left to run again.
      let extra = 0;
      for (const runId of track.frozen.keys()) for (const key of track.plan.keys) extra += Math.max(0, marksOf(id, key, runId) - 1);
      const allowed = track.disruptions * track.plan.concurrency;
      summary.reruns.extra += extra;
      summary.reruns.allowed += allowed;
      if (extra > allowed) violate('more work ran again than the kills and interrupts explain', id, `${extra} extra runs; ${track.disruptions} kills and interrupts × concurrency ${track.plan.concurrency}`);
      try {
        const text = fs.readFileSync(track.paths.runnerLog, 'utf8');
        for (const m of text.matchAll(/^.*(runner error|unexpected error).*$/gm)) violate('a runner error in runner.log', id, m[0].slice(0, 400));
      } catch {
        // never ran a detached runner
      }
    }
    summary.allCompleted = views().every((v) => v.status === 'completed');
    const laps = [...tracks.values()].map((t) => t.completedRuns.size);
    summary.laps = { min: Math.min(...laps), max: Math.max(...laps) };
    summary.runnerStarts = runnerPids.size;
    summary.runnerProcessesSeen = runnerProcs.size;
    summary.seconds.total = at();
    if (!opts.keep && !summary.violations.length) fs.rmSync(root, { recursive: true, force: true });
    return summary;
  }
}

/** The summary for people. */
export function formatSummary(s: SoakSummary): string {
  const list = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
  const total = Object.values(s.operations).reduce((sum, n) => sum + n, 0);
  const lines = [
    `Chaos soak: ${s.tasks} tasks, seed ${s.seed}`,
    `  duration          ${s.seconds.chaos}s of chaos + ${s.seconds.drain}s to drain (${s.seconds.total}s)`,
    `  operations        ${total}: ${list(s.operations)}`,
    `  of which together ${list(s.scenarios)}`,
    `  exit codes        ${Object.entries(s.exitCodes).map(([op, c]) => `${op} ${JSON.stringify(c)}`).join(', ')}`,
    `  kill -9           ${s.kills}`,
    `  runner starts     ${s.runnerStarts} (runner processes seen: ${s.runnerProcessesSeen})`,
    `  completions       ${s.completions} runs completed (${s.laps.min}-${s.laps.max} a task); all completed at the end: ${s.allCompleted ? 'yes' : 'NO'}`,
    `  marks             ${s.marks}; re-runs of unrecorded work ${s.reruns.extra} (allowed ${s.reruns.allowed})`,
    `  samples           ${s.samples} (${s.sampleCostMs.mean}ms each, at most ${s.sampleCostMs.max}ms); checkpoint reads retried ${s.checkpointReadRetries} (failed mid-snapshot: ${s.checkpointReadRaces})`,
    `  violations        ${s.violations.length}`,
    ...s.violations.map((v) => `    - ${v.at}s ${v.what}${v.task ? ` [${v.task}]` : ''}: ${v.detail}`),
  ];
  if (s.violations.length) lines.push(`  workspace kept    ${s.workspace}`);
  return lines.join('\n');
}
