// Fails twice, then succeeds: shows retries with a growing delay. Its count lives in the step state.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const file = process.env.TASK_STEP_STATE;
const tries = (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0) + 1;
writeFileSync(file, String(tries));
if (tries < 3) {
  console.error(`429 rate limited (try ${tries})`);
  process.exit(1);
}
console.log(`succeeded on try ${tries}`);
