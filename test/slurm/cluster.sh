#!/usr/bin/env bash
# A real single-node Slurm cluster for the tests (../shared/notes/slurm-local.md):
#   cluster.sh install   apt-get the packages (CI; needs root)
#   cluster.sh start     munge, slurmctld, slurmd; waits for the node to be idle
#   cluster.sh stop      cancels every job, shuts the daemons down
# Needs root. Writes /etc/slurm/slurm.conf (the previous one is kept as slurm.conf.ptask-saved).
set -euo pipefail
cmd=${1:-start}
host=$(hostname -s)

install() {
  command -v sbatch >/dev/null && command -v munged >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then echo "slurm: not installed, and only root can install it: test/slurm skips" >&2; return 0; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start() {
  mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /etc/slurm
  chown munge:munge /run/munge
  [ -S /run/munge/munge.socket.2 ] && pgrep -x munged >/dev/null || /usr/sbin/munged --force 2>/dev/null
  if [ -f /etc/slurm/slurm.conf ] && ! grep -q '^# ptask test cluster' /etc/slurm/slurm.conf; then
    cp /etc/slurm/slurm.conf /etc/slurm/slurm.conf.ptask-saved
  fi
  cat > /etc/slurm/slurm.conf <<CONF
# ptask test cluster
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
KillWait=5
MinJobAge=300
# Small, so that the tests' 50 items are two arrays, the second waiting for the first.
MaxArraySize=40
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# More CPUs than the machine has, so that a test's elements run 4 at once on 2 cores.
SlurmdParameters=config_overrides
NodeName=$host CPUs=8 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
  for _ in $(seq 1 100); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    case "$state" in idle*|mix*|alloc*) echo "slurm: node $host $state"; return 0 ;; esac
    sleep 0.2
  done
  echo "slurm: the node did not become idle: $(sinfo 2>&1 | tail -2)" >&2
  return 1
}

stop() {
  scancel --user=root 2>/dev/null || true
  scontrol shutdown 2>/dev/null || true
  for _ in $(seq 1 100); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 0.1; done
  pkill -x munged 2>/dev/null || true
  for _ in $(seq 1 100); do pgrep -x munged >/dev/null || break; sleep 0.1; done
}

"$cmd"
