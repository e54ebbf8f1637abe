// Bundles the in-host test runner and the extension-host suites to CommonJS, which is what
// the extension host `require`s: test/vscode/{hostRunner,suite/**/*.test}.ts -> out/test/vscode/.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(join(here, 'suite'), { recursive: true, encoding: 'utf8' })
	.filter(f => f.endsWith('.test.ts') || f.endsWith('.bench.ts'))
	.map(f => join(here, 'suite', f));

await esbuild.build({
	// workspaces.js too: .vscode-test.mjs (npm run test:electron) makes the suites' workspaces with it.
	entryPoints: [join(here, 'hostRunner.ts'), join(here, 'workspaces.ts'), ...suites],
	outbase: here,
	outdir: join(here, '../../out/test/vscode'),
	bundle: true,
	platform: 'node',
	format: 'cjs',
	target: 'node20',
	external: ['vscode', 'mocha'],
	sourcemap: 'inline',
	logLevel: 'warning',
});
