// One build, two bundles: the runner/CLI (plain Node) and, later, the extension (vscode external).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

// The ptask command: a shell script that starts dist/runner.js (it says why).
mkdirSync('dist', { recursive: true });
copyFileSync('src/cli/ptask.sh', 'dist/ptask');
chmodSync('dist/ptask', 0o755);

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  const results = await Promise.all(builds.map((options) => esbuild.build(options)));
  results.forEach(({ metafile }, i) => writeFileSync(builds[i].outfile.replace(/\.js$/, '.meta.json'), JSON.stringify(metafile)));
  for (const { outfile } of builds) namespacesAsTheyAre(outfile);
  // The JSON Schema of task files, generated from the zod schema that the runner validates with.
  writeFileSync('dist/task.schema.json', execFileSync(process.execPath, ['dist/runner.js', '__schema']));
}

/**
 * esbuild hands each bundled module that imports a Node module a copy of it (`__toESM`: a getter
 * for each of node:fs's hundred names), made at load: 70 copies, 8 ms of every ptask start. Our
 * imports of Node's modules are namespace imports (`import * as fs`), which the module object
 * serves as it is; a default import would read `.default`, so one fails the build. Padded to the
 * same length, so the source maps still hold.
 */
function namespacesAsTheyAre(file) {
  const text = readFileSync(file, 'utf8');
  const copies = /var ([\w$]+) = __toESM\((require\("node:(?:fs|path|os)"\))\);/g;
  for (const [, name] of text.matchAll(copies)) {
    if (new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\.default\\b`).test(text)) throw new Error(`${file}: ${name} is a default import of a Node module: import it as a namespace`);
  }
  writeFileSync(file, text.replace(copies, (whole, name, call) => `var ${name} = ${call};`.padEnd(whole.length)));
}
