/**
 * `timeline.jsonl`: what a run did over time, for the picture of a run (the extension's
 * webview), one line each: a runner starting and stopping, an attempt (a step's or an item's)
 * ending, a step found up to date. The runner appends it in batches and never waits for it: it
 * is a picture, not a record, and a crash may cut off its last moment (the checkpoint and the
 * journal hold what is done). A new run starts a new one; a reset forgets it.
 *
 * Times are milliseconds since the epoch: the picture does arithmetic on them, 20,000 at a time.
 */
import * as z from 'zod/mini';

export const TIMELINE_FILE = 'timeline.jsonl';

const ms = z.number();
export const timelineLineSchema = z.discriminatedUnion('t', [
  /** A runner took the task: `resumed` when it goes on from a checkpoint. */
  z.object({ t: z.literal('runner'), at: ms, pid: z.int(), resumed: z.boolean() }),
  /** It stopped, and how (a runner that has no `stop` line was lost: killed, or its machine went down). */
  z.object({ t: z.literal('stop'), at: ms, how: z.enum(['completed', 'failed', 'paused', 'interrupted']) }),
  /** An attempt ended: its step, its item (a forEach step's), its number, when it ran and how it ended. */
  z.object({
    t: z.literal('attempt'),
    step: z.string(),
    item: z.optional(z.int()),
    n: z.int(),
    start: ms,
    end: ms,
    /** ok: exit 0; failed: another exit (or a timeout, or Slurm ended it); stopped: a signal (an interrupt); paused: exit 75, or held. */
    how: z.enum(['ok', 'failed', 'stopped', 'paused']),
    /** "exit 3", "SIGTERM", "timed out", Slurm's word. */
    said: z.optional(z.string()),
  }),
  /** A step with inputs/outputs found up to date: committed without running. */
  z.object({ t: z.literal('upToDate'), step: z.string(), at: ms }),
]);
export type TimelineLine = z.infer<typeof timelineLineSchema>;

/**
 * The lines of a timeline; a line cut short or damaged is left out (the picture shows the rest).
 * Attempt lines, nearly all of them, are checked by hand: the schema costs ten times as much, and
 * a run of 20,000 items is read while the person waits for its picture.
 */
export function parseTimeline(text: string): TimelineLine[] {
  const lines: TimelineLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    let value: any;
    try {
      value = JSON.parse(raw);
    } catch {
      continue;
    }
    if (value?.t === 'attempt') {
      const ok = typeof value.step === 'string' && Number.isInteger(value.n) && typeof value.start === 'number' && typeof value.end === 'number' && HOW.has(value.how) && (value.item === undefined || Number.isInteger(value.item)) && (value.said === undefined || typeof value.said === 'string');
      if (ok) lines.push(value as TimelineLine);
      continue;
    }
    const parsed = timelineLineSchema.safeParse(value);
    if (parsed.success) lines.push(parsed.data);
  }
  return lines;
}

const HOW = new Set(['ok', 'failed', 'stopped', 'paused']);
