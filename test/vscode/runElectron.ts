// `npm run test:electron`: the same extension suites under @vscode/test-electron, for machines
// that can download VS Code (this project's CI cannot: it runs them under code-server instead).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { TESTS_ENV } from './harness';
import { makeWorkspace } from './workspaces';

const REPO = resolve(__dirname, '../..');
const OUT = join(REPO, 'out/test/vscode');

async function main(): Promise<void> {
  execFileSync(process.execPath, [join(__dirname, 'build.mjs')], { stdio: 'inherit' });
  for (const [name, file, trusted] of [['extension', 'extension.test.js', true], ['restricted', 'restricted.test.js', false]] as const) {
    const workspace = makeWorkspace(name);
    try {
      await runTests({
        version: process.env.VSCODE_VERSION ?? 'stable',
        extensionDevelopmentPath: REPO,
        extensionTestsPath: join(OUT, 'hostRunner.js'),
        extensionTestsEnv: { [TESTS_ENV]: join(OUT, 'suite', file) },
        launchArgs: [workspace, '--disable-extensions', ...(trusted ? ['--disable-workspace-trust'] : [])],
      });
    } finally {
      rmSync(workspace, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
