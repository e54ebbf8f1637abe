// Runs an extension-host test suite inside a real VS Code with no internet: code-server
// (installed by .ci/install-code-server.sh) serves the workbench, Debian's Chromium opens it
// with the extension under development, and the remote extension host `require`s the tests
// module and calls its `run()`. The result comes back through a JSON file (see hostRunner.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';

export interface TestResult {
	passed: number;
	failed: number;
	failures: { title: string; error: string }[];
}

export interface RunOptions {
	/** Folder with the extension's package.json. */
	extensionPath: string;
	/** The compiled (CommonJS) tests module that exports `run()`, e.g. out/test/vscode/hostRunner.js. */
	testsPath: string;
	/** Folder opened as the workspace. */
	workspace: string;
	timeoutMs?: number;
	/** Where the host writes its result; a temp file by default. */
	resultFile?: string;
	/** Saves `workbench.png` of the final state there. */
	screenshotDir?: string;
	/** Runs once the workbench is open, alongside the host suite; a throw counts as a failure. */
	onPage?: (page: Page, baseUrl: string) => Promise<void>;
	/** Keep Workspace Trust on (the workspace opens restricted). Off by default. */
	workspaceTrust?: boolean;
	/** Extra environment for code-server; the remote extension host inherits it. */
	env?: Record<string, string>;
	/** An extensions folder to use (e.g. one a .vsix was installed into); a fresh temp one by default. */
	extensionsDir?: string;
}

/** Read by hostRunner.ts in the extension host. */
export const RESULT_ENV = 'PTASKS_VSCODE_RESULT';
export const TESTS_ENV = 'PTASKS_VSCODE_TESTS';

const REPO = resolve(__dirname, '../..');
export const CODE_SERVER = join(REPO, '.vscode-test/code-server/node_modules/.bin/code-server');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
	'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const POLL_MS = 100;

export async function runInCodeServer(opts: RunOptions): Promise<TestResult> {
	if (!existsSync(CODE_SERVER)) {
		throw new Error(`${CODE_SERVER} is missing: run .ci/install-code-server.sh first`);
	}
	const timeoutMs = opts.timeoutMs ?? 120_000;
	const deadline = Date.now() + timeoutMs;
	const tmp = mkdtempSync(join(tmpdir(), 'ptasks-vscode-'));
	const resultFile = resolve(opts.resultFile ?? join(tmp, 'result.json'));
	rmSync(resultFile, { force: true });
	const logFile = join(tmp, 'harness.log');
	const log = createWriteStream(logFile);
	const groups: number[] = []; // process groups to kill, also if we are interrupted
	const killAll = () => groups.forEach(pgid => kill(-pgid, 'SIGKILL'));
	const onSignal = () => process.exit(130);
	process.on('exit', killAll).once('SIGINT', onSignal).once('SIGTERM', onSignal);

	let server: ChildProcess | undefined;
	let browserServer: Awaited<ReturnType<typeof chromium.launchServer>> | undefined;
	let page: Page | undefined;
	let ok = false;
	try {
		const port = await freePort();
		const baseUrl = `http://127.0.0.1:${port}`;
		server = spawn(CODE_SERVER, [
			'--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--config', join(tmp, 'config.yaml'),
			'--user-data-dir', join(tmp, 'user-data'), '--extensions-dir', opts.extensionsDir ?? join(tmp, 'extensions'),
			'--disable-telemetry', '--disable-update-check',
			...(opts.workspaceTrust ? [] : ['--disable-workspace-trust']),
			resolve(opts.workspace),
		], {
			detached: true, // own process group: the extension host and pty host die with it
			stdio: ['ignore', 'pipe', 'pipe'],
			// XDG_DATA_HOME: code-server's own logs and heartbeat go to tmp, not ~/.local/share.
			env: { ...process.env, XDG_DATA_HOME: join(tmp, 'data'), ...opts.env, [RESULT_ENV]: resultFile },
		});
		groups.push(server.pid!);
		server.stdout!.on('data', d => log.write(`[server] ${d}`));
		server.stderr!.on('data', d => log.write(`[server] ${d}`));
		const serverExited = new Promise<never>((_, reject) =>
			server!.once('exit', code => reject(new Error(`code-server exited early (code ${code})`))));
		serverExited.catch(() => {}); // only raced below

		await Promise.race([serverExited, pollUntil(deadline, 'code-server to answer HTTP', async () =>
			(await fetch(`${baseUrl}/healthz`).catch(() => undefined))?.ok === true)]);

		browserServer = await chromium.launchServer({
			executablePath: CHROMIUM, args: CHROMIUM_ARGS,
			// Its crash database would otherwise land in ~/.config/chromium.
			env: { ...process.env, XDG_CONFIG_HOME: join(tmp, 'chromium-config'), XDG_CACHE_HOME: join(tmp, 'chromium-cache') },
			logger: { isEnabled: name => name === 'browser', log: (_n, _s, msg) => log.write(`[chromium] ${msg}\n`) },
		});
		groups.push(browserServer.process().pid!);
		const browser = await chromium.connect(browserServer.wsEndpoint());
		page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
		page.on('console', m => log.write(`[page:${m.type()}] ${m.text()}\n`));
		page.on('pageerror', e => log.write(`[page:error] ${e.stack ?? e}\n`));

		const remote = (path: string) => `vscode-remote://127.0.0.1:${port}${resolve(path)}`;
		const payload = [
			['extensionDevelopmentPath', remote(opts.extensionPath)],
			['extensionTestsPath', remote(opts.testsPath)],
			['skipWelcome', 'true'],
		];
		const url = `${baseUrl}/?folder=${encodeURIComponent(resolve(opts.workspace))}` +
			`&payload=${encodeURIComponent(JSON.stringify(payload))}`;
		await page.goto(url, { timeout: Math.max(1, deadline - Date.now()) });

		let pageDone = !opts.onPage;
		let pageError: unknown;
		void opts.onPage?.(page, baseUrl).catch(e => { pageError = e ?? 'onPage failed'; }).finally(() => { pageDone = true; });
		await Promise.race([serverExited, pollUntil(deadline, `the result file ${resultFile} and onPage`,
			async () => pageDone && existsSync(resultFile))]);
		const result = JSON.parse(readFileSync(resultFile, 'utf8')) as TestResult;
		if (pageError !== undefined) {
			result.failed++;
			result.failures.push({ title: 'onPage', error: String((pageError as Error).stack ?? pageError) });
		}
		ok = result.failed === 0 && result.passed > 0;
		return result;
	} finally {
		if (page && opts.screenshotDir) {
			mkdirSync(opts.screenshotDir, { recursive: true });
			await page.screenshot({ path: join(opts.screenshotDir, 'workbench.png'), timeout: 5_000 }).catch(() => {});
		}
		await browserServer?.close().catch(() => {});
		if (server) await stop(server);
		killAll();
		process.off('exit', killAll).off('SIGINT', onSignal).off('SIGTERM', onSignal);
		await new Promise(done => log.end(done));
		if (!ok) process.stderr.write(`--- code-server and browser log (${logFile}) ---\n${tail(readFileSync(logFile, 'utf8'))}\n---\n`);
		rmSync(tmp, { recursive: true, force: true });
	}
}

/** SIGTERM to the whole group; SIGKILL if it has not exited after a 5 s grace period. */
async function stop(child: ChildProcess): Promise<void> {
	if (child.exitCode === null && child.signalCode === null) {
		const exited = new Promise(done => child.once('exit', done));
		kill(-child.pid!, 'SIGTERM');
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([exited, new Promise(done => { timer = setTimeout(done, 5_000); })]);
		clearTimeout(timer);
	}
	kill(-child.pid!, 'SIGKILL'); // stragglers that outlive their parent stay in the group
}

function kill(pid: number, signal: NodeJS.Signals) {
	try { process.kill(pid, signal); } catch { /* already gone */ }
}

async function pollUntil(deadline: number, what: string, done: () => Promise<boolean>): Promise<void> {
	while (!(await done())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise(r => setTimeout(r, POLL_MS));
	}
}

function freePort(): Promise<number> {
	return new Promise((res, rej) => {
		const srv = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
			const { port } = srv.address() as { port: number };
			srv.close(() => res(port));
		});
	});
}

function tail(text: string, lines = 200): string {
	return text.split('\n').slice(-lines).join('\n');
}
