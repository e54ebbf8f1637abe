/**
 * NODE_EXTRA_CA_CERTS, set aside while a runner starts. Node 20 reads and parses every
 * certificate the variable names before it runs a line of script: 60 ms of each start here (144
 * certificates in a usual bundle, where a start without them takes 35 ms). ptask makes no TLS
 * connection, so what starts a runner (the `ptask` command, dist/ptask; launch.ts) moves the
 * variable to SET_ASIDE, and the runner puts it back before it reads its environment
 * (start.ts): its steps see it exactly as it was set, and so does every process they start.
 */
export const CA_CERTS = 'NODE_EXTRA_CA_CERTS';
/** Also the name in dist/ptask (src/cli/ptask.sh). */
export const SET_ASIDE = 'PTASK_NODE_EXTRA_CA_CERTS';

/** A copy of `env` for a runner to start with: NODE_EXTRA_CA_CERTS, if it is there, under SET_ASIDE. */
export function caCertsSetAside(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy[SET_ASIDE];
  if (copy[CA_CERTS] !== undefined) {
    copy[SET_ASIDE] = copy[CA_CERTS];
    delete copy[CA_CERTS];
  }
  return copy;
}

/** In the runner: NODE_EXTRA_CA_CERTS back where it was (an empty value stays empty, an unset one unset). */
export function caCertsBack(env: NodeJS.ProcessEnv = process.env): void {
  const value = env[SET_ASIDE];
  if (value === undefined) return;
  env[CA_CERTS] = value;
  delete env[SET_ASIDE];
}
