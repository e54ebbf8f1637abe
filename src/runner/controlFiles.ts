/**
 * The runner's view of what is wanted: the task's control.json and the global .control.json,
 * read at every step boundary, every `pollMs` while a step runs, and at once when fs.watch sees
 * them change (watching only speeds things up: polling alone is enough, e.g. on network drives).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as z from 'zod/mini';
import { FileError, readJsonSync, type ReadResult } from '../protocol/jsonFile';
import type { TaskPaths } from '../protocol/paths';
import { stampOfStat } from './executor';
import { controlSchema, globalControlSchema, type Control, type GlobalControl } from '../protocol/schemas';

export interface ControlReading {
  task?: Control;
  global?: GlobalControl;
  /** Damaged control files: reported, and ignored until fixed. */
  problems: FileError[];
}

export function readControlFiles(paths: TaskPaths, cache?: ControlCache): ControlReading {
  const problems: FileError[] = [];
  const task = (cache?.task ?? readJsonSync<Control>).call(cache, paths.control, controlSchema);
  const global = (cache?.global ?? readJsonSync<GlobalControl>).call(cache, paths.globalControl, globalControlSchema);
  if (!task.ok && task.error.code !== 'missing') problems.push(task.error);
  if (!global.ok && global.error.code !== 'missing') problems.push(global.error);
  return { task: task.ok ? task.value : undefined, global: global.ok ? global.value : undefined, problems };
}

/**
 * Re-reads a control file only when it changed (inode, size or mtime): the runner looks at both
 * at every step boundary, and parsing them each time is most of a trivial step's overhead. Each
 * file's stamp as it was last looked at (fileStamp's form) gates the steps sent ahead on it.
 */
export class ControlCache {
  private readonly stamps = new Map<string, string>();
  readonly task = this.cached<Control>();
  readonly global = this.cached<GlobalControl>();

  /** The file as it was when last looked at, before it was read: any write since changes it. */
  stampOf(file: string): string | undefined {
    return this.stamps.get(file);
  }

  private cached<T>() {
    let key: string | undefined;
    let value: ReadResult<T> | undefined;
    return (file: string, schema: z.ZodMiniType<T>): ReadResult<T> => {
      // bigint: an inode number may not fit a double's 53 bits (XFS, btrfs).
      const stat = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
      const now = stat ? `${stat.ino}:${stat.size}:${stat.mtimeNs}` : 'missing';
      this.stamps.set(file, stat ? stampOfStat(stat) : '-');
      if (now !== key || !value) {
        key = now;
        value = stat ? readJsonSync(file, schema) : { ok: false, error: new FileError(file, 'does not exist', 'missing') };
      }
      return value;
    };
  }
}

export class ControlWatcher {
  private timer: NodeJS.Timeout | undefined;
  private watchers: fs.FSWatcher[] = [];

  constructor(private readonly paths: TaskPaths, private readonly pollMs: number, private readonly onCheck: () => void) {}

  start(): void {
    this.timer = setInterval(this.onCheck, this.pollMs);
    const watch = (dir: string, name: string) => {
      try {
        const w = fs.watch(dir, { persistent: false }, (_event, file) => {
          if (file === null || file === name) this.onCheck();
        });
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // not watchable here: polling does the job
      }
    };
    watch(this.paths.runDir, path.basename(this.paths.control));
    watch(this.paths.tasksDir, path.basename(this.paths.globalControl));
  }

  stop(): void {
    clearInterval(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
