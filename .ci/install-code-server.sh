#!/usr/bin/env bash
# Installs what the offline "real VS Code" harness (test/vscode/) needs, on Debian as root:
# Chromium, code-server 4.100.3 (VS Code 1.100.3, the last one that runs on Node 20) and the
# pieces its postinstall would otherwise fetch from the internet. Idempotent: a second run
# only checks. See test/vscode/README.md.
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$ROOT/.vscode-test/code-server"
start=$SECONDS
step() { echo "[install-code-server] $* (+$((SECONDS - start))s)"; }

# 1. Debian packages: a browser for playwright-core, GSSAPI headers for `kerberos`, `rg`.
missing=()
# PTASKS_NO_BROWSER=1 (npm start): the server only; a person brings their own browser.
[[ -n "${PTASKS_NO_BROWSER:-}" ]] || command -v chromium >/dev/null || missing+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
command -v rg >/dev/null || missing+=(ripgrep)
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. @vscode/ripgrep@1.15.11 downloads rg from GitHub unless this cached archive exists.
case "$(uname -m)" in
  x86_64) rg_target=x86_64-unknown-linux-musl ;;
  aarch64) rg_target=aarch64-unknown-linux-musl ;; # untried
  *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
rg_cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
rg_tar="$rg_cache/ripgrep-v13.0.0-10-$rg_target.tar.gz"
if [[ ! -s "$rg_tar" ]]; then
  step "packing Debian's rg into $rg_tar"
  mkdir -p "$rg_cache"
  tar -czf "$rg_tar" -C "$(dirname "$(command -v rg)")" rg
fi

# 3. code-server in its own package folder (about 300 MB, git-ignored). Complete means the
# right version, and its postinstall (a nested npm install) built the native modules and rg.
complete() {
  local m="$PREFIX/node_modules/code-server/lib/vscode/node_modules" f
  [[ "$(node -p "require('$PREFIX/node_modules/code-server/package.json').version" 2>/dev/null)" == "$CODE_SERVER_VERSION" ]] || return 1
  for f in node-pty/build/Release/pty.node kerberos/build/Release/kerberos.node @vscode/ripgrep/bin/rg; do
    [[ -e "$m/$f" ]] || { echo "missing $m/$f" >&2; return 1; }
  done
}
if complete 2>/dev/null; then
  step "code-server $CODE_SERVER_VERSION already installed"
else
  step "npm install code-server@$CODE_SERVER_VERSION"
  rm -rf "$PREFIX/node_modules" "$PREFIX/package-lock.json" # npm would call a half install "up to date"
  mkdir -p "$PREFIX"
  [[ -f "$PREFIX/package.json" ]] || echo '{ "private": true }' >"$PREFIX/package.json"
  # Root refuses postinstalls without unsafe-perm; node-pty's `npx node-gyp` waits for a "yes";
  # npm 11 runs unapproved dependency install scripts only with a notice (or not at all under
  # strict-allow-scripts), and all the nested native modules need theirs: allow all, via env
  # so the nested npm sees it too. Node's headers come from the local install, not the internet.
  export npm_config_unsafe_perm=true npm_config_yes=true npm_config_dangerously_allow_all_scripts=true
  node_dir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  [[ -f "$node_dir/include/node/node_version.h" ]] && export npm_config_nodedir="$node_dir"
  log="$PREFIX/install.log"
  if ! npm install --prefix "$PREFIX" --no-save --foreground-scripts \
      "code-server@$CODE_SERVER_VERSION" >"$log" 2>&1 || ! complete; then
    tail -50 "$log" >&2
    echo "code-server install failed or incomplete; full log: $log" >&2
    exit 1
  fi
fi

# 4. Prove it: the server starts and answers HTTP (polled with a deadline).
bin="$PREFIX/node_modules/.bin/code-server"
port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
data="$(mktemp -d)"
# code-server prefers $PORT to --bind-addr: drop it.
XDG_DATA_HOME="$data" env -u PORT setsid "$bin" --auth none --bind-addr "127.0.0.1:$port" --config "$data/config.yaml" --user-data-dir "$data/user" \
  --extensions-dir "$data/ext" --disable-telemetry --disable-update-check >"$data/server.log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1 # poll interval of the 30 s deadline above, not synchronisation
done
if ! curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz"; then
  cat "$data/server.log" >&2
  echo "code-server did not answer on port $port" >&2
  exit 1
fi
step "code-server $CODE_SERVER_VERSION answers on 127.0.0.1:$port; done"
