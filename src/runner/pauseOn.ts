/**
 * `pauseOn`: which failed attempts pause the task instead of failing it, and when `autoResume`
 * resumes it: after `after`, then `after × backoff`, `after × backoff²`…, at most `maxAttempts`
 * times without progress in between.
 */
import { parseDuration } from '../protocol/duration';
import { compileOutputPattern, type LineTest } from '../protocol/outputPattern';
import type { PauseOn } from '../protocol/schemas';
import { noRedaction, type Redact } from '../protocol/secrets';
import type { AttemptEnd } from './executor';

export const DEFAULT_BACKOFF = 2;
export const DEFAULT_MAX_ATTEMPTS = 5;
/** How much of a matching line a reason quotes. */
const QUOTE_CHARS = 200;

export interface AutoResume {
  afterMs: number;
  backoff: number;
  maxAttempts: number;
}

/** Watches one attempt's output lines and keeps the first that matches. */
export class OutputWatch {
  match: { pattern: string; line: string } | undefined;

  constructor(private readonly patterns: { pattern: string; test: LineTest }[], private readonly redact: Redact = noRedaction) {}

  readonly onLine = (line: string): void => {
    if (this.match) return;
    const hit = this.patterns.find((p) => p.test(line));
    // Masked before it is cut: a secret cut in two would not be recognised.
    if (hit) this.match = { pattern: hit.pattern, line: this.redact(line.trim()).slice(0, QUOTE_CHARS) };
  };
}

export class PauseOnPolicy {
  readonly autoResume: AutoResume | undefined;
  private readonly exitCodes: ReadonlySet<number>;
  private readonly slurmStates: ReadonlySet<string>;
  private readonly patterns: { pattern: string; test: LineTest }[];

  /** `redact`: masks secret values in the line a reason quotes. */
  constructor(def: PauseOn, private readonly redact: Redact = noRedaction) {
    this.exitCodes = new Set(def.exitCodes ?? []);
    this.slurmStates = new Set(def.slurmStates ?? []);
    this.patterns = (def.outputMatches ?? []).map((pattern) => ({ pattern, test: compileOutputPattern(pattern) }));
    const auto = def.autoResume;
    this.autoResume = auto && {
      afterMs: parseDuration(auto.after),
      backoff: auto.backoff ?? DEFAULT_BACKOFF,
      maxAttempts: auto.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    };
  }

  /** A watch for one attempt's output, when there are patterns to look for. */
  watch(): OutputWatch | undefined {
    return this.patterns.length ? new OutputWatch(this.patterns, this.redact) : undefined;
  }

  /** Why this failed attempt pauses the task, or undefined when it is an ordinary failure. */
  why(end: AttemptEnd, watch: OutputWatch | undefined): string | undefined {
    if (end.kind === 'exited' && end.exitCode !== null && this.exitCodes.has(end.exitCode)) return `exit code ${end.exitCode} is in pauseOn.exitCodes`;
    if (end.kind === 'cluster' && this.slurmStates.has(end.state)) return `Slurm's ${end.state} is in pauseOn.slurmStates`;
    if (watch?.match && (end.kind === 'exited' || end.kind === 'timed-out' || end.kind === 'cluster')) return `its output matched "${watch.match.pattern}": ${watch.match.line}`;
    return undefined;
  }

  /** The wait before the automatic resume that follows `autoResumes` earlier ones. */
  delayMs(autoResumes: number): number {
    const auto = this.autoResume!;
    return Math.round(auto.afterMs * auto.backoff ** autoResumes);
  }
}
