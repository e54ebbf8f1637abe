/**
 * What a controller's request came to, as values: each front end (ptask, the extension) turns an
 * outcome into words and an exit code. Nobody parses a message to learn what happened; `message`
 * is only there to be shown.
 */
import type { Holder } from '../protocol/holder';
import type { TransitionError } from '../protocol/transitions';
import type { WriteError } from '../protocol/writeError';

/** Why a request did not take effect; nothing was written. */
export type Refusal =
  /** The transition table forbids it: the message names the state and what to do instead. */
  | { kind: 'notAllowed'; error: TransitionError; message: string }
  /** Pause all is on: no task starts until it is off. */
  | { kind: 'pausedForAll'; message: string }
  /** The definition changed since the checkpoint: resuming needs `force`. */
  | { kind: 'changed'; file: string; changes: string[]; message: string }
  /** A file is damaged, missing or unsafe (a link): the message names it and says why. */
  | { kind: 'badFile'; message: string }
  /** runner.lock is held: by a runner, a reset, or a process on another host. */
  | { kind: 'held'; holder: Holder; message: string }
  /** A file could not be written (a full or read-only disk). */
  | { kind: 'cannotWrite'; error: WriteError; message: string }
  /** It does not apply to the task as it is (an item that is not there, or is done already): the message says why. */
  | { kind: 'notApplicable'; message: string };

const REFUSALS: ReadonlySet<string> = new Set<Refusal['kind']>(['notAllowed', 'pausedForAll', 'changed', 'badFile', 'held', 'cannotWrite', 'notApplicable']);

export function isRefusal<T extends { kind: string }>(outcome: T | Refusal): outcome is Refusal {
  return REFUSALS.has(outcome.kind);
}
