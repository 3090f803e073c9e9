#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-failback.sh [options]: failback against a full re-seed (issue 13).
# On the two-region OpenStack lab, each run: a volume of SIZE GiB attached
# to a server in RegionOne, DATA of random data in 4 MiB extents, synced
# into RegionTwo and failed over to a server there; the DR side writes
# DELTA more; the original is detached in RegionOne. Then:
#   failback  `rbdmove failback` of the copy: only what changed since the
#             point both hold travels;
#   re-seed   the same copy, attached to the DR server again, moved with
#             `rbdmove move` to a new volume in RegionOne: everything
#             travels, as without failback.
# For each: the whole command's time and the data bytes of its seed and
# rounds (from --json), and a check that the result equals the copy
# (rbd export | sha256sum). Prints a table and the ratios.
#
#   --lab DIR          lab directory (default $RBDMOVE_LAB, else /tmp/rbm)
#   --rbdmove PATH     binary (default $RBDMOVE, else build-bench, build)
#   --os-client PATH   rbm-os-client (default: tests/tools/ of the binary's build)
#   --runs N           runs (default 3)
#   --size GIB         volume size (default 1)
#   --data SIZE        data written before the sync (default 512M)
#   --delta SIZE       written on the DR side after the failover (default 64M)
#   --markdown FILE    also write the table as Markdown to FILE
#   --keep DIR         keep each run's output and journal logs in DIR
#   --delay MS         both commands reach the primary cluster through an
#                      rbdmove receiver over the lab's sshd, behind
#                      scripts/bench/delay-relay.py adding MS each way
#   --rate RATE        ... and a line rate shared by all connections (bits/s,
#                      e.g. 400M; with --delay)
#
# Needs the OpenStack lab running (scripts/openstack-lab.sh start). Memory:
# the data twice on each cluster at most; each run's volumes are deleted
# before the next. Servers and volumes are named bench-failback-<pid>-*.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=bench-failback
LAB=${RBDMOVE_LAB:-/tmp/rbm}
BIN=${RBDMOVE:-}
TOOL=${RBM_OS_CLIENT:-}
RUNS=3
SIZE_GIB=1
DATA=512M
DELTA=64M
MARKDOWN=""
KEEP=""
DELAY=""
RATE=""
PY=/usr/bin/python3 # Debian's, with python3-rbd
R1=RegionOne
R2=RegionTwo

say() { echo "$PROG: $*" >&2; }
die() {
    say "$*"
    exit 1
}
usage() {
    sed -n '4,36s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --lab) LAB=${2:?}; shift ;;
    --rbdmove) BIN=${2:?}; shift ;;
    --os-client) TOOL=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --size) SIZE_GIB=${2:?}; shift ;;
    --data) DATA=${2:?}; shift ;;
    --delta) DELTA=${2:?}; shift ;;
    --markdown) MARKDOWN=${2:?}; shift ;;
    --keep) KEEP=${2:?}; shift ;;
    --delay) DELAY=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    -h | --help) usage ;;
    *) say "unknown argument '$1'"; usage ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
[[ "$SIZE_GIB" =~ ^[1-9][0-9]*$ ]] || die "--size wants a number of GiB"
bytes_of() {
    "$PY" - "$1" <<'PY'
import sys
t = sys.argv[1].upper().removesuffix("IB").removesuffix("B")
u = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
print(int(t[:-1]) * u[t[-1]] if t and t[-1] in u else int(t))
PY
}
DATA_BYTES=$(bytes_of "$DATA") || die "--data wants a size (e.g. 512M)"
DELTA_BYTES=$(bytes_of "$DELTA") || die "--delta wants a size (e.g. 64M)"
[ $((DATA_BYTES + DELTA_BYTES)) -le $((SIZE_GIB << 30)) ] ||
    die "--data and --delta do not fit in the volume"

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
[ -x "$TOOL" ] || die "no rbm-os-client at $TOOL: build the target rbm-os-client or pass --os-client"
"$PY" -c 'import rbd' 2>/dev/null || die "$PY cannot import rbd (apt-get install python3-rbd)"
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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbm-bench-failback.XXXXXX")
TAG=bench-failback-$$
SERVERS=() # "REGION ID"
VOLUMES=() # "REGION ID"

osc() { # osc REGION ARGS...
    local r=$1
    shift
    "$TOOL" --os-cloud rbdmove-demo --os-region-name "$r" "$@"
}
value() { sed -n "s/^$1=//p" "$2" | head -n 1; }
conf_of() { [ "$1" = $R1 ] && echo "$C1" || echo "$C2"; }
remove_volume() { # REGION ID: snapshots, detach, delete
    local out=$WORK/rm.out srv spec=volumes/volume-$2
    timeout 120 rbd -c "$(conf_of "$1")" snap purge --no-progress "$spec" \
        >/dev/null 2>&1 || true
    if osc "$1" volume-show "$2" >"$out" 2>&1; then
        srv=$(value attached.0 "$out" | cut -d' ' -f1)
        [ -z "$srv" ] || osc "$1" detach "$srv" "$2" >/dev/null 2>&1 || true
        osc "$1" volume-delete "$2" >/dev/null 2>&1 || say "cannot delete volume $2 in $1"
    fi
}
on_exit() {
    local rc=$? v s
    trap - EXIT INT TERM
    set +e
    for v in "${VOLUMES[@]}"; do
        remove_volume "${v%% *}" "${v#* }"
    done
    for s in "${SERVERS[@]}"; do
        "$PY" "$SRC/tests/integration/os_server.py" delete "${s%% *}" "${s#* }" \
            >/dev/null 2>&1 || say "cannot delete server ${s#* } in ${s%% *}"
    done
    [ -z "${RELAY_PID:-}" ] || kill "$RELAY_PID" 2>/dev/null
    rm -rf "$WORK"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

cat >"$WORK/fill.py" <<'PY'
import os, random, sys
import rados, rbd
conf, spec, total, lo = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pool, _, name = spec.rpartition("/")
ext = 4 << 20
with rados.Rados(conffile=conf) as c, c.open_ioctx(pool) as io, rbd.Image(io, name) as img:
    # 4 MiB extents at distinct random offsets at or above byte lo
    slots = random.sample(range(lo // ext, img.size() // ext), (total + ext - 1) // ext)
    left = total
    for s in slots:
        n = min(ext, left)
        img.write(os.urandom(n), s * ext)
        left -= n
    img.flush()
PY
fill() { "$PY" "$WORK/fill.py" "$@"; }
# data_bytes LOG: data bytes of every seed and round in LOG's --json events
data_bytes() {
    "$PY" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") in ("seed", "round") and "data_bytes" in e:
        n += e["data_bytes"]
print(n)' "$1"
}
checksum() { timeout 600 rbd -c "$1" export --no-progress "$2" - | sha256sum | cut -d' ' -f1; }
now() { date +%s.%N; }

say "Ceph lab profile: ${PROFILE:-unknown}; $RUNS runs, ${SIZE_GIB} GiB volume, $DATA of data, $DELTA written after the failover"
src_srv=$("$PY" "$SRC/tests/integration/os_server.py" create $R1 "$TAG-src") ||
    die "cannot create a server in $R1"
SERVERS+=("$R1 $src_srv")
dr_srv=$("$PY" "$SRC/tests/integration/os_server.py" create $R2 "$TAG-dr") ||
    die "cannot create a server in $R2"
SERVERS+=("$R2 $dr_srv")

COMMON=(--os-cloud rbdmove-demo --progress never --json)
# Over an emulated WAN: the destination commands' --ssh options.
WAN=()
LINK="loopback, librbd on both clusters from this host"
if [ -n "$DELAY" ]; then
    [ -f "$LAB/sshd.env" ] || die "--delay needs the sshd lab (scripts/sshd-lab.sh start)"
    # shellcheck disable=SC1091
    . "$LAB/sshd.env"
    RELAY_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    sed "s/^\[$SSH_HOST\]:$SSH_PORT /[$SSH_HOST]:$RELAY_PORT /" \
        "$SSH_KNOWN_HOSTS" >"$WORK/known_hosts"
    "$PY" "$SRC/scripts/bench/delay-relay.py" "$RELAY_PORT" "$SSH_PORT" "$DELAY" \
        ${RATE:+--rate "$RATE"} >"$WORK/relay.out" 2>&1 &
    RELAY_PID=$!
    for _ in $(seq 50); do
        grep -q listening "$WORK/relay.out" && break
        sleep 0.1
    done
    grep -q listening "$WORK/relay.out" || die "the relay did not start: $(cat "$WORK/relay.out")"
    WAN=(--ssh "$SSH_USER@$SSH_HOST:$RELAY_PORT" -i "$SSH_KEY"
        --known-hosts "$WORK/known_hosts" --remote-rbdmove "$BIN")
    LINK="over SSH through a relay adding $DELAY ms each way${RATE:+, $RATE bit/s}"
fi
say "link: $LINK"
RES=$WORK/results
: >"$RES"
for run in $(seq "$RUNS"); do
    osc $R1 volume-create "$SIZE_GIB" "$TAG-$run" >"$WORK/v" 2>&1 || die "$(cat "$WORK/v")"
    vol=$(value id "$WORK/v")
    VOLUMES+=("$R1 $vol")
    osc $R1 attach "$src_srv" "$vol" >"$WORK/a" 2>&1 || die "$(cat "$WORK/a")"
    fill "$C1" "volumes/volume-$vol" "$DATA_BYTES" 0
    "$BIN" sync "${COMMON[@]}" --os-region-name $R1 --dst-os-region-name $R2 \
        --src-conf "$C1" --dst-conf "$C2" "$vol" >"$WORK/sync" 2>&1 ||
        die "sync failed: $(tail -3 "$WORK/sync")"
    copy=$(sed -n 's/.*"event":"done".*"dst_volume_id":"\([^"]*\)".*/\1/p' "$WORK/sync" | head -n 1)
    [ -n "$copy" ] || die "no copy in the sync's output"
    VOLUMES+=("$R2 $copy")
    "$BIN" failover --os-cloud rbdmove-demo --json --os-region-name $R2 --dst-conf "$C2" \
        --dst-server "$dr_srv" "$copy" >"$WORK/fo" 2>&1 ||
        die "failover failed: $(tail -3 "$WORK/fo")"
    fill "$C2" "volumes/volume-$copy" "$DELTA_BYTES" 0
    osc $R1 detach "$src_srv" "$vol" >"$WORK/d" 2>&1 || die "$(cat "$WORK/d")"
    want=$(checksum "$C2" "volumes/volume-$copy")

    t0=$(now)
    "$BIN" failback "${COMMON[@]}" --os-region-name $R2 --dst-os-region-name $R1 \
        --src-conf "$C2" --dst-conf "$C1" --state-dir "$WORK/state" \
        "${WAN[@]}" "$copy" >"$WORK/fb" 2>&1 || die "failback failed: $(tail -3 "$WORK/fb")"
    fb_s=$(echo "$(now) - $t0" | bc)
    fb_b=$(data_bytes "$WORK/fb")
    fb_ok=$([ "$(checksum "$C1" "volumes/volume-$vol")" = "$want" ] && echo yes || echo NO)

    # The same copy, at work in the DR region again, moved whole.
    osc $R2 attach "$dr_srv" "$copy" >"$WORK/a" 2>&1 || die "$(cat "$WORK/a")"
    t0=$(now)
    "$BIN" move "${COMMON[@]}" --os-region-name $R2 --dst-os-region-name $R1 \
        --dst-server "$src_srv" --src-conf "$C2" --dst-conf "$C1" \
        --state-dir "$WORK/state" "${WAN[@]}" "$copy" >"$WORK/mv" 2>&1 ||
        die "move failed: $(tail -3 "$WORK/mv")"
    mv_s=$(echo "$(now) - $t0" | bc)
    mv_b=$(data_bytes "$WORK/mv")
    new=$(sed -n 's/.*"event":"done".*"dst_volume_id":"\([^"]*\)".*/\1/p' "$WORK/mv" | head -n 1)
    [ -z "$new" ] || VOLUMES+=("$R1 $new")
    mv_ok=$([ -n "$new" ] && [ "$(checksum "$C1" "volumes/volume-$new")" = "$want" ] && echo yes || echo NO)
    echo "$run $fb_s $fb_b $fb_ok $mv_s $mv_b $mv_ok" >>"$RES"
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP/$run"
        cp "$WORK"/{sync,fo,fb,mv} "$KEEP/$run/" 2>/dev/null || true
        cp "$WORK"/state/*.log "$KEEP/$run/" 2>/dev/null || true
    fi
    say "run $run: failback $fb_s s, $fb_b bytes ($fb_ok); re-seed $mv_s s, $mv_b bytes ($mv_ok)"
    for v in "${VOLUMES[@]}"; do
        remove_volume "${v%% *}" "${v#* }"
    done
    VOLUMES=()
done

"$PY" - "$RES" "$PROFILE" "$SIZE_GIB" "$DATA" "$DELTA" "$MARKDOWN" "$LINK" <<'PY'
import statistics, sys
res, profile, size, data, delta, md, link = sys.argv[1:8]
rows = [l.split() for l in open(res) if l.strip()]
out = []
out.append(f"Failback against a full re-seed: {size} GiB volume, {data} of data, "
           f"{delta} written after the failover, Ceph profile {profile}, {link}, {len(rows)} runs")
out.append("")
out.append("| run | failback s | failback MiB | equal | re-seed s | re-seed MiB | equal | time ratio | bytes ratio |")
out.append("|---:|---:|---:|:---:|---:|---:|:---:|---:|---:|")
for r in rows:
    run, fs, fb, fo, ms, mb, mo = r
    fs, fb, ms, mb = float(fs), int(fb), float(ms), int(mb)
    out.append(f"| {run} | {fs:.1f} | {fb / 2**20:.1f} | {fo} | {ms:.1f} | {mb / 2**20:.1f} | {mo} | "
               f"{ms / fs:.2f}x | {mb / max(fb, 1):.1f}x |")
med = lambda i: statistics.median(float(r[i]) for r in rows)
out.append("")
out.append(f"median: failback {med(1):.1f} s and {med(2) / 2**20:.1f} MiB, "
           f"re-seed {med(4):.1f} s and {med(5) / 2**20:.1f} MiB; failback moves "
           f"{med(2) / max(med(5), 1) * 100:.1f}% of the bytes in {med(1) / med(4) * 100:.0f}% of the time")
text = "\n".join(out)
print(text)
if md:
    open(md, "w").write(text + "\n")
PY
