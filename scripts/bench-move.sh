#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-move.sh [options]: the move benchmark of issue 5. On the two-region
# OpenStack lab, N moves (default 5) of a Cinder volume attached to a server
# in RegionOne to a server in RegionTwo, while a stand-in VM
# (tests/integration/vm_writer.py) keeps writing random 64 KiB blocks into it
# at a steady rate from before the move until the detach. For each move:
# the downtime and its parts (detach, final round, verify, attach), the time
# the parts do not cover, the rounds and the bytes of each, and a check that
# the destination equals the source (rbd export | sha256sum on both
# clusters). Prints a table, min/median/max, and where the targets stand
# (downtime < 10 s end to end, final data round < 1 s).
#
#   --lab DIR          lab directory (default $RBDMOVE_LAB, else /tmp/rbm)
#   --start-lab        start the OpenStack lab (and Ceph) if down, stop at the end
#   --rbdmove PATH     binary (default $RBDMOVE, else build-bmove, build-bench, build)
#   --os-client PATH   rbm-os-client (default: tests/tools/ of the binary's build)
#   --runs N           moves (default 5)
#   --size GIB         volume size (default 2)
#   --data SIZE        random data written before the move, in 4 MiB extents
#                      scattered over the volume (default 512M)
#   --rate BYTES       the writer's rate, bytes per second (default 20000000)
#   --profile NAME     the Ceph lab profile the moves must run on: tuned or
#                      rotational (scripts/ceph-lab.sh; with --start-lab the
#                      lab is started with it; a running lab of another
#                      profile is refused). Default: whatever runs, said.
#   --max-downtime S   passed to rbdmove move (default: rbdmove's, 10)
#   --results FILE     keep the per-move key=value measurements in FILE
#   --markdown FILE    also write the table and summary as Markdown to FILE
#   --keep DIR         keep each move's events, stderr and journal log in DIR
#
# Memory and space: one move at a time holds the data, the writer's
# writes and their snapshot copies on both clusters (about 1.5 GiB each
# with the defaults); each move's volumes are deleted before the next. The
# copies held for removed snapshots are freed only by the OSD's snapshot
# trimming, which on a rotational OSD sleeps osd_snap_trim_sleep_hdd (5 s)
# between batches: minutes per move. Between moves the script lets the
# OSDs trim without the sleep, and puts their setting back before the next
# move, so that each move starts on clusters at rest. Servers and volumes
# are named bench-move-<pid>-*.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=bench-move
LAB=${RBDMOVE_LAB:-/tmp/rbm}
BIN=${RBDMOVE:-}
TOOL=${RBM_OS_CLIENT:-}
RUNS=5
SIZE_GIB=2
DATA=512M
RATE=20000000
MAX_DOWNTIME=""
RESULTS=""
MARKDOWN=""
KEEP=""
START_LAB=0
PROFILE=""
PY=/usr/bin/python3 # Debian's, with python3-rbd
R1=RegionOne
R2=RegionTwo

say() { echo "$PROG: $*" >&2; }
die() {
    say "$*"
    exit 1
}
usage() {
    sed -n '4,42s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --lab) LAB=${2:?}; shift ;;
    --start-lab) START_LAB=1 ;;
    --rbdmove) BIN=${2:?}; shift ;;
    --os-client) TOOL=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --size) SIZE_GIB=${2:?}; shift ;;
    --data) DATA=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --profile) PROFILE=${2:?}; shift ;;
    --max-downtime) MAX_DOWNTIME=${2:?}; shift ;;
    --results) RESULTS=${2:?}; shift ;;
    --markdown) MARKDOWN=${2:?}; shift ;;
    --keep) KEEP=${2:?}; shift ;;
    -h | --help) usage ;;
    *) say "unknown argument '$1'"; usage ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
[[ "$SIZE_GIB" =~ ^[1-9][0-9]*$ ]] || die "--size wants a number of GiB"
[[ "$RATE" =~ ^[0-9]+$ ]] || die "--rate wants bytes per second"
case "$PROFILE" in
"" | tuned | rotational) ;;
*) die "--profile wants tuned or rotational" ;;
esac
DATA_BYTES=$("$PY" - "$DATA" <<'PY'
import sys
t = sys.argv[1].upper().removesuffix("IB").removesuffix("B")
u = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
n = int(t[:-1]) * u[t[-1]] if t and t[-1] in u else int(t)
print(n)
PY
) || die "--data wants a size (e.g. 512M)"
[ "$DATA_BYTES" -le $((SIZE_GIB << 30)) ] || die "--data is larger than the volume"

if [ -z "$BIN" ]; then
    for b in build-bmove build-bench build build-test; do
        if [ -x "$SRC/$b/rbdmove/rbdmove" ]; then
            BIN=$SRC/$b/rbdmove/rbdmove
            break
        fi
    done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] ||
    die "no rbdmove binary: build it (cmake --build BUILD --target rbdmove rbm-os-client) or pass --rbdmove"
TOOL=${TOOL:-$(dirname "$(dirname "$BIN")")/tests/tools/rbm-os-client}
[ -x "$TOOL" ] || die "no rbm-os-client at $TOOL: build the target rbm-os-client or pass --os-client"
"$PY" -c 'import rbd' 2>/dev/null || die "$PY cannot import rbd (apt-get install python3-rbd)"

# ---- lab -------------------------------------------------------------------------

export RBDMOVE_LAB=$LAB
[ -z "$PROFILE" ] || export RBDMOVE_CEPH_PROFILE=$PROFILE
LAB_STARTED=0
CEPH_STARTED=0
if ! "$SRC/scripts/openstack-lab.sh" status >/dev/null 2>&1; then
    [ "$START_LAB" = 1 ] ||
        die "the OpenStack lab in $LAB is not running: scripts/openstack-lab.sh start, or pass --start-lab"
    "$SRC/scripts/ceph-lab.sh" status >/dev/null 2>&1 || CEPH_STARTED=1
    say "starting the OpenStack lab in $LAB"
    LAB_STARTED=1
    "$SRC/scripts/openstack-lab.sh" start >&2
fi
set -a
# shellcheck disable=SC1091
. "$LAB/ceph.env"
# shellcheck disable=SC1091
. "$LAB/openstack.env"
set +a
C1=${CEPH1_CONF:-$LAB/ceph1/ceph.conf}
C2=${CEPH2_CONF:-$LAB/ceph2/ceph.conf}
# The profile the clusters run (ceph-lab.sh writes it into ceph.conf).
running=$(sed -n 's/^# profile \([a-z]*\).*/\1/p' "$C1" | head -n 1)
running2=$(sed -n 's/^# profile \([a-z]*\).*/\1/p' "$C2" | head -n 1)
[ "$running" = "$running2" ] ||
    die "the clusters run different profiles ($running, $running2)"
[ -z "$PROFILE" ] || [ "$running" = "$PROFILE" ] ||
    die "the lab runs profile '${running:-unknown}', not '$PROFILE': stop it (scripts/openstack-lab.sh stop --with-ceph) or use --start-lab"
PROFILE=${running:-unknown}
say "Ceph lab profile: $PROFILE"
# Like the move test: the tools read clouds.yaml only, the helpers the lab's
# demo credentials (RBM_OS_DEMO_*) and RBM_AUTH_URL.
export RBM_AUTH_URL=${RBM_AUTH_URL:-$OS_AUTH_URL}
for v in $(env | grep -o '^OS_[A-Z_]*'); do
    [ "$v" = OS_CLIENT_CONFIG_FILE ] || unset "$v"
done
export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$LAB/openstack/clouds.yaml}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbm-bench-move.XXXXXX")
STATE=$WORK/state
RES=$WORK/results
: >"$RES"
TAG=bench-move-$$
SERVERS=() # "REGION ID"
VOLUMES=() # "REGION ID" of volumes not yet removed
WRITER=""

osc() { # osc REGION ARGS...
    local r=$1
    shift
    "$TOOL" --os-cloud rbdmove-demo --os-region-name "$r" "$@"
}
value() { # value KEY FILE: KEY=... from rbm-os-client output
    sed -n "s/^$1=//p" "$2" | head -n 1
}
conf_of() { [ "$1" = $R1 ] && echo "$C1" || echo "$C2"; }

# remove_volume REGION ID: snapshots first (Cinder's RBD driver cannot
# delete an image that has some), detach if attached, then delete.
remove_volume() {
    local conf spec out=$WORK/rm.out srv
    conf=$(conf_of "$1")
    spec=volumes/volume-$2
    # (timeouts: the rbd CLI waits forever for a dead OSD)
    if timeout 60 rbd -c "$conf" info "$spec" >/dev/null 2>&1; then
        timeout 120 rbd -c "$conf" snap purge --no-progress "$spec" >/dev/null 2>&1 ||
            say "cannot purge the snapshots of $spec"
    fi
    if osc "$1" volume-show "$2" >"$out" 2>&1; then
        srv=$(value attached.0 "$out" | cut -d' ' -f1)
        [ -z "$srv" ] || osc "$1" detach "$srv" "$2" >/dev/null 2>&1 ||
            say "cannot detach volume $2 from server $srv"
        osc "$1" volume-delete "$2" >/dev/null 2>&1 ||
            say "cannot delete volume $2 in $1"
    fi
}
forget_volume() { # forget_volume REGION ID
    local v keep=()
    for v in "${VOLUMES[@]}"; do
        [ "$v" = "$1 $2" ] || keep+=("$v")
    done
    VOLUMES=("${keep[@]}")
}
stop_writer() {
    if [ -n "$WRITER" ]; then
        kill "$WRITER" 2>/dev/null || true
        wait "$WRITER" 2>/dev/null || true
        WRITER=""
    fi
}

on_exit() {
    local rc=$? v s
    trap - EXIT INT TERM
    set +e
    stop_writer
    for v in "${VOLUMES[@]}"; do
        remove_volume "${v%% *}" "${v#* }"
    done
    for s in "${SERVERS[@]}"; do
        "$PY" "$SRC/tests/integration/os_server.py" delete "${s%% *}" "${s#* }" \
            >/dev/null 2>&1 || say "cannot delete server ${s#* } in ${s%% *}"
    done
    if [ "$LAB_STARTED" = 1 ]; then
        if [ "$CEPH_STARTED" = 1 ]; then
            "$SRC/scripts/openstack-lab.sh" stop --with-ceph >&2
        else
            "$SRC/scripts/openstack-lab.sh" stop >&2
        fi
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Memory for one move: the data and ~20 s of writes on both clusters, plus
# headroom for the snapshot copies (the OSDs reuse what the previous move's
# volumes freed).
need_mib() { echo $((((2 * DATA_BYTES + 2 * RATE * 20) >> 20) + 1024)); }
# On a shared machine others' memory comes and goes: wait up to 2 minutes.
check_memory() {
    local avail i
    for i in $(seq 24); do
        avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
        [ "$avail" -ge "$(need_mib)" ] && return 0
        [ "$i" = 1 ] && say "waiting for memory: $avail MiB available, a move needs about $(need_mib) MiB"
        sleep 5
    done
    die "only $avail MiB of memory available, a move needs about $(need_mib) MiB (try --data 256M)"
}
check_memory

# ---- servers -----------------------------------------------------------------------

say "creating a server in each region"
src_srv=$("$PY" "$SRC/tests/integration/os_server.py" create $R1 "$TAG-src") ||
    die "cannot create a server in $R1"
SERVERS+=("$R1 $src_srv")
dst_srv=$("$PY" "$SRC/tests/integration/os_server.py" create $R2 "$TAG-dst") ||
    die "cannot create a server in $R2"
SERVERS+=("$R2 $dst_srv")

# fill.py CONF POOL/IMAGE BYTES: BYTES of random data in 4 MiB extents at
# distinct random offsets.
cat >"$WORK/fill.py" <<'PY'
import os, random, sys
import rados, rbd
conf, spec, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
pool, _, name = spec.rpartition("/")
ext = 4 << 20
with rados.Rados(conffile=conf) as c, c.open_ioctx(pool) as io, rbd.Image(io, name) as img:
    slots = random.sample(range(img.size() // ext), (total + ext - 1) // ext)
    left = total
    for s in slots:
        n = min(ext, left)
        img.write(os.urandom(n), s * ext)
        left -= n
    img.flush()
PY

checksum() { # checksum CONF POOL/IMAGE OUTFILE (pipefail: a failed export shows)
    local sum
    if sum=$(timeout 600 rbd -c "$1" export --no-progress "$2" - | sha256sum); then
        echo "${sum%% *}" >"$3"
    else
        echo "export-failed" >"$3"
    fi
    return 0
}

# ---- the moves -----------------------------------------------------------------------

# Both clusters must answer before each move: a dead OSD (the OOM killer
# likes memstore OSDs) fails every later move, so stop instead.
check_clusters() {
    local c
    for c in "$C1" "$C2"; do
        timeout 30 rbd -c "$c" ls volumes >/dev/null 2>&1 ||
            die "the cluster of $c does not answer (is its OSD alive? scripts/ceph-lab.sh status)"
    done
}

for c in "$C1" "$C2"; do
    sleep_hdd=$(timeout 20 ceph -c "$c" tell osd.0 config get osd_snap_trim_sleep_hdd 2>/dev/null |
        sed -n 's/.*"osd_snap_trim_sleep_hdd": *"\([0-9.]*\)".*/\1/p')
    case "$sleep_hdd" in
    *[1-9]*) say "osd.0 of $c sleeps $sleep_hdd s between snapshot trims (between moves the bench lets it trim without the sleep)" ;;
    esac
done

# Each move starts on clusters at rest: no PG still trimming the snapshots
# of the move before. With the hdd trim sleep (the rotational profile) that
# takes many minutes and a backlog of it filled the lab's OSDs once, so
# while the bench waits, no move running, the OSDs trim without the sleep;
# their setting is put back before the next move starts. Each move records
# how long that took (trim_wait_s). At most 20 minutes.
TRIM_WAIT=""
trimming() { # trimming CONF: how many PGs trim or wait to
    timeout 30 ceph -c "$1" pg ls snaptrim snaptrim_wait --format json 2>/dev/null |
        "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("pg_stats") or [] if isinstance(d, dict) else d))' 2>/dev/null ||
        echo unknown
}
trim_sleep() { # trim_sleep CONF [VALUE]: get, or set, osd.0's hdd trim sleep
    if [ $# = 2 ]; then
        timeout 30 ceph -c "$1" tell osd.0 config set osd_snap_trim_sleep_hdd "$2" >/dev/null 2>&1
    else
        timeout 30 ceph -c "$1" tell osd.0 config get osd_snap_trim_sleep_hdd 2>/dev/null |
            sed -n 's/.*"osd_snap_trim_sleep_hdd": *"\([0-9.]*\)".*/\1/p'
    fi
}
wait_trimmed() {
    local c t0=$SECONDS old
    for c in "$C1" "$C2"; do
        [ "$(trimming "$c")" = 0 ] && continue
        old=$(trim_sleep "$c")
        [ -n "$old" ] || die "cannot read the trim sleep of $c"
        trim_sleep "$c" 0 || die "cannot set the trim sleep of $c"
        while [ "$(trimming "$c")" != 0 ]; do
            [ $((SECONDS - t0)) -lt 1200 ] || die "$c still trims snapshots after 20 minutes"
            sleep 1
        done
        trim_sleep "$c" "$old" || die "cannot put back the trim sleep of $c"
    done
    TRIM_WAIT=$((SECONDS - t0))
}
[ -z "$RESULTS" ] || : >"$RESULTS"

failures=0
for run in $(seq "$RUNS"); do
    check_memory
    check_clusters
    wait_trimmed
    out=$WORK/run$run
    say "move $run/$RUNS: a ${SIZE_GIB} GiB volume with $DATA of data, writer at $RATE B/s"
    osc $R1 volume-create "$SIZE_GIB" "$TAG-$run" >"$out.create" 2>&1 ||
        die "cannot create a volume: $(tail -n 3 "$out.create")"
    vol=$(value id "$out.create")
    VOLUMES+=("$R1 $vol")
    timeout 300 "$PY" - "$C1" "volumes/volume-$vol" "$DATA_BYTES" <"$WORK/fill.py" ||
        die "cannot write the data"
    osc $R1 attach "$src_srv" "$vol" >"$out.attach" 2>&1 ||
        die "cannot attach the volume: $(tail -n 3 "$out.attach")"

    w0=$EPOCHREALTIME
    "$PY" "$SRC/tests/integration/vm_writer.py" "$C1" "volumes/volume-$vol" \
        "$RATE" "$vol" $R1 120 >"$out.writer" 2>&1 &
    WRITER=$!
    sleep 2

    args=(--os-cloud rbdmove-demo --os-region-name "$R1" --dst-os-region-name "$R2"
        --dst-server "$dst_srv" --src-conf "$C1" --dst-conf "$C2"
        --state-dir "$STATE" --progress never --json)
    [ -z "$MAX_DOWNTIME" ] || args+=(--max-downtime "$MAX_DOWNTIME")
    load=$(cut -d' ' -f1 /proc/loadavg) # the machine is shared: say how busy
    m0=$EPOCHREALTIME
    set +e
    # Each event line is stamped with the time it arrived (rbdmove flushes
    # every event): the timeline that explains the downtime.
    "$BIN" move "${args[@]}" "$vol" 2>"$out.err" |
        while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >"$out.events"
    rc=${PIPESTATUS[0]}
    set -e
    m1=$EPOCHREALTIME
    # The writer stops by itself once Cinder says the volume is detached.
    if [ "$rc" = 0 ]; then
        wait "$WRITER" 2>/dev/null || true
        WRITER=""
    else
        stop_writer
    fi
    w1=$EPOCHREALTIME
    written=$(tail -n 1 "$out.writer")
    [[ "$written" =~ ^[0-9]+$ ]] || written=0

    id=$(sed -n 's/.*"move":"\([^"]*\)".*/\1/p' "$out.events" | head -n 1)
    # The destination volume, from the journal: a failed move may have made one.
    dst=""
    if [ -n "$id" ] && [ -f "$STATE/$id.journal" ]; then
        dst=$(sed -n 's/^dst.volume //p' "$STATE/$id.journal" | tail -n 1)
    fi
    [ -z "$dst" ] || VOLUMES+=("$R2 $dst")

    equal=0
    snaps_left="-"
    if [ "$rc" = 0 ] && [ -n "$dst" ]; then
        checksum "$C1" "volumes/volume-$vol" "$out.sum1" &
        p1=$!
        checksum "$C2" "volumes/volume-$dst" "$out.sum2" &
        p2=$!
        wait $p1 $p2
        if [ "$(cat "$out.sum1")" = "$(cat "$out.sum2")" ] &&
            [ "$(cat "$out.sum1")" != export-failed ]; then
            equal=1
        fi
        snaps_left=$(($(timeout 60 rbd -c "$C1" snap ls "volumes/volume-$vol" 2>/dev/null | grep -c rbdmove- || true) +
            $(timeout 60 rbd -c "$C2" snap ls "volumes/volume-$dst" 2>/dev/null | grep -c rbdmove- || true)))
    fi
    [ "$equal" = 1 ] || failures=$((failures + 1))
    if [ "$rc" != 0 ]; then
        say "move $run failed (exit status $rc):"
        tail -n 5 "$out.err" >&2
    elif [ "$equal" != 1 ]; then
        say "move $run: the destination differs from the source ($(cat "$out.sum1") vs $(cat "$out.sum2"))"
    fi
    [ -n "$id" ] && [ -f "$STATE/$id.log" ] && cp "$STATE/$id.log" "$out.log"
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP"
        for f in events err log writer; do
            [ -f "$out.$f" ] && cp "$out.$f" "$KEEP/run$run.$f"
        done
    fi

    TRIM_WAIT=$TRIM_WAIT "$PY" - "$out.events" "$run" "$rc" "$equal" "$written" "$w0" "$w1" "$m0" "$m1" \
        "$snaps_left" "$load" >>"$RES" <<'PY'
import json, sys
events, run, rc, equal, written, w0, w1, m0, m1, snaps, load = sys.argv[1:12]
ev = []
for line in open(events):
    t, _, text = line.partition(" ")
    if text.startswith("{"):
        ev.append((float(t), json.loads(text)))
done = next((e for _, e in ev if e.get("event") == "done"), {})
def first(name, pred=lambda e: True):
    return next((t for t, e in ev if e.get("event") == name and pred(e)), None)
rec = {"run": run, "rc": rc, "equal": equal, "written": written,
       "writer_s": "%.2f" % (float(w1) - float(w0)),
       "move_s": "%.2f" % (float(m1) - float(m0)), "snaps_left": snaps,
       "load1": load}
import os
if os.environ.get("TRIM_WAIT"):
    rec["trim_wait_s"] = os.environ["TRIM_WAIT"]
for k in ("downtime_s", "detach_s", "final_round_s", "verify_s", "attach_s", "rounds"):
    rec[k] = done.get(k, "")
rec["round_bytes"] = ",".join(str(b) for b in done.get("round_bytes", []))
if done:
    parts = sum(done[k] for k in ("detach_s", "final_round_s", "verify_s", "attach_s"))
    rec["other_s"] = "%.3f" % (done["downtime_s"] - parts)
    # Where the rest goes, from the event times: detach request -> final round
    # start, beyond the detach itself; final verify -> attach request.
    t_det = first("detach")
    t_fin = first("final")
    t_ver = first("verify", lambda e: "final round" in e.get("message", ""))
    t_att = first("attach")
    if t_det is not None and int(written) > 0:
        # The writer ran from its start (w0, Python start-up and a token
        # included: a lower bound) until Cinder said "available".
        rec["writer_mbps"] = "%.1f" % (int(written) / 1e6 / (t_det + done["detach_s"] - float(w0)))
    if None not in (t_det, t_fin, t_ver, t_att):
        rec["gap_detached_s"] = "%.3f" % (t_fin - t_det - done["detach_s"])
        rec["gap_attaching_s"] = "%.3f" % (t_att - t_ver)
        rec["gap_mid_s"] = "%.3f" % (t_ver - t_fin - done["final_round_s"] - done["verify_s"])
    # Each incremental round's rate (data bytes / copy seconds), MB/s.
    rr = [e for _, e in ev if e.get("event") == "round" and e.get("seconds")]
    rec["round_mbps"] = ",".join("%.0f" % (e["data_bytes"] / 1e6 / e["seconds"]) for e in rr)
    # Where the rounds' time went (replicate.c's "round N times" lines),
    # summed over the incremental rounds, and the gap between a round's end
    # and the next one's start (the delta estimate and the decision).
    import re
    parts = [0.0] * 5
    for _, e in ev:
        # (Since issue 12 a round no longer removes the base it replaces:
        # no "previous snapshots removed" part, and the cleanup says how
        # long removing them all took.)
        m = re.match(r"round \d+ times: source snapshot ([\d.]+) s, changed extents ([\d.]+) s, "
                     r"copy ([\d.]+) s, destination snapshot and marks ([\d.]+) s"
                     r"(?:, previous snapshots removed ([\d.]+) s)?", e.get("message", ""))
        if e.get("event") == "info" and m:
            parts = [a + float(b or 0) for a, b in zip(parts, m.groups())]
        m = re.match(r"removed (\d+) earlier round snapshots? on both sides in ([\d.]+) s",
                     e.get("message", ""))
        if e.get("event") == "info" and m:
            rec["retired_removed"] = m.group(1)
            rec["retired_remove_s"] = m.group(2)
    rec["round_parts"] = ",".join("%.2f" % x for x in parts)
    gaps, last_done = 0.0, None
    for t, e in ev:
        if e.get("event") in ("round", "seed") and "seconds" in e:
            last_done = t
        elif e.get("event") == "round" and last_done is not None:
            gaps += t - last_done
            last_done = None
    rec["between_rounds_s"] = "%.2f" % gaps
    # Auto-converge: the deepest throttle (percent of the guest's measured
    # rate) and how long the guest was throttled.
    th = [e for _, e in ev if e.get("event") == "throttle"]
    levels = [e["level"] for e in th if isinstance(e.get("level"), (int, float))]
    if levels:
        rec["throttle_pct"] = "%d" % min(levels)
    secs = [e["throttled_s"] for e in th if isinstance(e.get("throttled_s"), (int, float))]
    if secs:
        rec["throttled_s"] = "%.1f" % max(secs)
    seed = [e for _, e in ev if e.get("event") == "seed" and "seconds" in e]
    if seed:
        rec["seed_s"] = "%.2f" % seed[-1]["seconds"]
    # Inside the final round: before its start event (delta estimate,
    # source snapshot, pending mark), the copy itself, and after it
    # (destination image, snapshot and marks).
    rounds = [(t, e) for t, e in ev if e.get("event") == "round"]
    if len(rounds) >= 2 and t_fin is not None and "seconds" in rounds[-1][1]:
        (ts, _), (td, e) = rounds[-2], rounds[-1]
        rec["final_pre_s"] = "%.3f" % (ts - t_fin)
        rec["final_copy_s"] = "%.3f" % e["seconds"]
        rec["final_post_s"] = "%.3f" % (td - ts - e["seconds"])
    # The last convergence decision: what it predicted, and how long the
    # writer went on (full verify of the base, server check) until the detach.
    conv = [(t, e) for t, e in ev if e.get("event") == "info"
            and "bytes changed since the last round" in e.get("message", "")]
    if conv and t_det is not None:
        rec["predicted_bytes"] = conv[-1][1]["message"].split()[0]
        rec["to_detach_s"] = "%.3f" % (t_det - conv[-1][0])
print(" ".join("%s=%s" % (k, v) for k, v in rec.items()))
PY
    tail -n 1 "$RES" | sed 's/^/  /' >&2
    [ -z "$RESULTS" ] || tail -n 1 "$RES" >>"$RESULTS"

    # Free the memory for the next move.
    if [ -n "$dst" ]; then
        remove_volume $R2 "$dst"
        forget_volume $R2 "$dst"
    fi
    remove_volume $R1 "$vol"
    forget_volume $R1 "$vol"
done

# ---- report ------------------------------------------------------------------------

"$PY" - "$RES" "$MARKDOWN" "$SIZE_GIB" "$DATA" "$RATE" "$failures" "$PROFILE" <<'PY'
import statistics, sys
res, md_path, size, data, rate, failures, profile = sys.argv[1:8]
runs = []
for line in open(res):
    runs.append(dict(kv.split("=", 1) for kv in line.split()))
ok = [r for r in runs if r["rc"] == "0" and r.get("downtime_s")]
F = lambda r, k: float(r[k]) if r.get(k) not in (None, "") else float("nan")

def mib(b):
    return "%.1f" % (int(b) / 1048576)

head = ["move", "downtime s", "detach s", "final round s", "verify s", "attach s",
        "other s", "rounds", "MiB per round (seed first)", "round MB/s", "throttle",
        "writer MB/s", "move s", "load", "trim wait before s", "equal"]
rows = []
for r in runs:
    rb = r.get("round_bytes", "")
    rows.append([r["run"], r.get("downtime_s", "-") or "-", r.get("detach_s", "-") or "-",
                 r.get("final_round_s", "-") or "-", r.get("verify_s", "-") or "-",
                 r.get("attach_s", "-") or "-", r.get("other_s", "-"),
                 r.get("rounds", "-") or "-",
                 " / ".join(mib(b) for b in rb.split(",")) if rb else "-",
                 " / ".join(r["round_mbps"].split(",")) if r.get("round_mbps") else "-",
                 ("%s%% %s s" % (r["throttle_pct"], r.get("throttled_s", "?")))
                 if r.get("throttle_pct") else "-",
                 r.get("writer_mbps", "-"), r["move_s"], r["load1"], r.get("trim_wait_s", "-"),
                 "yes" if r["equal"] == "1" else "NO"])
fmt = lambda x: "%.2f" % x
lines = []
if ok:
    dt = [F(r, "downtime_s") for r in ok]
    fr = [F(r, "final_round_s") for r in ok]
    oth = [F(r, "other_s") for r in ok]
    lines.append("downtime      min %s  median %s  max %s s" % (fmt(min(dt)), fmt(statistics.median(dt)), fmt(max(dt))))
    lines.append("final round   min %.3f  median %.3f  max %.3f s" % (min(fr), statistics.median(fr), max(fr)))
    for k, label in (("detach_s", "detach"), ("verify_s", "verify"), ("attach_s", "attach")):
        v = [F(r, k) for r in ok]
        lines.append("%-13s min %.3f  median %.3f  max %.3f s" % (label, min(v), statistics.median(v), max(v)))
    lines.append("not in parts  min %.3f  median %.3f  max %.3f s" % (min(oth), statistics.median(oth), max(oth)))
    g1 = [F(r, "gap_detached_s") for r in ok if r.get("gap_detached_s")]
    g2 = [F(r, "gap_attaching_s") for r in ok if r.get("gap_attaching_s")]
    if g1 and g2:
        lines.append("  of which: detach done -> final round start median %.3f s, "
                     "verify done -> attach request median %.3f s" %
                     (statistics.median(g1), statistics.median(g2)))
    lines.append("target downtime < 10 s: %s (%d of %d moves under 10 s)" %
                 ("MET" if max(dt) < 10 and len(ok) == len(runs) else "NOT MET",
                  sum(d < 10 for d in dt), len(runs)))
    lines.append("target final round < 1 s: %s (%d of %d moves under 1 s)" %
                 ("MET" if max(fr) < 1 and len(ok) == len(runs) else "NOT MET",
                  sum(f < 1 for f in fr), len(runs)))
lines.append("moves failed or not equal: %s of %d" % (failures, len(runs)))

head3 = ["move", "rounds", "source snapshot s", "changed extents s", "copy s",
         "dst snapshot+marks s", "snapshot removal in rounds s", "between rounds s",
         "removed after the cutover (s)"]
rows3 = []
for r in runs:
    if r.get("round_parts"):
        rows3.append([r["run"], r.get("rounds", "-") or "-"] + r["round_parts"].split(",")
                     + [r.get("between_rounds_s", "-"),
                        "%s (%s s)" % (r["retired_removed"], r["retired_remove_s"])
                        if r.get("retired_removed") else "-"])

head2 = ["move", "changed at decision MiB", "final round data MiB", "decision -> detach s",
         "final: before copy s", "copy s", "after copy s"]
rows2 = []
for r in ok:
    fb = r.get("round_bytes", "").split(",")[-1]
    rows2.append([r["run"], mib(r.get("predicted_bytes", 0) or 0), mib(fb or 0),
                  r.get("to_detach_s", "-"), r.get("final_pre_s", "-"),
                  r.get("final_copy_s", "-"), r.get("final_post_s", "-")])

def table(h, rs):
    w = [max(len(x), *(len(row[i]) for row in rs)) if rs else len(x) for i, x in enumerate(h)]
    return ["  ".join(c.rjust(n) for c, n in zip(row, w)) for row in [h] + rs]

def mdtable(h, rs):
    return ["| " + " | ".join(h) + " |", "|" + "|".join("---:" for _ in h) + "|"] + \
        ["| " + " | ".join(row) + " |" for row in rs]

print("rbdmove move: %d moves of a %s GiB volume with %s of data, writer at %s B/s, "
      "Ceph profile %s" % (len(runs), size, data, rate, profile))
print("\n".join(table(head, rows)))
print()
print("the final round: changed extents when the last round was judged to fit the")
print("budget and the data the final round moved; time from that decision to the")
print("detach request; the final round's time before, in and after the copy")
print("\n".join(table(head2, rows2)))
print()
print("where the incremental rounds' time went, summed over the rounds of each move")
print("\n".join(table(head3, rows3)))
print()
print("\n".join(lines))
if md_path:
    with open(md_path, "w") as f:
        f.write("\n".join(mdtable(head, rows)) + "\n\n")
        f.write("\n".join(mdtable(head2, rows2)) + "\n\n")
        f.write("\n".join(mdtable(head3, rows3)) + "\n")
        f.write("\n```\n" + "\n".join(lines) + "\n```\n")
PY
[ "$failures" = 0 ]
