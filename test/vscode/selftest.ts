// Proves the harness: builds the host suites, runs the smoke suite against the fixture
// extension in code-server, exits 0 only if something passed and nothing failed.
//   node --import tsx test/vscode/selftest.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInCodeServer, TESTS_ENV } from './harness';

const here = __dirname;
const out = join(here, '../../out/test/vscode');
execFileSync(process.execPath, [join(here, 'build.mjs')], { stdio: 'inherit' });

async function main(): Promise<number> {
	const workspace = mkdtempSync(join(tmpdir(), 'ptasks-selftest-'));
	writeFileSync(join(workspace, 'marker.txt'), 'opened by the harness selftest\n');
	const started = Date.now();
	try {
		const result = await runInCodeServer({
			extensionPath: join(here, 'fixture-extension'),
			testsPath: join(out, 'hostRunner.js'),
			workspace,
			env: { [TESTS_ENV]: join(out, 'suite/smoke.test.js') },
		});
		console.log(JSON.stringify(result, null, 2));
		console.log(`selftest: ${result.passed} passed, ${result.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
		return result.passed > 0 && result.failed === 0 ? 0 : 1;
	} finally {
		rmSync(workspace, { recursive: true, force: true });
	}
}

main().then(code => { process.exitCode = code; }, (e: unknown) => {
	console.error(e);
	process.exitCode = 1;
});
