// `npm run test:vscode`: the extension's suites inside a real VS Code (code-server, offline),
// in a trusted workspace, in a restricted one, driven through the browser as a person would, and
// installed from its .vsix. Needs `npm run build` and
// .ci/install-code-server.sh first. Prints "N passed, N failed"; exits 1 on any failure.
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
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

/** `npm start` prints an address that serves the workbench, and Ctrl+C stops it cleanly. */
async function checkStart(): Promise<TestResult> {
  const fail = (error: string): TestResult => ({ passed: 0, failed: 1, failures: [{ title: 'npm start', error }] });
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'examples/serve.ts')], { cwd: REPO, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  try {
    const deadline = Date.now() + 90_000;
    let url: string | undefined;
    while (!(url = /(http:\/\/127\.0\.0\.1:\d+\/\?folder=\S+)/.exec(out)?.[1])) {
      if (Date.now() > deadline || child.exitCode !== null) return fail(`no address printed:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!url.includes(`:${port}/`)) return fail(`served on another port than PORT=${port}: ${url}`);
    const page = await fetch(url);
    if (!page.ok || !(await page.text()).includes('workbench')) return fail(`${url} answered ${page.status}`);
    child.kill('SIGINT');
    const stopped = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (stopped === 'timeout') return fail('Ctrl+C did not stop it within 15 s');
    if (!/Stopped\./.test(out)) return fail(`no clean stop:\n${out}`);
    if (await fetch(url).then(() => true, () => false)) return fail('the server still answers after Ctrl+C');
    console.log('npm start: 1 passed, 0 failed');
    return { passed: 1, failed: 0, failures: [] };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<number> {
  execFileSync(process.execPath, [join(__dirname, 'build.mjs')], { stdio: 'inherit' });
  mkdirSync(SCREENSHOTS, { recursive: true });
  // PTASKS_SUITES=tasks,browser: only these (while working on one); all of them otherwise.
  const only = process.env.PTASKS_SUITES?.split(',');
  const wanted = (name: string) => !only || only.includes(name);
  const results = [];
  if (wanted('extension')) results.push(await suite('extension', 'extension.test.js'));
  if (wanted('tasks')) results.push(await suite('tasks', 'tasks.test.js'));
  if (wanted('restricted')) results.push(await suite('restricted', 'restricted.test.js', { workspaceTrust: true }));
  if (wanted('browser')) results.push(await suite('browser', 'ui.test.js', { browser: true }));
  if (wanted('installed')) results.push(await suite('installed', 'installed.test.js', { installed: true }));
  if (wanted('start')) results.push(await checkStart());
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

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}
