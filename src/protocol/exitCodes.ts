/** The exit codes of `ptask` and of the runner (DESIGN.md section 4). */
export const EXIT = {
  completed: 0,
  failed: 1,
  paused: 2,
  locked: 3,
  interrupted: 4,
  usage: 64,
  badInput: 65,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
