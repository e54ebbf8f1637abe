/**
 * Following a task from a terminal: `ptask logs --follow` (the log of the step in flight, as it
 * grows, moving to the next step's as it starts) and `ptask status --watch`. Both read the task's
 * files only, every FOLLOW_MS, and end once no runner runs it (after a last read).
 */
import * as fs from 'node:fs';
import { stepLogPath } from '../protocol/paths';
import { readTaskView, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';

const FOLLOW_MS = 200;

/** Calls `onView` with the task's view every FOLLOW_MS until it is not running (and once more then); resolves with that view. */
export async function followTask(tasksDir: string, id: string, onView: (view: TaskView) => void): Promise<TaskView> {
  for (;;) {
    const view = readTaskView(tasksDir, id);
    onView(view);
    if (!ACTIVE_STATES.has(view.status) && !view.waiting) return view;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
  }
}

/** Which step's log to show: the one asked for, the one running, or the one the run stopped in. */
export function logStepOf(view: TaskView, asked?: string): string | undefined {
  return asked ?? view.state?.currentStep?.id ?? view.state?.stoppedIn?.id;
}

/** The bytes a log gained since the last read (none while it does not exist). */
export class LogTail {
  private offset = 0;

  constructor(readonly file: string) {}

  read(): Buffer {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return Buffer.alloc(0);
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.offset) this.offset = 0; // a new run's log replaced it
      const buffer = Buffer.alloc(size - this.offset);
      const got = buffer.length ? fs.readSync(fd, buffer, 0, buffer.length, this.offset) : 0;
      this.offset += got;
      return buffer.subarray(0, got);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Follow the logs: the asked step's, or each step's in turn as it runs, a header before each. A
 * step that ran and ended between two looks is not skipped: every step after the one followed, up
 * to the one running now (or to the last, once the task stops), whose log was written since, is printed.
 */
export async function followLogs(view: TaskView & { paths: NonNullable<TaskView['paths']> }, asked: string | undefined, write: (chunk: string | Buffer) => void): Promise<void> {
  const since = Date.now();
  const steps = view.definition?.steps.map((s) => s.id) ?? [];
  let step = logStepOf(view, asked);
  let tail: LogTail | undefined;
  const open = (id: string) => {
    step = id;
    tail = new LogTail(stepLogPath(view.paths, id));
    write(`==> ${id} (${tail.file}) <==\n`);
    write(tail.read());
  };
  if (step) open(step);
  await followTask(view.paths.tasksDir, view.id, (now) => {
    if (tail) write(tail.read());
    if (asked) return;
    const active = ACTIVE_STATES.has(now.status);
    const target = active ? now.state?.currentStep?.id : steps[steps.length - 1];
    const from = step ? steps.indexOf(step) : -1;
    const to = target ? steps.indexOf(target) : -1;
    for (let i = from + 1; i <= to; i++) {
      const running = active && steps[i] === target;
      if (running || writtenSince(stepLogPath(view.paths, steps[i]), since)) open(steps[i]);
    }
  });
}

function writtenSince(file: string, since: number): boolean {
  try {
    return fs.statSync(file).mtimeMs >= since - 1000;
  } catch {
    return false;
  }
}
