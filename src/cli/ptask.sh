#!/bin/sh
# The ptask command (dist/ptask): node on dist/runner.js, from the node on PATH. Node 20 reads
# every certificate NODE_EXTRA_CA_CERTS names before it runs a line of script (60 ms a start for
# a usual bundle) and ptask makes no TLS connection: the variable is set aside here, and the
# runner puts it back for its steps (src/protocol/caCerts.ts).
self=$0
case $self in */*) ;; *) self=./$self ;; esac
# Through the links to it (npm link, node_modules/.bin): dist/ is where the file itself is.
while [ -L "$self" ]; do
  link=$(readlink "$self")
  case $link in
    /*) self=$link ;;
    *) self=${self%/*}/$link ;;
  esac
done
if [ "${NODE_EXTRA_CA_CERTS+set}" = set ]; then
  PTASK_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export PTASK_NODE_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
else
  unset PTASK_NODE_EXTRA_CA_CERTS
fi
exec node "${self%/*}/runner.js" "$@"
