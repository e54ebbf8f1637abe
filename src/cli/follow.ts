/**
 * Following a task from a terminal: `ptask logs --follow` and `ptask status --watch`. Both read
 * the task's files only, every FOLLOW_MS, and end once no runner runs it (after a last read).
 */
import { FOLLOW_MS, LogFollower } from '../protocol/follow';
import { readTaskViewAsync, type TaskView } from '../protocol/taskView';
import { ACTIVE_STATES } from '../protocol/transitions';

/** Calls `onView` with the task's view every FOLLOW_MS until it is not running (and once more then); resolves with that view. */
export async function followTask(tasksDir: string, id: string, onView: (view: TaskView) => void | Promise<void>): Promise<TaskView> {
  for (;;) {
    const view = await readTaskViewAsync(tasksDir, id);
    await onView(view);
    if (!ACTIVE_STATES.has(view.status) && !view.waiting) return view;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
  }
}

/** Follow the logs (protocol/follow): the asked step's, or each step's as it runs, a header before each. */
export async function followLogs(view: TaskView & { paths: NonNullable<TaskView['paths']> }, asked: string | undefined, write: (chunk: string | Buffer) => void): Promise<void> {
  const follower = new LogFollower(view.paths, view, asked);
  await followTask(view.paths.tasksDir, view.id, async (now) => {
    for (const chunk of await follower.look(now)) write(chunk);
  });
}
