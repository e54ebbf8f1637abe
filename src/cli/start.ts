/**
 * `ptask` (dist/runner.js): runs the CLI's bundle (dist/cli.js, main.ts) from V8's code cache,
 * kept in the user's cache folder, so that a start does not compile the 450 KB bundle again. That
 * is about 20 ms of the 100 ms a start takes here (docs/benchmarks.md). Node 22 does this itself
 * (module.enableCompileCache); Node 20 does not.
 *
 * The cache is named by a hash of the bundle and of Node's version: V8 checks its own version and
 * the source's length, not its text, so a bundle rebuilt to the same length must not meet an old
 * cache. Whatever goes wrong with the cache (no folder, a full disk, a cache V8 rejects) leaves
 * the bundle compiled as it would be without one.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { wrap } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { cacheDir } from '../protocol/cacheDir';
import { caCertsBack } from '../protocol/caCerts';
import { isPidAlive } from '../protocol/processInfo';

// Set aside by what started this runner (caCerts.ts): back before anything reads the environment.
caCertsBack();

const bundle = path.join(__dirname, 'cli.js');
const source = fs.readFileSync(bundle, 'utf8');
const cacheFile = path.join(cacheDir(), `cli-${createHash('sha256').update(`${process.version} ${process.arch}\n`).update(source).digest('hex').slice(0, 16)}.v8`);
const cachedData = readCache();
const script = new vm.Script(wrap(source), { filename: bundle, cachedData });
// Made at exit, not now: by then it holds the functions this run compiled, not only the top level.
if (!cachedData || script.cachedDataRejected) process.once('exit', keepCache);
// This module's own `module` and `require`: to the bundle, it is the main module (main.ts asks).
script.runInThisContext()(module.exports, require, module, bundle, __dirname);

function readCache(): Buffer | undefined {
  try {
    return fs.readFileSync(cacheFile);
  } catch {
    return undefined; // none yet
  }
}

/** Writes the cache under a temporary name and renames it; drops the caches of other bundles, and what a killed start left. */
function keepCache(): void {
  const temporary = `${cacheFile}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(temporary, script.createCachedData());
    fs.renameSync(temporary, cacheFile);
    for (const name of fs.readdirSync(path.dirname(cacheFile))) {
      // Another bundle's, or one a start killed as it wrote it left (a live one's is still being written).
      const writer = /^cli-[0-9a-f]{16}\.v8\.(\d+)\.tmp$/.exec(name)?.[1];
      const stale = writer ? !isPidAlive(Number(writer)) : /^cli-[0-9a-f]{16}\.v8$/.test(name) && name !== path.basename(cacheFile);
      if (stale) fs.rmSync(path.join(path.dirname(cacheFile), name), { force: true });
    }
  } catch {
    try {
      fs.rmSync(temporary, { force: true });
    } catch {
      // no folder to have written it in
    }
  }
}
