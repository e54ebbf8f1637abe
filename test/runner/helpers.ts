/** Real workspaces in temp folders, the real bundled CLI in child processes, waits with deadlines. */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const RUNNER = path.resolve(__dirname, '../../dist/runner.js');
export const FIXTURES = path.resolve(__dirname, '../fixtures');

export interface Workspace {
  root: string;
  tasksDir: string;
  runDir(id: string): string;
  file(id: string, name: string): string;
  readJson(id: string, name: string): any;
  define(id: string, def: object): void;
  cleanup(): void;
}

export function workspace(): Workspace {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-test-'));
  const tasksDir = path.join(root, '.tasks');
  fs.mkdirSync(tasksDir);
  return {
    root,
    tasksDir,
    runDir: (id) => path.join(tasksDir, id),
    file: (id, name) => path.join(tasksDir, id, name),
    readJson: (id, name) => JSON.parse(fs.readFileSync(path.join(tasksDir, id, name), 'utf8')),
    define: (id, def) => fs.writeFileSync(path.join(tasksDir, `${id}.json`), JSON.stringify(def, null, 2)),
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `ptask <args>` to the end. */
export function ptask(ws: Workspace, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [RUNNER, ...args, '--root', ws.root], { encoding: 'utf8', cwd: ws.root });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Start `ptask <args>` (a foreground runner) and keep its handle. */
export function ptaskChild(ws: Workspace, ...args: string[]) {
  const child = spawn(process.execPath, [RUNNER, ...args, '--root', ws.root], { cwd: ws.root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  return { child, exited, output: () => out };
}

export async function waitFor<T>(what: string, check: () => T | undefined | false | null, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined | false | null;
    try {
      value = check();
    } catch {
      value = undefined; // a file not there yet
    }
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function status(ws: Workspace, id: string): any {
  const r = ptask(ws, 'status', id, '--json');
  if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Alive, and not a zombie: a killed orphan stays a zombie until init reaps it, holding nothing. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every file under a folder with its content, to prove that a refused request changed nothing. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isSymbolicLink()) out[path.relative(dir, p)] = `-> ${fs.readlinkSync(p)}`;
      else if (entry.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

export const fixture = (name: string) => `node ${JSON.stringify(path.join(FIXTURES, name))}`;

/**
 * The power goes: every process of this workspace dies at once (its runners, their slots, the
 * steps), found by the workspace's path in their command line or environment. Linux (/proc).
 */
export function powerLoss(ws: Workspace): void {
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const seen = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1') + fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (seen.includes(ws.root)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone, or not ours
    }
  }
}

/** Every line the slots of a task's run recorded (attempts/*.tsv, each up to the zeros a slot wrote ahead), as one text. */
export function recordsText(ws: Workspace, id: string): string {
  const dir = ws.file(id, 'attempts');
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((n) => fs.readFileSync(path.join(dir, n), 'utf8').split('\0')[0]).join('') : '';
}

/** How often each line occurs. */
export function countOf(lines: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}
