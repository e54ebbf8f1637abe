// `npm run test:electron`: the extension suites under @vscode/test-cli in a desktop VS Code it
// downloads (this project's CI cannot download one: `npm test` runs the same suites in code-server,
// see test/vscode/README.md). Each suite gets a fresh workspace, made as the code-server runs make it.
import { createRequire } from 'node:module';
import { defineConfig } from '@vscode/test-cli';

const require = createRequire(import.meta.url);
const { makeWorkspace } = require('./out/test/vscode/workspaces.js'); // bundled by test/vscode/build.mjs
const suite = (label, file, trusted = true) => ({
  label,
  files: `out/test/vscode/suite/${file}`,
  version: process.env.VSCODE_VERSION ?? 'stable',
  workspaceFolder: makeWorkspace(label),
  launchArgs: ['--disable-extensions', ...(trusted ? ['--disable-workspace-trust'] : [])],
  mocha: { ui: 'bdd', timeout: 60_000 },
});

export default defineConfig([suite('extension', 'extension.test.js'), suite('tasks', 'tasks.test.js'), suite('restricted', 'restricted.test.js', false)]);
