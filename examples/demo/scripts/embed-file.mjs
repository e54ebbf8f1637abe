// One item of the `batch` task: "embeds" the lines of one file (ITEM), keeping how far it got in
// TASK_STEP_STATE (one state file per item). It pauses in the middle of the file when
// TASK_PAUSE_REQUESTED appears (exit 75), and the first time it reaches chapter-05 it answers like
// a rate-limited API (HTTP 429), which pauses the whole task until pauseOn.autoResume resumes it.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
const file = process.argv[2];
const stateFile = process.env.TASK_STEP_STATE;
const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { next: 0 };
const save = () => {
  // Atomically, so that a kill never leaves half a state.
  writeFileSync(`${stateFile}.tmp`, JSON.stringify(state));
  renameSync(`${stateFile}.tmp`, stateFile);
};
if (state.next > 0) console.log(`${file}: resuming at line ${state.next + 1}`);
while (state.next < lines.length) {
  if (file.endsWith('chapter-05.txt') && state.next === 2 && !state.rateLimited) {
    state.rateLimited = true;
    save();
    console.error('HTTP 429 Too Many Requests: slow down');
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 150)); // "embed" one line
  state.next++;
  save();
  if (state.next < lines.length && existsSync(process.env.TASK_PAUSE_REQUESTED)) {
    console.log(`${file}: pausing after line ${state.next}`);
    process.exit(75);
  }
}
console.log(`${file}: ${lines.length} lines embedded`);
