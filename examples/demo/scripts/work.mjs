// A step that works for a few seconds, reporting progress: `node work.mjs <name> <seconds>`.
const [name = 'work', seconds = '2'] = process.argv.slice(2);
const total = Number(seconds) * 4;
for (let i = 1; i <= total; i++) {
  await new Promise((r) => setTimeout(r, 250));
  console.log(`::progress ${i}/${total}`);
}
console.log(`${name} done`);
