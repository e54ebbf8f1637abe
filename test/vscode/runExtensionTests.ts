// `npm run test:vscode`: the extension's suites inside a real VS Code (code-server, offline),
// in a trusted workspace, in a restricted one, and driven through the browser as a person would. Needs `npm run build` and
// .ci/install-code-server.sh first. Prints "N passed, N failed"; exits 1 on any failure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { clickThrough, SCREENSHOTS } from './browser';
import { join, resolve } from 'node:path';
import { runInCodeServer, TESTS_ENV, type TestResult } from './harness';
import { makeWorkspace } from './workspaces';

const REPO = resolve(__dirname, '../..');
const OUT = join(REPO, 'out/test/vscode');

async function suite(name: string, file: string, workspaceTrust: boolean, browser = false): Promise<TestResult> {
  const workspace = makeWorkspace(name);
  try {
    const result = await runInCodeServer({
      extensionPath: REPO,
      testsPath: join(OUT, 'hostRunner.js'),
      workspace,
      workspaceTrust,
      timeoutMs: 240_000,
      env: { [TESTS_ENV]: join(OUT, 'suite', file) },
      onPage: browser ? (page) => clickThrough(page, workspace) : undefined,
    });
    for (const f of result.failures) console.error(`✗ ${f.title}\n${f.error}\n`);
    console.log(`${name}: ${result.passed} passed, ${result.failed} failed`);
    return result;
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  execFileSync(process.execPath, [join(__dirname, 'build.mjs')], { stdio: 'inherit' });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const results = [
    await suite('extension', 'extension.test.js', false),
    await suite('restricted', 'restricted.test.js', true),
    await suite('browser', 'ui.test.js', false, true),
  ];
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
