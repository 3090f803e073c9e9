#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-batch.sh [options]: one plan of 8 volumes over 3 servers (issue 14)
# run by `rbdmove batch` with --parallel 1, 2 and 4, against the same moves
# one after another with plain `rbdmove move` (the operator's shell loop).
# On the two-region OpenStack lab, each run: servers A and B with two
# volumes each (moved with move-server, one cutover each) and C with four
# (four moves to one destination server, whose cutovers take turns); DATA
# of random data in each volume, and a stand-in guest writing RATE into
# each until its detach. Per run: the total time, the aggregate data rate
# (data bytes of every seed and round, from --json, over the time), the
# worst downtime of any server, the peak memory of the whole batch (the sum
# over rbdmove's processes of their RSS, and of their PSS, which counts the
# pages they share once; sampled every 0.2 s), the CPU time of all
# rbdmove processes and how busy the whole machine was (/proc/stat: the
# labs' OSDs and OpenStack services share its cores), to show where
# parallelism stops helping on 2 cores.
# Every volume is compared with its copy after each run.
#
#   --lab DIR          lab directory (default $RBDMOVE_LAB, else /tmp/rbm)
#   --rbdmove PATH     binary (default $RBDMOVE, else build-bench, build)
#   --os-client PATH   rbm-os-client (default: tests/tools/ of the binary's build)
#   --parallel LIST    the --parallel values (default "1 2 4")
#   --no-serial        skip the shell loop of moves (no ratios then)
#   --data SIZE        data written into each volume first (default 128M)
#   --rate BYTES/S     each guest's write rate (default 1000000)
#   --markdown FILE    also write the table as Markdown to FILE
#
# Needs the OpenStack lab running (scripts/openstack-lab.sh start). Each
# run's servers and volumes are deleted before the next; they are named
# bench-batch-<pid>-*.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=bench-batch
LAB=${RBDMOVE_LAB:-/tmp/rbm}
BIN=${RBDMOVE:-}
TOOL=${RBM_OS_CLIENT:-}
PARALLEL="1 2 4"
SERIAL=serial
DATA=128M
RATE=1000000
MARKDOWN=""
PY=/usr/bin/python3
R1=RegionOne
R2=RegionTwo

say() { echo "$PROG: $*" >&2; }
die() {
    say "$*"
    exit 1
}
usage() {
    sed -n '4,33s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
    --lab) LAB=${2:?}; shift ;;
    --rbdmove) BIN=${2:?}; shift ;;
    --os-client) TOOL=${2:?}; shift ;;
    --parallel) PARALLEL=${2:?}; shift ;;
    --no-serial) SERIAL="" ;;
    --data) DATA=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --markdown) MARKDOWN=${2:?}; shift ;;
    -h | --help) usage ;;
    *) say "unknown argument '$1'"; usage ;;
    esac
    shift
done
for p in $PARALLEL; do
    [[ "$p" =~ ^[1-9][0-9]*$ ]] || die "--parallel wants numbers, e.g. \"1 2 4\""
done
DATA_BYTES=$("$PY" -c '
import sys
t = sys.argv[1].upper().removesuffix("IB").removesuffix("B")
u = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
print(int(t[:-1]) * u[t[-1]] if t and t[-1] in u else int(t))' "$DATA") ||
    die "--data wants a size (e.g. 128M)"
if [ -z "$BIN" ]; then
    for b in build-bench build build-test; do
        if [ -x "$SRC/$b/rbdmove/rbdmove" ]; then
            BIN=$SRC/$b/rbdmove/rbdmove
            break
        fi
    done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || die "no rbdmove binary: build it or pass --rbdmove"
TOOL=${TOOL:-$(dirname "$(dirname "$BIN")")/tests/tools/rbm-os-client}
[ -x "$TOOL" ] || die "no rbm-os-client at $TOOL"
"$SRC/scripts/openstack-lab.sh" status >/dev/null 2>&1 ||
    die "the OpenStack lab in $LAB is not running: scripts/openstack-lab.sh start"

export RBDMOVE_LAB=$LAB
set -a
# shellcheck disable=SC1091
. "$LAB/ceph.env"
# shellcheck disable=SC1091
. "$LAB/openstack.env"
set +a
C1=${CEPH1_CONF:-$LAB/ceph1/ceph.conf}
C2=${CEPH2_CONF:-$LAB/ceph2/ceph.conf}
PROFILE=$(sed -n 's/^# profile \([a-z]*\).*/\1/p' "$C1" | head -n 1)
export RBM_AUTH_URL=${RBM_AUTH_URL:-$OS_AUTH_URL}
for v in $(env | grep -o '^OS_[A-Z_]*'); do
    [ "$v" = OS_CLIENT_CONFIG_FILE ] || unset "$v"
done
export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$LAB/openstack/clouds.yaml}
export VM_WRITER_SPAN=$((64 << 20))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbm-bench-batch.XXXXXX")
TAG=bench-batch-$$
SERVERS=()
VOLUMES=()
WRITERS=()
osc() {
    local r=$1
    shift
    "$TOOL" --os-cloud rbdmove-demo --os-region-name "$r" "$@"
}
value() { sed -n "s/^$1=//p" "$2" | head -n 1; }
conf_of() { [ "$1" = $R1 ] && echo "$C1" || echo "$C2"; }
remove_volume() {
    local out=$WORK/rm.out srv
    timeout 120 rbd -c "$(conf_of "$1")" snap purge --no-progress "volumes/volume-$2" \
        >/dev/null 2>&1 || true
    if osc "$1" volume-show "$2" >"$out" 2>&1; then
        srv=$(value attached.0 "$out" | cut -d' ' -f1)
        [ -z "$srv" ] || osc "$1" detach "$srv" "$2" >/dev/null 2>&1 || true
        osc "$1" volume-delete "$2" >/dev/null 2>&1 || say "cannot delete volume $2 in $1"
    fi
}
cleanup_run() {
    local v s w
    for w in "${WRITERS[@]}"; do
        kill "$w" 2>/dev/null || true
    done
    for v in "${VOLUMES[@]}"; do
        remove_volume "${v%% *}" "${v#* }"
    done
    for s in "${SERVERS[@]}"; do
        "$PY" "$SRC/tests/integration/os_server.py" delete "${s%% *}" "${s#* }" \
            >/dev/null 2>&1 || say "cannot delete server ${s#* }"
    done
    WRITERS=()
    VOLUMES=()
    SERVERS=()
}
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    cleanup_run
    rm -rf "$WORK"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

cat >"$WORK/fill.py" <<'PY'
import os, sys
import rados, rbd
conf, spec, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
pool, _, name = spec.rpartition("/")
with rados.Rados(conffile=conf) as c, c.open_ioctx(pool) as io, rbd.Image(io, name) as img:
    ext = 4 << 20
    for off in range(0, total, ext):
        img.write(os.urandom(min(ext, total - off)), off)
    img.flush()
PY
checksum() { timeout 600 rbd -c "$1" export --no-progress "$2" - | sha256sum | cut -d' ' -f1; }
now() { date +%s.%N; }

# sample PID OUT: until PID ends, every 0.2 s, the sums of the RSS and PSS
# of PID and its rbdmove descendants (KiB) and their CPU time; writes
# "peak_rss_kib peak_pss_kib cpu_s busy%" at the end.
cat >"$WORK/sample.py" <<'PY'
import os, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
hz = os.sysconf("SC_CLK_TCK")
peak, cpu = 0, {}
def stat():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f), f[3] + f[4]  # all, idle + iowait
t0, idle0 = stat()
def tree():
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % p).read()
        except OSError:
            continue
        f = st[st.rindex(")") + 2:].split()
        kids.setdefault(int(f[1]), []).append((int(p), f))
    todo, seen = [root], []
    while todo:
        p = todo.pop()
        for c, f in kids.get(p, []):
            seen.append((c, f))
            todo.append(c)
    return seen
def kib(p):
    """RSS and PSS of process p in KiB: PSS shares the pages the processes
    share (librados' and librbd's code) among them, so its sum is what the
    batch as a whole holds; RSS counts them once per process."""
    rss = int(open("/proc/%d/statm" % p).read().split()[1]) * page // 1024
    pss = rss
    for line in open("/proc/%d/smaps_rollup" % p):
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss
page = os.sysconf("SC_PAGE_SIZE")
peak_pss = 0
while os.path.exists("/proc/%d" % root):
    rss = pss = 0
    try:
        rss, pss = kib(root)
    except OSError:
        pass
    for p, f in tree():
        try:
            if "rbdmove" not in open("/proc/%d/comm" % p).read():
                continue
            r, s = kib(p)
        except OSError:
            continue
        rss, pss = rss + r, pss + s
        cpu[p] = (int(f[11]) + int(f[12])) / hz
    peak = max(peak, rss)
    peak_pss = max(peak_pss, pss)
    time.sleep(0.2)
t1, idle1 = stat()
busy = 100.0 * (1 - (idle1 - idle0) / max(1, t1 - t0))
with open(out, "w") as o:
    o.write("%d %d %.1f %.0f\n" % (peak, peak_pss, sum(cpu.values()), busy))
PY

make_fleet() {
    local s v
    declare -gA SRV=()
    for s in A B C; do
        SRV[$s]=$("$PY" "$SRC/tests/integration/os_server.py" create $R1 "$TAG-$s") ||
            die "cannot create a server"
        SERVERS+=("$R1 ${SRV[$s]}")
        SRV[${s}2]=$("$PY" "$SRC/tests/integration/os_server.py" create $R2 "$TAG-${s}2") ||
            die "cannot create a server"
        SERVERS+=("$R2 ${SRV[${s}2]}")
    done
    VOLS=()
    declare -gA OWNER=()
    for s in A A B B C C C C; do
        osc $R1 volume-create 1 "$TAG-$s" >"$WORK/v" 2>&1 || die "$(cat "$WORK/v")"
        v=$(value id "$WORK/v")
        VOLUMES+=("$R1 $v")
        osc $R1 attach "${SRV[$s]}" "$v" >"$WORK/a" 2>&1 || die "$(cat "$WORK/a")"
        "$PY" "$WORK/fill.py" "$C1" "volumes/volume-$v" "$DATA_BYTES"
        VOLS+=("$v")
        OWNER[$v]=$s
    done
    for v in "${VOLS[@]}"; do
        "$PY" "$SRC/tests/integration/vm_writer.py" "$C1" "volumes/volume-$v" \
            "$RATE" "$v" $R1 1200 >/dev/null 2>&1 &
        WRITERS+=($!)
    done
    cat >"$WORK/plan.yaml" <<EOF
defaults:
  os-cloud: rbdmove-demo
  os-region-name: $R1
  dst-os-region-name: $R2
  src-conf: $C1
  dst-conf: $C2
jobs:
  - move-server: ${SRV[A]}
    dst-server: ${SRV[A2]}
  - move-server: ${SRV[B]}
    dst-server: ${SRV[B2]}
EOF
    for v in "${VOLS[@]}"; do
        [ "${OWNER[$v]}" = C ] || continue
        printf '  - move: %s\n    dst-server: %s\n' "$v" "${SRV[C2]}" >>"$WORK/plan.yaml"
    done
}

# check_fleet STATE: every volume equal to its copy; tracks the copies.
check_fleet() {
    local j s d bad=0
    declare -A DST=()
    for j in "$1"/*.batch/job-*/*.journal "$1"/*.journal; do
        [ -f "$j" ] || continue
        s=$(sed -n 's/^src.volume //p' "$j")
        d=$(sed -n 's/^dst.volume //p' "$j")
        [ -n "$s" ] && [ -n "$d" ] && DST[$s]=$d
    done
    for s in "${VOLS[@]}"; do
        d=${DST[$s]:-}
        [ -n "$d" ] || die "no copy of $s"
        VOLUMES+=("$R2 $d")
        [ "$(checksum "$C1" "volumes/volume-$s")" = "$(checksum "$C2" "volumes/volume-$d")" ] ||
            bad=1
    done
    [ $bad = 0 ] || die "a copy differs from its volume"
}

# stats STATE LOGS...: "bytes worst_downtime" from the --json events
stats() {
    "$PY" -c '
import json, sys
n, worst = 0, 0.0
for f in sys.argv[1:]:
    for line in open(f):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") in ("seed", "round") and "data_bytes" in e:
            n += e["data_bytes"]
        if e.get("event") == "done" and isinstance(e.get("downtime_s"), (int, float)):
            worst = max(worst, e["downtime_s"])
print(n, worst)' "$@"
}

say "Ceph lab profile: ${PROFILE:-unknown}; 8 volumes of $DATA over 3 servers, guests writing $RATE B/s each"
RES=$WORK/results
: >"$RES"
for p in $SERIAL $PARALLEL; do
    make_fleet
    for v in "${VOLS[@]}"; do
        wait_s=0
        until rbd -c "$C1" status --format json "volumes/volume-$v" | grep -q '"address"'; do
            sleep 0.1
            wait_s=$((wait_s + 1))
            [ $wait_s -lt 300 ] || die "no guest on $v"
        done
    done
    state=$WORK/state-$p
    t0=$(now)
    if [ "$p" = serial ]; then
        # The shell loop: each job's command line, one after another.
        ( "$BIN" batch --check "$WORK/plan.yaml" | sed 's/^job [0-9]*: rbdmove //' |
            while read -r line; do
                # Its own options after the verb: the line ends "-- VOLUME".
                eval "\"$BIN\" ${line%% *} --state-dir \"$state\" --json --progress never ${line#* }" \
                    >>"$WORK/out-$p" 2>>"$WORK/err-$p" || exit 1
            done ) &
    else
        "$BIN" batch --parallel "$p" --state-dir "$state" --json "$WORK/plan.yaml" \
            >"$WORK/out-$p" 2>"$WORK/err-$p" &
    fi
    pid=$!
    "$PY" "$WORK/sample.py" "$pid" "$WORK/rss-$p" &
    spid=$!
    wait "$pid" || die "run $p failed: $(tail -5 "$WORK/err-$p")"
    t=$(echo "$(now) - $t0" | bc)
    wait "$spid"
    read -r bytes worst < <(stats "$WORK/out-$p")
    read -r peak pss cpu busy <"$WORK/rss-$p"
    check_fleet "$state"
    rate=$(echo "scale=1; $bytes / $t / 1048576" | bc)
    printf '%s %.1f %s %s %.2f %s %s %s %s\n' "$p" "$t" "$bytes" "$rate" "$worst" \
        "$((peak / 1024))" "$((pss / 1024))" "$cpu" "$busy" >>"$RES"
    say "$p: $(tail -n 1 "$RES")"
    cleanup_run
done

table() {
    echo "| run | total s | data MiB | aggregate MiB/s | worst downtime s | peak RSS MiB | peak PSS MiB | CPU s (rbdmove) | machine busy | vs shell loop |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    base=$(awk '$1 == "serial" {print $2}' "$RES")
    while read -r p t bytes rate worst peak pss cpu busy; do
        label=$([ "$p" = serial ] && echo "move, one after another" || echo "batch --parallel $p")
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s%% | %s |\n' "$label" "$t" \
            "$((bytes / 1048576))" "$rate" "$worst" "$peak" "$pss" "$cpu" "$busy" \
            "$([ -n "$base" ] && echo "$(echo "scale=2; $base / $t" | bc)x" || echo -)"
    done <"$RES"
}
table
[ -z "$MARKDOWN" ] || table >"$MARKDOWN"
