#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ceph-lab.sh start|stop|status|check [1|2|all]: two throw-away Ceph clusters
# on loopback for tests and demos (1 mon + 1 mgr + 1 OSD each, cephx).
#
#   $RBDMOVE_LAB/ceph1/ceph.conf   (default RBDMOVE_LAB=/tmp/rbm)
#   $RBDMOVE_LAB/ceph2/ceph.conf   `rbd -c <that> ls volumes` needs no flags
#   $RBDMOVE_LAB/ceph.env          CEPH1_CONF=... and CEPH2_CONF=... lines
#
# Pools: `volumes` and `other`, both `rbd pool init`-ed. start is a no-op on a
# healthy cluster; stop kills by pid file and removes the state. check exits
# 1 with the cluster's own words when a cluster cannot take writes (health
# error, a full or nearly full OSD, no OSD up).
# The OSD is BlueStore on a sparse file (ceph<N>/osd-block), as in
# production; RBDMOVE_CEPH_STORE=memstore keeps every byte in the OSD's RAM
# instead (faster to start, but it never returns memory).
# Environment: RBDMOVE_LAB, RBDMOVE_LAB_TIMEOUT (seconds, default 180),
# RBDMOVE_CEPH_PORTS (base ports of ceph1 and ceph2, default "16800 17800"),
# RBDMOVE_CEPH_STORE (bluestore or memstore, default bluestore),
# RBDMOVE_CEPH_OSD_SIZE (the OSD's capacity in GiB, default 16),
# RBDMOVE_CEPH_PROFILE: tuned (default: snapshot trimming without its sleep)
# or rotational (Ceph's defaults for a rotational OSD: trim sleep, hdd
# shards and threads; the slow cluster of issue 12, for the move
# benchmark). status prints the profile a running lab was started with.
# Either profile runs on either store. Not memstore for rotational: it keeps
# the data of removed snapshots in RAM until they are trimmed, and with the
# hdd trim sleep three benchmark moves took 7 GiB of RAM per OSD and filled
# both OSDs (every write blocked).
set -euo pipefail

LAB=${RBDMOVE_LAB:-/tmp/rbm}
START_TIMEOUT=${RBDMOVE_LAB_TIMEOUT:-180}
STORE=${RBDMOVE_CEPH_STORE:-bluestore}
OSD_GIB=${RBDMOVE_CEPH_OSD_SIZE:-16}
PROFILE=${RBDMOVE_CEPH_PROFILE:-tuned}
PROG=ceph-lab

say() {
    echo "$PROG: $*"
}

warn() {
    echo "$PROG: $*" >&2
}

usage() {
    sed -n '4,25s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

# Port plan (127.0.0.1 only): ceph1 mon 16800/16801, daemons 16802-16899;
# ceph2 mon 17800/17801, daemons 17802-17899. RBDMOVE_CEPH_PORTS="P1 P2"
# moves them (a second lab beside the first one).
base_port() {
    local ports
    read -r -a ports <<<"${RBDMOVE_CEPH_PORTS:-16800 17800}"
    echo "${ports[$1 - 1]}"
}

cluster_dir() {
    echo "$LAB/ceph$1"
}

# Admin sockets and pid files. AF_UNIX paths are limited to 107 bytes, so a
# long $RBDMOVE_LAB gets its run dir in /tmp instead.
run_dir() {
    local dir sum
    dir=$(cluster_dir "$1")
    if [ "${#dir}" -le 60 ]; then
        echo "$dir/run"
    else
        sum=$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
        echo "/tmp/rbm-run-$sum"
    fi
}

write_conf() {
    local n=$1 fsid=$2 dir run port
    dir=$(cluster_dir "$n")
    run=$(run_dir "$n")
    port=$(base_port "$n")
    cat >"$dir/ceph.conf" <<CONF
# rbdmove lab cluster ceph$n (scripts/ceph-lab.sh); thrown away on stop.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $((port + 2))
ms bind port max = $((port + 99))
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $dir/keyring
run dir = $run
crash dir = $dir/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
$(profile_conf)
# A call against a dead cluster must fail, not hang.
rados mon op timeout = 30
client mount timeout = 30
rbd default features = layering,exclusive-lock,object-map,fast-diff,deep-flatten

[client]
log file = $dir/log/\$name.log

[mon]
mon data = $dir/mon
keyring = \$mon_data/keyring
log file = $dir/log/\$name.log
pid file = $run/\$name.pid
mon cluster log file = $dir/log/cluster.log

[mgr]
mgr data = $dir/mgr
keyring = \$mgr_data/keyring
log file = $dir/log/\$name.log
pid file = $run/\$name.pid
# Only modules that bind no port.
mgr initial modules = iostat

[osd]
osd data = $dir/osd
keyring = \$osd_data/keyring
log file = $dir/log/\$name.log
pid file = $run/\$name.pid
$(store_conf "$dir")
CONF
}

# profile_conf: the [global] lines of the profile.
profile_conf() {
    case "$PROFILE" in
    tuned)
        cat <<CONF
# profile tuned. The lab's OSD counts as a rotational device (memstore
# always, BlueStore on a file of a virtual disk mostly), where snapshot
# trimming sleeps 5 s between steps: removed snapshots then pile up for
# minutes (the OOM killer took memstore lab OSDs for it).
osd snap trim sleep hdd = 0
CONF
        ;;
    rotational)
        cat <<CONF
# profile rotational: Ceph's defaults for a rotational OSD, as a cluster
# that was not tuned for the lab has them (osd_op_num_shards_hdd,
# osd_op_num_threads_per_shard_hdd, osd_snap_trim_sleep_hdd).
CONF
        ;;
    esac
}

# store_conf DIR: the [osd] lines of the object store.
store_conf() {
    local bytes=$((OSD_GIB << 30))
    case "$STORE" in
    bluestore)
        cat <<CONF
osd objectstore = bluestore
# One sparse file holds data, RocksDB and its log; disk is used only where
# data was written.
bluestore block path = $1/osd-block
bluestore block create = true
bluestore block size = $bytes
bluestore block db create = false
bluestore block wal create = false
# A new, empty store: checking it costs seconds and finds nothing.
bluestore fsck on mkfs = false
bluestore fsck on mount = false
# Two OSDs share a small machine with OpenStack: the smallest cache target
# that BlueStore's autotuner accepts without complaint.
osd memory target = 939524096
CONF
        ;;
    memstore)
        cat <<CONF
osd objectstore = memstore
# Reported capacity only: RAM is used per byte written, never returned.
memstore device bytes = $bytes
CONF
        ;;
    esac
}

# bootstrap N: create and start cluster N, wait until it serves rbd. Runs
# in the background with its trace in $dir/start.log; gives up when
# START_TIMEOUT has passed.
bootstrap() {
    local n=$1 dir run conf fsid uuid key id port
    dir=$(cluster_dir "$n")
    run=$(run_dir "$n")
    conf=$dir/ceph.conf
    port=$(base_port "$n")
    DEADLINE=$((SECONDS + START_TIMEOUT))
    PS4='+ [${SECONDS}s] '
    set -x
    mkdir -p "$dir/mon" "$dir/mgr" "$dir/osd" "$dir/log" "$dir/crash" "$run"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$n" "$fsid"

    t ceph-authtool --create-keyring "$dir/keyring" --gen-key \
        -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
        --cap mds 'allow *' --cap mgr 'allow *'
    t ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. \
        --cap mon 'allow *'
    t ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/keyring"
    t monmaptool --create --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]" \
        "$dir/monmap"
    t ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" \
        --keyring "$dir/mon.keyring"
    t ceph-mon -c "$conf" -i a

    t ceph -c "$conf" auth get-or-create mgr.x \
        mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
        -o "$dir/mgr/keyring"
    t ceph-mgr -c "$conf" -i x

    uuid=$(cat /proc/sys/kernel/random/uuid)
    key=$(t ceph-authtool --gen-print-key)
    id=$(echo "{\"cephx_secret\": \"$key\"}" |
        t ceph -c "$conf" osd new "$uuid" -i -)
    t ceph-authtool --create-keyring "$dir/osd/keyring" --name "osd.$id" \
        --add-key "$key"
    t ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid"
    t ceph-osd -c "$conf" -i "$id"

    t ceph -c "$conf" osd pool create volumes 16 16 replicated
    t ceph -c "$conf" osd pool create other 8 8 replicated
    until t ceph -c "$conf" osd stat -f json | grep -q '"num_up_osds":1,'; do
        t sleep 0.5
    done
    t rbd -c "$conf" pool init volumes
    t rbd -c "$conf" pool init other
    until probe "$n"; do
        t sleep 1
    done
    until t ceph -c "$conf" mgr stat | grep -q '"available": true'; do
        t sleep 0.5
    done
    rm -f "$dir/mon.keyring" "$dir/monmap"
    set +x
}

# t CMD...: run CMD within what is left of the start timeout (at most 60 s
# for one command).
t() {
    local left=$((DEADLINE - SECONDS))
    if [ "$left" -le 0 ]; then
        echo "ceph-lab: start timeout (${START_TIMEOUT}s) reached" >&2
        exit 1
    fi
    [ "$left" -le 60 ] || left=60
    timeout "$left" "$@"
}

# probe N: cluster N serves rbd (create and remove a small image in each
# pool).
probe() {
    local conf pool name
    conf=$(cluster_dir "$1")/ceph.conf
    name=lab-probe-$$-$RANDOM
    for pool in volumes other; do
        timeout 30 rbd -c "$conf" create --size 4M "$pool/$name" || return 1
        timeout 30 rbd -c "$conf" rm --no-progress "$pool/$name" || return 1
    done
}

# pids N: the pids of cluster N's daemons that are alive. A pid counts only
# if its command line names this cluster's ceph.conf (pids get reused, and a
# killed daemon may linger as a zombie with an empty command line).
pids() {
    local f pid conf
    conf=$(cluster_dir "$1")/ceph.conf
    for f in "$(run_dir "$1")"/*.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        [ -n "$pid" ] || continue
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" |
            grep -qF -- "-c $conf "; then
            echo "$pid"
        fi
    done
}

# running N: all three daemons of cluster N are alive.
running() {
    [ "$(pids "$1" | wc -l)" = 3 ]
}

# healthy N: alive and answering (quick; no writes).
healthy() {
    running "$1" &&
        timeout 20 ceph -c "$(cluster_dir "$1")/ceph.conf" health \
            >/dev/null 2>&1
}

stop_one() {
    local n=$1 dir run pid list=() i
    dir=$(cluster_dir "$n")
    run=$(run_dir "$n")
    # The state is thrown away, so nothing needs a clean shutdown; on
    # SIGTERM memstore would even dump its whole RAM content to disk first.
    for pid in $(pids "$n"); do
        list+=("$pid")
        kill -KILL "$pid" 2>/dev/null || true
    done
    for i in $(seq 1 50); do
        [ -n "$(pids "$n")" ] || break
        sleep 0.1
    done
    rm -rf "$dir" "$run"
    if [ "${#list[@]}" -gt 0 ]; then
        say "ceph$n stopped (pids ${list[*]})"
    fi
}

# report_failure N: show the end of cluster N's logs and kill its daemons;
# the files stay for the post-mortem (the next start or stop removes them).
report_failure() {
    local n=$1 dir f pid
    dir=$(cluster_dir "$n")
    warn "ceph$n did not come up within ${START_TIMEOUT}s; last lines of its logs:"
    for f in "$dir/start.log" "$dir"/log/*.log; do
        [ -s "$f" ] || continue
        echo "---- $f" >&2
        if [ "$f" = "$dir/start.log" ]; then
            tail -n 30 "$f" >&2
        else
            tail -n 12 "$f" >&2
        fi
    done
    for pid in $(pids "$n"); do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

write_env() {
    {
        echo "# written by scripts/ceph-lab.sh"
        echo "CEPH1_CONF=$(cluster_dir 1)/ceph.conf"
        echo "CEPH2_CONF=$(cluster_dir 2)/ceph.conf"
    } >"$LAB/ceph.env"
}

cmd_start() {
    local n t0 rc=0 todo=() bg=() i
    t0=$SECONDS
    for n in "$@"; do
        if healthy "$n" && probe "$n" >/dev/null 2>&1; then
            if [ "$(profile_of "$n")" != "$PROFILE" ]; then
                warn "ceph$n runs profile $(profile_of "$n"), not $PROFILE:" \
                    "stop it first"
                rc=1
                continue
            fi
            say "ceph$n already running (profile $PROFILE)"
            continue
        fi
        stop_one "$n" >/dev/null
        mkdir -p "$(cluster_dir "$n")"
        todo+=("$n")
    done
    for n in "${todo[@]}"; do
        bootstrap "$n" >"$(cluster_dir "$n")/start.log" 2>&1 </dev/null 9>&- &
        bg+=($!)
    done
    for i in "${!todo[@]}"; do
        n=${todo[$i]}
        if wait "${bg[$i]}"; then
            say "ceph$n ready: $(cluster_dir "$n")/ceph.conf"
        else
            report_failure "$n"
            rc=1
        fi
    done
    write_env
    if [ "$rc" = 0 ] && [ "${#todo[@]}" -gt 0 ]; then
        say "started ${todo[*]/#/ceph} in $((SECONDS - t0)) s"
    fi
    return "$rc"
}

# profile_of N: the profile cluster N was started with.
profile_of() {
    sed -n 's/^# profile \([a-z]*\).*/\1/p' "$(cluster_dir "$1")/ceph.conf" 2>/dev/null |
        head -1
}

cmd_stop() {
    local n
    for n in "$@"; do
        stop_one "$n"
    done
    if [ ! -d "$(cluster_dir 1)" ] && [ ! -d "$(cluster_dir 2)" ]; then
        rm -f "$LAB/ceph.env"
    fi
}

# check_one N: cluster N can take writes; else say why, in its own words.
# Fails on HEALTH_ERR, on any full, nearly full or down OSD, and on an OSD
# whose usage passed the nearfull ratio before the monitor flagged it (a
# memstore OSD once counted 16 EiB used of 16 GiB).
check_one() {
    local n=$1 conf out
    conf=$(cluster_dir "$n")/ceph.conf
    if ! running "$n"; then
        warn "ceph$n: not running (scripts/ceph-lab.sh start $n)"
        return 1
    fi
    if ! out=$({
        timeout 20 ceph -c "$conf" health detail -f json &&
            echo &&
            timeout 20 ceph -c "$conf" osd dump -f json &&
            echo &&
            timeout 20 ceph -c "$conf" osd df -f json
    } 2>&1); then
        warn "ceph$n: does not answer: $(echo "$out" | tail -n 3)"
        return 1
    fi
    echo "$out" | /usr/bin/python3 -c '
import json, sys
name = sys.argv[1]
docs = [json.loads(l) for l in sys.stdin.read().split("\n") if l.strip()]
health, dump, df = docs
bad = []
flagged = ("FULL", "NEARFULL", "BACKFILLFULL", "OSD_DOWN", "OSD_HOST_DOWN")
for code, c in sorted(health.get("checks", {}).items()):
    if health["status"] == "HEALTH_ERR" or any(f in code for f in flagged):
        line = "%s: %s" % (code, c["summary"]["message"])
        for d in c.get("detail", [])[:3]:
            line += "; " + d["message"]
        bad.append(line)
if health["status"] == "HEALTH_ERR" and not bad:
    bad.append("HEALTH_ERR")
up = sum(1 for o in dump["osds"] if o["up"])
if up == 0:
    bad.append("no OSD is up")
limit = 100 * dump["nearfull_ratio"]
for node in df.get("nodes", []):
    if node["utilization"] >= limit:
        bad.append("osd.%d uses %.1f%% of %d bytes (nearfull at %.0f%%)"
                   % (node["id"], node["utilization"], node["kb"] * 1024, limit))
for b in bad:
    print("%s: %s" % (name, b))
sys.exit(1 if bad else 0)
' "ceph$n" >&2
}

cmd_check() {
    local n rc=0
    for n in "$@"; do
        check_one "$n" || rc=1
    done
    return "$rc"
}

cmd_status() {
    local n rc=0 conf
    for n in "$@"; do
        conf=$(cluster_dir "$n")/ceph.conf
        if healthy "$n"; then
            say "ceph$n up: $(timeout 20 ceph -c "$conf" health 2>&1)," \
                "fsid $(timeout 20 ceph -c "$conf" fsid 2>&1), conf $conf," \
                "profile $(profile_of "$n")"
        elif [ -n "$(pids "$n")" ]; then
            say "ceph$n unhealthy: pids $(pids "$n" | tr '\n' ' ')"
            rc=1
        else
            say "ceph$n down"
            rc=1
        fi
    done
    return "$rc"
}

main() {
    local action=${1:-} which=${2:-all} clusters
    case "$which" in
    1 | 2) clusters=("$which") ;;
    all) clusters=(1 2) ;;
    *) usage ;;
    esac
    [ "$#" -le 2 ] || usage
    case "$STORE" in
    bluestore | memstore) ;;
    *)
        warn "RBDMOVE_CEPH_STORE must be bluestore or memstore, not '$STORE'"
        exit 2
        ;;
    esac
    case "$PROFILE" in
    tuned | rotational) ;;
    *)
        warn "RBDMOVE_CEPH_PROFILE must be tuned or rotational, not '$PROFILE'"
        exit 2
        ;;
    esac
    case "$OSD_GIB" in
    [1-9] | [1-9][0-9] | [1-9][0-9][0-9]) ;;
    *)
        warn "RBDMOVE_CEPH_OSD_SIZE must be 1-999 (GiB), not '$OSD_GIB'"
        exit 2
        ;;
    esac
    if [ "$action" = start ]; then
        mkdir -p "$LAB"
    fi
    # One ceph-lab.sh at a time per lab directory.
    if [ -d "$LAB" ]; then
        exec 9>"$LAB/.ceph-lab.lock"
        flock 9
    fi
    case "$action" in
    start) cmd_start "${clusters[@]}" ;;
    stop) cmd_stop "${clusters[@]}" ;;
    status) cmd_status "${clusters[@]}" ;;
    check) cmd_check "${clusters[@]}" ;;
    *) usage ;;
    esac
}

main "$@"
