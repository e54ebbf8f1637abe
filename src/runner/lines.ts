/** An attempt's output as lines: `::progress` reports, and pauseOn's matching. */
import { StringDecoder } from 'node:string_decoder';

const PROGRESS = /^::progress (\d+)\/(\d+)\s*$/;
/** Longer lines are handed on in pieces: memory stays bounded whatever a step prints. */
const MAX_LINE = 4096;

/**
 * `::progress <done>/<total>`, or undefined. Only what state.json can hold: both safe non-negative
 * integers (400 digits would be Infinity, written as null), and `done` at most `total` (7/5 is 5/5).
 */
export function parseProgress(line: string): { done: number; total: number } | undefined {
  const m = PROGRESS.exec(line);
  if (!m) return undefined;
  const done = Number(m[1]);
  const total = Number(m[2]);
  if (!Number.isSafeInteger(done) || !Number.isSafeInteger(total) || done < 0 || total < 0) return undefined;
  return { done: Math.min(done, total), total };
}

/** Splits a byte stream into lines, UTF-8 safe across chunks, without a trailing "\r". */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    const text = this.partial + this.decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.emit(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.slice(start);
    while (this.partial.length > MAX_LINE) {
      this.onLine(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
  }

  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.emit(rest);
  }

  private emit(line: string): void {
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}
