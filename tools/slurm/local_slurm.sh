#!/usr/bin/env bash
# A single-node SLURM cluster on localhost for the `slurm`-marked tests (issue 17).
#
#   bash tools/slurm/local_slurm.sh start   # install if missing (apt-get), start munged, slurmctld, slurmd
#   bash tools/slurm/local_slurm.sh stop    # stop the daemons this script started
#   bash tools/slurm/local_slurm.sh status  # sinfo
#
# Idempotent: what is installed is not reinstalled, what runs is not restarted. Needs root (it
# writes /etc/slurm/slurm.conf and /etc/munge/munge.key). The node has PIPEMAP_SLURM_CPUS CPUs
# (default 2). When the cluster cannot be started, `start` exits non-zero and the tests marked
# `slurm` skip with the reason (tests/runner/slurm_cluster.py).
set -uo pipefail
CPUS="${PIPEMAP_SLURM_CPUS:-2}"
HOST="$(hostname)"
CONF=/etc/slurm/slurm.conf

log() { echo "local_slurm: $*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    if ! command -v apt-get >/dev/null; then
        log "SLURM is not installed and apt-get is unavailable"; return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        log "SLURM is not installed and installing it needs root"; return 1
    fi
    log "installing slurm-wlm and munge with apt-get (about a minute)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    mkdir -p /etc/munge /var/log/munge /run/munge /var/lib/munge
    [ -f /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown -R munge:munge /etc/munge /var/log/munge /run/munge /var/lib/munge
    chmod 400 /etc/munge/munge.key
    su -s /bin/sh munge -c /usr/sbin/munged || return 1
    for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.25; done
    log "munged did not come up"; return 1
}

write_conf() {
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    local want
    want="$(cat <<CONF
# written by pipemap tools/slurm/local_slurm.sh
ClusterName=local
SlurmctldHost=$HOST
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmUser=root
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
SchedulerParameters=sched_interval=1
MinJobAge=600
MaxArraySize=10001
KillWait=2
NodeName=$HOST CPUs=$CPUS RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
)"
    if [ -f "$CONF" ] && ! grep -q "pipemap tools/slurm" "$CONF"; then
        log "$CONF exists and was not written by this script: using it as it is"; return 0
    fi
    [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$want" ] || printf '%s\n' "$want" > "$CONF"
}

wait_idle() {
    for _ in $(seq 60); do
        if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then return 0; fi
        sleep 0.5
    done
    log "the node did not become idle:"; sinfo >&2; return 1
}

start() {
    install || return 1
    start_munge || return 1
    write_conf || return 1
    alive /run/slurmctld.pid || /usr/sbin/slurmctld || { log "slurmctld failed (see /var/log/slurm/slurmctld.log)"; return 1; }
    alive /run/slurmd.pid || /usr/sbin/slurmd || { log "slurmd failed (see /var/log/slurm/slurmd.log)"; return 1; }
    wait_idle || return 1
    # a node left "down" by an earlier stop comes back
    sinfo -h -o '%T' | grep -q '^down' && scontrol update nodename="$HOST" state=resume 2>/dev/null
    wait_idle && log "up: $(sinfo -h -o '%P %a %D %T %N')"
}

stop() {
    for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
        if alive "$pidfile"; then kill "$(cat "$pidfile")"; fi
    done
    local pid
    pid="$(cat /run/munge/munged.pid 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    log "stopped"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) sinfo ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
