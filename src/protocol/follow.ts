/**
 * Following a run from its files: the logs of the steps in flight as they grow, a header
 * (`==> step (file) <==`, as tail -f writes it) before each switch from one step's bytes to
 * another's. Shared by `ptask logs --follow` and the terminal of a VS Code task; neither reads
 * anything the runner does not write anyway. Asynchronous: the extension host never blocks on it.
 */
import * as fs from 'node:fs';
import { graphOrder } from './graph';
import { stepLogPath, type TaskPaths } from './paths';
import { runningSteps } from './schemas';
import type { TaskView } from './taskView';
import { ACTIVE_STATES } from './transitions';

/** How often a follower looks. */
export const FOLLOW_MS = 200;

/** Which step's log to show: the one asked for, the one running, or the one the run stopped in. */
export function logStepOf(view: TaskView, asked?: string): string | undefined {
  return asked ?? view.state?.currentStep?.id ?? view.state?.stoppedIn?.id;
}

/** The bytes a log gained since the last read (none while it does not exist). */
export class LogTail {
  private offset = 0;

  constructor(readonly file: string) {}

  async read(): Promise<Buffer> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.file, 'r');
    } catch {
      return Buffer.alloc(0);
    }
    try {
      const { size } = await handle.stat();
      if (size < this.offset) this.offset = 0; // a new run's log replaced it
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = buffer.length ? await handle.read(buffer, 0, buffer.length, this.offset) : { bytesRead: 0 };
      this.offset += bytesRead;
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }
}

/**
 * The logs of a run as they grow: the step asked for, or every step as it runs (several at once
 * in a graph). A step that ran and ended between two looks is not skipped: the steps after the
 * last one followed (in graph order), up to the furthest in flight (or the last, once the run
 * stopped), whose log was written since the follower began, are read too.
 */
export class LogFollower {
  private readonly tails = new Map<string, LogTail>();
  private readonly order: string[];
  private printed: string | undefined;
  /** In flight at the last look: what they wrote as they ended is read once more. */
  private wasRunning = new Set<string>();
  /** The furthest step (in graph order) looked at so far. */
  private reached = -1;
  private readonly since = Date.now();

  constructor(private readonly paths: Pick<TaskPaths, 'logsDir'>, view: TaskView, private readonly asked?: string) {
    const steps = view.definition?.steps ?? [];
    this.order = graphOrder(steps).map((i) => steps[i].id);
    const first = logStepOf(view, asked);
    if (first) this.open(first);
  }

  /** What was added since the last look, headers included. */
  async look(view: TaskView): Promise<(string | Buffer)[]> {
    const out: (string | Buffer)[] = [];
    const ids = this.asked ? [this.asked] : await this.candidates(view);
    for (const id of ids) {
      const fresh = !this.tails.has(id);
      const tail = this.open(id);
      const bytes = await tail.read();
      if (!bytes.length && !fresh) continue;
      if (this.printed !== id) out.push(`==> ${id} (${tail.file}) <==\n`);
      this.printed = id;
      if (bytes.length) out.push(bytes);
    }
    return out;
  }

  private open(id: string): LogTail {
    let tail = this.tails.get(id);
    if (!tail) this.tails.set(id, (tail = new LogTail(stepLogPath(this.paths, id))));
    const at = this.order.indexOf(id);
    if (at > this.reached) this.reached = at;
    return tail;
  }

  private async candidates(view: TaskView): Promise<string[]> {
    const active = ACTIVE_STATES.has(view.status);
    const running = new Set(active ? runningSteps(view.state).map((s) => s.id) : []);
    const furthest = active ? Math.max(-1, ...[...running].map((id) => this.order.indexOf(id))) : this.order.length - 1;
    const ids = new Set([...this.tails.keys()].filter((id) => id === this.printed || this.wasRunning.has(id)));
    this.wasRunning = running;
    for (let i = this.reached + 1; i <= furthest; i++) {
      const id = this.order[i];
      if (running.has(id) || (await writtenSince(stepLogPath(this.paths, id), this.since))) ids.add(id);
    }
    for (const id of running) ids.add(id);
    // In graph order: a chain's logs come out in the order its steps ran.
    return this.order.filter((id) => ids.has(id));
  }
}

async function writtenSince(file: string, since: number): Promise<boolean> {
  try {
    return (await fs.promises.stat(file)).mtimeMs >= since - 1000;
  } catch {
    return false;
  }
}
