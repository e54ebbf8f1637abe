// A step that writes outputs: later steps get them as TASK_OUTPUT_ANALYSE_<KEY>.
import { writeFileSync } from 'node:fs';
await new Promise((r) => setTimeout(r, 1500));
const words = 1234;
writeFileSync(process.env.TASK_STEP_OUTPUT, JSON.stringify({ words, language: 'en' }));
console.log(`counted ${words} words`);
