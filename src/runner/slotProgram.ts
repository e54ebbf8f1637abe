/**
 * Which program a slot runs: the C one (slotNative.ts), compiled once a machine with its `cc`
 * into the user's cache, when there is a compiler; else the Perl one (slotScript.ts), which every
 * Linux and macOS has. They speak the same protocol; the C one starts an attempt in about a third
 * of the time (docs/benchmarks.md). PTASK_SLOT=perl chooses Perl; PTASK_EXECUTOR=local forks from
 * the runner (taskRun.ts).
 *
 * The compiled program is named by a hash of its source, the platform and the architecture, is
 * written under a temporary name and renamed (two runners compiling at once both succeed), and is
 * asked `--check` before a runner uses it: a home shared by machines of the same architecture but
 * another libc gets it compiled again, not slots that cannot start.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir } from '../protocol/cacheDir';
import { SLOT_C } from './slotNative';
import { SLOT_SCRIPT } from './slotScript';

/** How to start a slot: the program and the arguments before the slot's own. */
export interface SlotProgram {
  file: string;
  args: string[];
  /** For messages: "perl", or "the compiled slot". */
  name: string;
  /** It holds its reports a moment (slotNative.ts), and writes them at once on SIGUSR1. */
  holdsReports?: boolean;
}

let chosen: SlotProgram | undefined | null = null;

/** The slot program of this runner, chosen once; undefined when there is neither a compiler nor perl. */
export function slotProgram(): SlotProgram | undefined {
  if (chosen === null) chosen = (process.env.PTASK_SLOT !== 'perl' && compiledSlot()) || perlSlot();
  return chosen;
}

/**
 * The same, chosen again when the compiled program is gone (the cache cleaned while a task runs):
 * a slot made from now on is compiled again, or Perl. Asked each time a slot is made, which is rare.
 */
export function slotProgramNow(): SlotProgram | undefined {
  if (chosen && !chosen.args.length && !fs.existsSync(chosen.file)) chosen = null;
  return slotProgram();
}

/** The Perl slot, when there is a perl. */
export const perlSlot = (): SlotProgram | undefined => (onPath('perl') ? { file: 'perl', args: ['-e', SLOT_SCRIPT], name: 'perl' } : undefined);

/** The compiled slot, made if it is not there; undefined when it cannot be (no `cc`, no cache, a compile error). */
export function compiledSlot(): SlotProgram | undefined {
  const cc = onPath('cc');
  if (!cc) return undefined;
  const hash = createHash('sha256').update(`${process.platform} ${process.arch}\n${SLOT_C}`).digest('hex').slice(0, 16);
  const file = path.join(cacheDir(), `slot-${hash}`);
  if (works(file)) return { file, args: [], name: 'the compiled slot', holdsReports: true };
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    execFileSync(cc, ['-O2', '-o', temporary, '-x', 'c', '-'], { input: SLOT_C, stdio: ['pipe', 'ignore', 'pipe'], timeout: 60_000 });
    fs.renameSync(temporary, file);
  } catch {
    try {
      fs.rmSync(temporary, { force: true });
    } catch {
      // no cache folder to have compiled it in (PTASK_CACHE under a file): Perl, then
    }
    return undefined;
  }
  return works(file) ? { file, args: [], name: 'the compiled slot', holdsReports: true } : undefined;
}

function works(file: string): boolean {
  try {
    return execFileSync(file, ['--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }) === 'slot\n';
  } catch {
    return false;
  }
}

/** The program's path when `name` is on PATH and executable. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}
