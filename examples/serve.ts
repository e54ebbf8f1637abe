// `npm start`: the example workspace in a real VS Code, served by code-server on 127.0.0.1 with
// this folder's extension loaded, for anyone without a desktop VS Code. Prints the address to
// open; Ctrl+C stops the server and everything it started.
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { CODE_SERVER } from '../test/vscode/harness';

const REPO = resolve(__dirname, '..');
const WORKSPACE = join(REPO, 'examples', 'demo');
const STATE = join(REPO, '.vscode-test', 'serve'); // settings and UI state, kept between runs

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer().once('error', () => res(false)).listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

async function main(): Promise<void> {
  // code-server would take $PORT over --bind-addr: the port is ours to choose, on 127.0.0.1 only.
  const { PORT, ...env } = process.env;
  execFileSync('bash', [join(REPO, '.ci/install-code-server.sh')], { stdio: 'inherit', env: { ...env, PTASKS_NO_BROWSER: '1' } });
  const wanted = Number(PORT ?? 8080);
  const port = (await portFree(wanted)) ? wanted : 0;
  const server = spawn(
    CODE_SERVER,
    ['--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--user-data-dir', join(STATE, 'user-data'), '--extensions-dir', join(STATE, 'extensions'),
      '--config', join(STATE, 'config.yaml'), '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', WORKSPACE],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, XDG_DATA_HOME: join(STATE, 'data') } },
  );
  const stop = () => {
    try {
      process.kill(-server.pid!, 'SIGTERM');
    } catch {
      // gone already
    }
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  let output = '';
  let printed = false;
  const onOutput = (d: Buffer) => {
    output += d;
    const listening = /HTTP server listening on (http:\/\/[^\s/]+)/.exec(output);
    if (!listening || printed) return;
    printed = true;
    const base = listening[1];
    const payload = JSON.stringify([['extensionDevelopmentPath', `vscode-remote://${base.replace('http://', '')}${REPO}`]]);
    console.log(`\nPausable Tasks is ready. Open this in your browser (the example workspace, with the extension from this folder):\n`);
    console.log(`  ${base}/?folder=${encodeURIComponent(WORKSPACE)}&payload=${encodeURIComponent(payload)}\n`);
    console.log(`Then click the Pausable Tasks icon in the activity bar: run 'welcome', pause it, open its checkpoint, resume it.`);
    console.log('Press Ctrl+C to stop.');
  };
  server.stdout!.on('data', onOutput);
  server.stderr!.on('data', onOutput);
  const code = await new Promise<number>((res) => server.once('exit', (c) => res(c ?? 0)));
  stop(); // whatever the server left in its group
  if (code !== 0 && !printed) console.error(output);
  console.log('Stopped.');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
