/** Who holds a task's runner.lock, in words that say what to do: shared by the runner and the controllers. */
import { HOST } from './processInfo';
import type { RunnerLock } from './schemas';

export interface Holder {
  /** A runner of this host, a reset (or an item edit) in progress, or a process on another host (which cannot be checked from here). */
  by: 'runner' | 'reset' | 'otherHost';
  pid: number;
  host: string;
  lockFile: string;
}

export function holderOf(lock: RunnerLock, lockFile: string): Holder {
  const by = lock.host !== HOST ? 'otherHost' : lock.purpose === 'run' ? 'runner' : 'reset';
  return { by, pid: lock.pid, host: lock.host, lockFile };
}

export function describeHolder(id: string, holder: Holder): string {
  switch (holder.by) {
    case 'runner':
      return `'${id}' is held by another runner (pid ${holder.pid}): pause or interrupt it first`;
    case 'reset':
      return `'${id}' is being reset or edited (pid ${holder.pid}); try again once that is done`;
    case 'otherHost':
      return (
        `'${id}' is held by a runner on another host (pid ${holder.pid} on ${holder.host}; this is ${HOST}), which cannot be checked from here: ` +
        `if no runner runs there any more, delete ${holder.lockFile} and resume`
      );
  }
}
