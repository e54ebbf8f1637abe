// The workspaces the extension suites open: real tasks whose steps are tiny fixture scripts.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const FIXTURES = resolve(__dirname, '../fixtures');
const node = (script: string, ...args: string[]) => [`node ${JSON.stringify(join(FIXTURES, script))}`, ...args].join(' ');

export function makeWorkspace(name: string): string {
  const root = mkdtempSync(join(tmpdir(), `ptasks-${name}-`));
  const tasks = join(root, '.tasks');
  mkdirSync(tasks);
  const env = { MARKS: join(root, 'marks.txt'), GATE: join(root, 'gate') };
  const define = (id: string, def: object) => writeFileSync(join(tasks, `${id}.json`), JSON.stringify(def, null, 2));
  define('quick', { name: 'Two quick steps', env, steps: [{ id: 'one', run: node('mark.js', 'one', '200') }, { id: 'two', run: node('mark.js', 'two', '200') }] });
  define('gated', {
    name: 'Waits for a gate file',
    env,
    steps: [{ id: 'wait', run: node('gate.js', 'wait') }, { id: 'then', run: node('mark.js', 'then', '300') }, { id: 'last', run: node('mark.js', 'last') }],
  });
  define('long', { name: 'A step that runs until stopped', env, steps: [{ id: 'forever', run: node('forever.js') }, { id: 'after', run: 'true' }] });
  // Item c fails (its input is "gone"): Skip Item lets the step complete without it.
  define('batch', {
    name: 'Three items, one failing',
    steps: [{ id: 'items', forEach: { items: ['a', 'b', 'c'] }, continueOnError: true, run: 'if [ "$ITEM" = c ]; then echo "c is gone" >&2; exit 3; fi' }, { id: 'after', run: 'true' }],
  });
  // Prints, waits for the gate, prints, waits for gate.after; then a second step prints and waits for gate.then.
  define('chatty', { name: 'Prints, then waits for a gate', env, steps: [{ id: 'wait', run: `echo hello-from-the-step; ${node('gate.js', 'chatty')}; echo after-the-gate; GATE="$GATE.after" ${node('gate.js', 'after')}` }, { id: 'then', run: `echo second-step; GATE="$GATE.then" ${node('gate.js', 'then')}; echo then-done` }] });
  // A run to draw (the browser test pauses it in its items, then resumes it): the README's picture.
  define('picture', {
    name: 'Fetch, nine items three at once, report',
    env,
    steps: [
      { id: 'fetch', run: 'sleep 0.3' },
      // The first three wait for the gate: the pause the test makes is 'pausing' until it opens,
      // whenever it lands (with later items gated it could land while three quick ones ran, and
      // pass through 'pausing' faster than the tree shows it).
      { id: 'embed', run: 'sleep 0.4; [ "$ITEM" -gt 3 ] || while [ ! -f "$GATE.picture" ]; do sleep 0.05; done', forEach: { items: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, concurrency: 3 },
      { id: 'report', run: 'sleep 0.2' },
    ],
  });
  writeFileSync(join(tasks, 'broken.json'), JSON.stringify({ steps: [{ id: 'one', run: 'true' }, { id: 'one', run: 'true' }] }, null, 2));
  return root;
}
