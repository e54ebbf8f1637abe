export const MAIN_HELP = `ptask: run long multi-step tasks that you can pause, resume and interrupt without losing work

Usage: ptask <command> [options]

Tasks are JSON files in .tasks/ (one per task; the file name is the task id).

Commands:
  list [--json]                    every task with its status
  status <id> [--json] [--watch]   one task: status, current step, progress, last request (--watch: until it stops)
  logs <id> [<step>] [--follow]    a step's log (the one running by default); --follow: as it grows, step after step
  run <id> [--detach] [--fresh]    run a task from its first step (--fresh: discard earlier progress)
  resume <id> [--detach] [--force] go on from the checkpoint, by the plan if the definition changed (--force: keep every done step)
  pause <id> [--wait]              pause after the step in flight; the checkpoint is written
  interrupt <id> [--wait]          stop now: the step in flight is killed and runs again on resume
  pause-all | resume-all           pause every task (no task starts) / resume the tasks it paused
  reset <id>                       forget the progress; the task starts over on its next run
  plan <id> [--json] [--force]     what a resume would do with each step, and why (runs nothing)
  items <id> <step> [--failed]     the items of a forEach step: state, attempts, error (--json too)
  skip-item <id> <step> <index>    skip an item of a stopped task: the step completes without it
  retry-item <id> <step> <index>   run an item again from its first attempt, on resume
  init                             create .tasks/ with an example task to try

Common options:
  --root <dir>          the folder containing .tasks (default: the current folder)
  --tasks-folder <name> the tasks folder's name (default: .tasks)
  -h, --help            help for a command: ptask <command> --help
  -v, --version

Exit codes: 0 completed, or the request took effect; 1 failed; 2 paused; 3 another runner holds
the task; 4 interrupted; 64 bad usage or a request the task's state does not allow; 65 bad input
file (the file and the reason are printed).`;

const RUN_OPTIONS = `  --detach        start the runner in the background and return once it has started
  --poll-ms <n>   how often the control files are read while a step runs (default 100)
  --grace-ms <n>  time between SIGTERM and SIGKILL on interrupt (default 3000)`;

export const COMMAND_HELP: Record<string, string> = {
  list: `Usage: ptask list [--json]

Lists every task in .tasks/ with its status (idle, running, pausing, paused, interrupting,
interrupted, completed, failed, lost), steps done and what it is doing now. Invalid definitions
are listed with the reason. --json prints an array of the objects of 'ptask status --json'.`,
  status: `Usage: ptask status <id> [--json] [--watch]

--watch prints it again whenever it changes, until no runner runs the task. Shows one task: status, steps done, the step in flight and its progress, why it stopped, and the
last control request and whether the runner has applied it. "lost" means the task was running
but its runner is gone (crash, reboot): resume it. --json prints one object with id, status,
stepsDone, stepsTotal, currentStep, progress, desired, requestedSeq, appliedSeq and more:
items (a forEach step's done/total/failed/running), resumeAt and autoResume (a task paused by a
failure that resumes by itself), waiting (its runner is alive, waiting for resumeAt) and pid.`,
  run: `Usage: ptask run <id> [--detach] [--fresh]

Runs the task from its first step, in the foreground (progress printed; Ctrl+C pauses after the
step in flight, a second Ctrl+C interrupts) or, with --detach, in the background. A task that is
paused, interrupted, failed or lost keeps its progress: resume it, or use --fresh to start over
(the old checkpoint stays under checkpoints/).

${RUN_OPTIONS}
  --fresh         discard the progress of an unfinished run and start over`,
  resume: `Usage: ptask resume <id> [--detach] [--force]

Goes on from the checkpoint: completed steps are skipped, the interrupted or failed step runs
again (its saved TASK_STEP_STATE handed back). Resuming a task that is pausing cancels the pause.
A task paused by a failure whose runner waits to resume it by itself is resumed now by that
runner (pause or interrupt it to cancel the wait instead).
If the definition changed since the checkpoint, resume refuses and says what changed.

${RUN_OPTIONS}
  --force         resume even though the definition changed (completed steps matched by id)`,
  pause: `Usage: ptask pause <id> [--wait [--timeout <seconds>]]

Asks the runner to pause: the step in flight finishes, the checkpoint is written, the runner
exits and frees everything. A step can pause sooner by watching TASK_PAUSE_REQUESTED.
--wait returns once the task is paused (exit 0), or has ended otherwise.`,
  interrupt: `Usage: ptask interrupt <id> [--wait [--timeout <seconds>]]

Stops the task now: the step in flight and all its processes get SIGTERM, then SIGKILL after the
grace period. Everything finished before is kept; resume runs the interrupted step again.
--wait returns once the process tree is gone and the task is interrupted.`,
  'pause-all': `Usage: ptask pause-all

Turns on pause all (.tasks/.control.json): every running task pauses after its step in flight,
and no task starts until 'ptask resume-all'.`,
  'resume-all': `Usage: ptask resume-all

Turns pause all off and resumes, in the background, exactly the tasks that pause all paused.`,
  init: `Usage: ptask init

Creates .tasks/ in the current folder (or --root) with example.json, a task of three steps of a
few seconds each, and prints how to run, pause and resume it.`,
  reset: `Usage: ptask reset <id>

Forgets the task's progress (state, checkpoint, logs, step files): its next run starts from the
first step. The last checkpoint is kept under checkpoints/. Not allowed while a runner runs it.`,
  plan: `Usage: ptask plan <id> [--json] [--force]

What 'ptask resume <id>' would do with each step, and why, without running anything: done (kept,
or up to date by its inputs and outputs), rerun (a done step whose run, cwd, env, needs, forEach or
executor changed since it ran, and every step that needs it) or run (not done yet, or new, with
the steps it comes after, and why it is not up to date). Steps come in an order that respects
their needs. A task that cannot be resumed shows what a run would do.
--force: as 'resume --force' would, every done step kept by its id. --json prints
{ "id", "status", "mode", "steps": [ { "id", "action", "reason" } ] }.`,
  logs: `Usage: ptask logs <id> [<step>] [--follow]

Prints a step's log: the step named, else the one running now, else the one the run stopped in,
else the last that ran. --follow prints what is added as the step runs and, without a step named,
moves on to each next step's log as it starts (a "==> <step> <==" line before each), until no
runner runs the task. Each attempt starts with a "=== <step> attempt <n> ===" line; a forEach
step's items share its log, each line prefixed "[<index>] ".`,
  items: `Usage: ptask items <id> <step> [--failed] [--json]

The items of a forEach step, one row each: index, state (done, failed, skipped, to run), attempts
and error of a failed one, the item. Read from the checkpoint: it answers for a running, paused,
failed or interrupted task alike. --failed: the failed ones only. --json: the counts and the rows.
Each item's lines are in the step's log, prefixed "[<index>] ".`,
  'skip-item': `Usage: ptask skip-item <id> <step> <index>

Marks an item of the forEach step the task stopped in as skipped (its input went away, say): it
does not run, and the step completes without it on resume. Only while no runner runs the task
(paused, failed, interrupted, lost). The index is the one 'ptask items' shows.`,
  'retry-item': `Usage: ptask retry-item <id> <step> <index>

Makes an item of the forEach step the task stopped in run again on resume, from its first
attempt: a done item whose result was bad, a failed one whose retries are used up, a skipped one.
Only while no runner runs the task.`,
};
