/** Where the runner keeps what it makes once a machine (the compiled slot, the CLI's code cache). */
import * as os from 'node:os';
import * as path from 'node:path';

/** PTASK_CACHE, else the XDG cache (~/.cache), under pausable-tasks/. */
export function cacheDir(): string {
  if (process.env.PTASK_CACHE) return process.env.PTASK_CACHE;
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'pausable-tasks');
}
