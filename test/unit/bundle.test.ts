import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

// esbuild's metafile of the extension bundle (esbuild.mjs writes it; npm test builds first).
const META = path.join(__dirname, '../../dist/extension.meta.json');

describe('the extension bundle', () => {
  let inputs: string[];
  before(() => {
    if (!fs.existsSync(META)) assert.fail(`${META} is missing: run \`npm run build\` first`);
    inputs = Object.keys(JSON.parse(fs.readFileSync(META, 'utf8')).inputs);
  });

  it('holds no module of the runner or the CLI', () => {
    // The extension starts the runner as its own process (dist/runner.js), never in the extension host.
    assert.deepEqual(inputs.filter((file) => /^src\/(runner|cli)\//.test(file)), []);
  });

  it('holds the extension and the protocol (so an empty metafile cannot pass)', () => {
    assert.ok(inputs.some((file) => file.startsWith('src/extension/')));
    assert.ok(inputs.some((file) => file.startsWith('src/protocol/')));
  });
});
