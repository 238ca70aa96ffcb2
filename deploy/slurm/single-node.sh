#!/bin/bash
# A one-node Slurm on this machine, to run grade.sbatch and merge.sbatch without a
# cluster: a munge key and munged, a minimal slurm.conf whose only node is this host
# (with the CPUs and memory `slurmd -C` finds), slurmctld and slurmd. Everything lives
# in one folder (default /var/lib/softsign-slurm): configuration, key, state, logs and
# pid files; nothing in /etc is touched.
#
#   sudo deploy/slurm/single-node.sh                  # start; prints what it did
#   export SLURM_CONF=/var/lib/softsign-slurm/slurm.conf
#   sinfo                                             # then sbatch as in the README
#   sudo deploy/slurm/single-node.sh stop             # stop the three daemons
#
# Running `start` again is safe: it keeps the key and the slurm.conf it wrote, leaves
# running daemons alone, starts the ones that are not running, and waits again until
# the node is up. It refuses to overwrite a slurm.conf it did not write, or to change
# its slurm.conf under running daemons. `stop` cancels no job and deletes nothing.
#
# Options (before or after the command):
#   --dir DIR            the folder (default /var/lib/softsign-slurm)
#   --ctld-port N        slurmctld's port (default 6817)
#   --slurmd-port N      slurmd's port (default 6818)
#   --partition NAME     the one partition (default softsign)
#   --timeout SECONDS    how long to wait for the node (default 60)
#
# Needs root (slurmd starts jobs as the users who submit them) and Debian's
# slurm-wlm and munge packages (apt-get install slurm-wlm munge). For a cluster of
# several machines, follow Slurm's Quick Start Administrator Guide instead.

set -euo pipefail

command=start
dir=/var/lib/softsign-slurm
ctld_port=6817
slurmd_port=6818
partition=softsign
timeout=60
marker="# Written by deploy/slurm/single-node.sh"
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "single-node.sh: $*"; }
fail() {
    echo "single-node.sh: $*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        start | stop | status) command=$1 ;;
        --dir) dir=${2:?--dir needs a folder}; shift ;;
        --ctld-port) ctld_port=${2:?--ctld-port needs a port}; shift ;;
        --slurmd-port) slurmd_port=${2:?--slurmd-port needs a port}; shift ;;
        --partition) partition=${2:?--partition needs a name}; shift ;;
        --timeout) timeout=${2:?--timeout needs seconds}; shift ;;
        -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) fail "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
for number in "$ctld_port" "$slurmd_port" "$timeout"; do
    [[ "$number" =~ ^[0-9]+$ ]] || fail "'$number' is not a whole number"
done

conf="$dir/slurm.conf"
state="$dir/state"
munge="$dir/munge"
socket="$munge/munge.socket"
node=$(hostname -s)
export SLURM_CONF="$conf"

# The pid of a running daemon from its pid file, or nothing.
running() {
    local file=$1 name=$2 pid
    [[ -s "$file" ]] || return 0
    pid=$(<"$file")
    if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]; then
        echo "$pid"
    fi
    return 0
}

pid_file() {
    case "$1" in
        munged) echo "$munge/munged.pid" ;;
        slurmctld) echo "$state/slurmctld.pid" ;;
        slurmd) echo "$state/slurmd.pid" ;;
    esac
}

logs() {
    local log
    for log in "$munge/munged.log" "$state/slurmctld.log" "$state/slurmd.log"; do
        [[ -f "$log" ]] && { echo "--- $log"; tail -n 15 "$log"; }
    done >&2
    return 0
}

write_conf() {
    local hardware cpus memory text
    hardware=$(slurmd -C 2>/dev/null | head -n 1)
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hardware")
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hardware")
    cpus=${cpus:-$(nproc)}
    memory=${memory:-$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)}
    text="$marker; run it again rather than editing this file.
ClusterName=softsign
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MinJobAge=3600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=$partition Nodes=$node Default=YES MaxTime=INFINITE State=UP"
    if [[ -f "$conf" ]]; then
        head -n 1 "$conf" | grep -qF "$marker" ||
            fail "$conf was not written by this script; choose another --dir"
        if [[ "$(<"$conf")" == "$text" ]]; then
            say "kept $conf (node $node, $cpus CPUs, $memory MB, partition $partition)"
            return
        fi
        if [[ -n "$(running "$state/slurmctld.pid" slurmctld)$(running "$state/slurmd.pid" slurmd)" ]]; then
            fail "$conf would change (ports, partition or hardware) while Slurm runs: run '$0 stop --dir $dir' first"
        fi
    fi
    printf '%s\n' "$text" >"$conf"
    say "wrote $conf (node $node, $cpus CPUs, $memory MB, partition $partition, ports $ctld_port and $slurmd_port)"
}

start_daemon() {
    local name=$1 pid
    shift
    pid=$(running "$(pid_file "$name")" "$name")
    if [[ -n "$pid" ]]; then
        say "$name already running (pid $pid)"
        return
    fi
    "$@" || { logs; fail "$name did not start"; }
    say "started $name"
}

wait_for_munge() {
    local waited=0
    until [[ -S "$socket" && -n "$(running "$munge/munged.pid" munged)" ]]; do
        ((waited++ < 10 * timeout)) || { logs; fail "munged made no socket in $timeout s"; }
        sleep 0.1
    done
}

wait_for_node() {
    local deadline=$((SECONDS + timeout)) found=""
    while ((SECONDS < deadline)); do
        found=$(sinfo --noheader --nodes "$node" --format=%T 2>/dev/null || true)
        case "$found" in
            idle | mixed | allocated | completing)
                say "node $node is $found; for sbatch, sinfo and squeue: export SLURM_CONF=$conf"
                return
                ;;
        esac
        sleep 1
    done
    logs
    fail "node $node not idle after $timeout s (sinfo says '${found:-nothing}')"
}

start() {
    for program in munged slurmctld slurmd sinfo; do
        command -v "$program" >/dev/null || fail "$program is missing: apt-get install slurm-wlm munge"
    done
    [[ $(id -u) -eq 0 ]] || fail "run it as root: slurmd starts jobs as the users who submit them"
    mkdir -p "$state/ctld" "$state/slurmd" "$munge"
    chmod 755 "$dir" "$state" "$munge" # munged wants its socket's folders searchable by all
    if [[ -s "$munge/munge.key" ]]; then
        say "kept the munge key $munge/munge.key"
    else
        (umask 077 && head -c 1024 /dev/urandom >"$munge/munge.key")
        say "wrote a new munge key $munge/munge.key"
    fi
    write_conf
    start_daemon munged munged --force "--key-file=$munge/munge.key" "--socket=$socket" \
        "--pid-file=$munge/munged.pid" "--log-file=$munge/munged.log" \
        "--seed-file=$munge/munged.seed"
    wait_for_munge
    start_daemon slurmctld slurmctld -f "$conf"
    start_daemon slurmd slurmd -f "$conf" -N "$node"
    wait_for_node
}

stop() {
    local name pid waited
    for name in slurmd slurmctld munged; do
        pid=$(running "$(pid_file "$name")" "$name")
        if [[ -z "$pid" ]]; then
            say "$name is not running"
            continue
        fi
        kill -TERM "$pid"
        waited=0
        while [[ -d "/proc/$pid" ]] && ((waited++ < 150)); do sleep 0.1; done
        [[ -d "/proc/$pid" ]] && fail "$name (pid $pid) still runs 15 s after SIGTERM"
        say "stopped $name (pid $pid)"
    done
}

status() {
    local name pid
    for name in munged slurmctld slurmd; do
        pid=$(running "$(pid_file "$name")" "$name")
        if [[ -n "$pid" ]]; then say "$name: running (pid $pid)"; else say "$name: not running"; fi
    done
}

"$command"
