// A long step that keeps its own progress in TASK_STEP_STATE: interrupted or paused, it resumes
// where it stopped. It also pauses mid-step when TASK_PAUSE_REQUESTED appears (exit code 75).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
const total = Number(process.argv[2] ?? 20);
const stateFile = process.env.TASK_STEP_STATE;
const saved = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { next: 0 };
if (saved.next > 0) console.log(`resuming at item ${saved.next}`);
for (let i = saved.next; i < total; i++) {
  await new Promise((r) => setTimeout(r, 300)); // "embed" item i
  // Write the state atomically, so a kill never leaves half of it.
  writeFileSync(`${stateFile}.tmp`, JSON.stringify({ next: i + 1 }));
  renameSync(`${stateFile}.tmp`, stateFile);
  console.log(`::progress ${i + 1}/${total}`);
  if (existsSync(process.env.TASK_PAUSE_REQUESTED)) {
    console.log(`pausing after item ${i}`);
    process.exit(75);
  }
}
console.log('all items embedded');
