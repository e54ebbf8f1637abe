// The tests module that the extension host `require`s (extensionTestsPath) and whose `run()` it
// calls. The host's exit code does not reach the harness under code-server, so the mocha
// result goes to the JSON file named by PTASKS_VSCODE_RESULT (set on code-server, inherited by
// the remote extension host). Bundled to CommonJS by build.mjs; mocha stays external.
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

interface Failure { title: string; error: string }

export async function run(): Promise<void> {
	// Set by harness.ts (code-server); @vscode/test-electron reads the thrown error instead.
	const resultFile = process.env.PTASKS_VSCODE_RESULT;
	let result: { passed: number; failed: number; failures: Failure[] };
	try {
		result = await runMocha(testFiles());
	} catch (e) {
		result = { passed: 0, failed: 1, failures: [{ title: 'hostRunner', error: String((e as Error).stack ?? e) }] };
	}
	if (resultFile) {
		// Write then rename, so the harness never reads a half-written file.
		writeFileSync(`${resultFile}.tmp`, JSON.stringify(result, null, 2));
		renameSync(`${resultFile}.tmp`, resultFile);
	}
	for (const f of result.failures) console.error(`${f.title}\n${f.error}`);
	if (result.failed > 0) throw new Error(`${result.failed} test(s) failed`);
}

/** PTASKS_VSCODE_TESTS (paths, separated like PATH), else every suite/**\/*.test.js beside this file. */
function testFiles(): string[] {
	const listed = process.env.PTASKS_VSCODE_TESTS;
	if (listed) return listed.split(delimiter).filter(Boolean).map(f => resolve(f));
	const suite = join(__dirname, 'suite');
	return readdirSync(suite, { recursive: true, encoding: 'utf8' })
		.filter(f => f.endsWith('.test.js'))
		.sort()
		.map(f => join(suite, f));
}

function runMocha(files: string[]): Promise<{ passed: number; failed: number; failures: Failure[] }> {
	// mocha 12 is an ES module; Node 20's require(esm) hands back its namespace.
	const mod = require('mocha');
	const Mocha: typeof import('mocha') = mod.default ?? mod;
	const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 20_000 });
	files.forEach(f => mocha.addFile(f));
	const failures: Failure[] = [];
	let passed = 0;
	return new Promise(done => {
		mocha.run()
			.on('pass', () => passed++)
			.on('fail', (test, err: Error) => failures.push({ title: test.fullTitle(), error: String(err.stack ?? err) }))
			.on('end', () => done({ passed, failed: failures.length, failures }));
	});
}
