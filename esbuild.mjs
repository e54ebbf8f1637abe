// One build, two bundles: the runner/CLI (plain Node) and, later, the extension (vscode external).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Prefer packages' ES modules: esbuild can drop what is unused from them (zod's locales).
  mainFields: ['module', 'main'],
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // What each bundle holds, in dist/<bundle>.meta.json: test/unit/bundle.test.ts reads the extension's.
  metafile: true,
};

const builds = [
  // The CLI and runner; `ptask` (dist/runner.js, start.ts) runs it from V8's code cache.
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' },
  { ...common, entryPoints: ['src/cli/start.ts'], outfile: 'dist/runner.js', banner: { js: '#!/usr/bin/env node' } },
  // Only the extension may import vscode: the host provides it.
  {
    ...common,
    entryPoints: ['src/extension/extension.ts'],
    outfile: 'dist/extension.js',
    external: ['vscode'],
    // How long the bundle takes to load: activation time counts loading, as VS Code does.
    banner: { js: 'globalThis.__pausableTasksLoad = { start: performance.now() };' },
    footer: { js: 'globalThis.__pausableTasksLoad.end = performance.now();' },
  },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  const results = await Promise.all(builds.map((options) => esbuild.build(options)));
  results.forEach(({ metafile }, i) => writeFileSync(builds[i].outfile.replace(/\.js$/, '.meta.json'), JSON.stringify(metafile)));
  // The JSON Schema of task files, generated from the zod schema that the runner validates with.
  writeFileSync('dist/task.schema.json', execFileSync(process.execPath, ['dist/runner.js', '__schema']));
}
