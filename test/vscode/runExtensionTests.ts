// `npm run test:vscode`: the extension's suites inside a real VS Code (code-server, offline),
// in a trusted workspace, in a restricted one, driven through the browser as a person would, and
// installed from its .vsix. Needs `npm run build` and
// .ci/install-code-server.sh first. Prints "N passed, N failed"; exits 1 on any failure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { clickThrough, SCREENSHOTS } from './browser';
import { join, resolve } from 'node:path';
import { CODE_SERVER, runInCodeServer, TESTS_ENV, type TestResult } from './harness';
import { makeWorkspace } from './workspaces';

const REPO = resolve(__dirname, '../..');
const OUT = join(REPO, 'out/test/vscode');

interface SuiteOptions {
  workspaceTrust?: boolean;
  browser?: boolean;
  /** Test the extension installed from its .vsix, not the work tree. */
  installed?: boolean;
}

async function suite(name: string, file: string, opts: SuiteOptions = {}): Promise<TestResult> {
  const workspace = makeWorkspace(name);
  const extensionsDir = opts.installed ? installVsix() : undefined;
  try {
    const result = await runInCodeServer({
      // With the .vsix installed, the development extension is the harness's empty fixture.
      extensionPath: opts.installed ? join(__dirname, 'fixture-extension') : REPO,
      extensionsDir,
      testsPath: join(OUT, 'hostRunner.js'),
      workspace,
      workspaceTrust: opts.workspaceTrust,
      timeoutMs: 240_000,
      env: { [TESTS_ENV]: join(OUT, 'suite', file) },
      onPage: opts.browser ? (page) => clickThrough(page, workspace) : undefined,
    });
    for (const f of result.failures) console.error(`✗ ${f.title}\n${f.error}\n`);
    console.log(`${name}: ${result.passed} passed, ${result.failed} failed`);
    return result;
  } finally {
    rmSync(workspace, { recursive: true, force: true });
    if (extensionsDir) rmSync(extensionsDir, { recursive: true, force: true });
  }
}

/** Package the built extension as `npm run package` does, and install it into a scratch extensions folder. */
function installVsix(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ptasks-vsix-'));
  const vsix = join(dir, 'pausable-tasks.vsix');
  const vsce = join(REPO, 'node_modules/.bin/vsce');
  execFileSync(vsce, ['package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '--out', vsix], { cwd: REPO, stdio: 'ignore' });
  const extensions = join(dir, 'extensions');
  execFileSync(CODE_SERVER, ['--extensions-dir', extensions, '--user-data-dir', join(dir, 'user-data'), '--install-extension', vsix], { stdio: 'ignore', env: { ...process.env, XDG_DATA_HOME: join(dir, 'data') } });
  return extensions;
}

async function main(): Promise<number> {
  execFileSync(process.execPath, [join(__dirname, 'build.mjs')], { stdio: 'inherit' });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const results = [
    await suite('extension', 'extension.test.js'),
    await suite('restricted', 'restricted.test.js', { workspaceTrust: true }),
    await suite('browser', 'ui.test.js', { browser: true }),
    await suite('installed', 'installed.test.js', { installed: true }),
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
