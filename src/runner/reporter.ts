/** Where a runner's messages go: the terminal in the foreground, runner.log when detached. */
export interface Reporter {
  info(message: string): void;
  error(message: string): void;
}

/** A failure that ends the runner before or outside a run, with its exit code (DESIGN.md section 4). */
export class RunnerError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}
