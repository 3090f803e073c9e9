#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-copy.sh [options]: the foundation benchmark. On the two lab clusters,
# `rbdmove copy` against `rbd export-diff | rbd import-diff` on the same data,
# in the same run: a full copy of a 4 GiB image holding 2 GiB of random data
# (512 random 4 MiB extents, scattered over the whole image), then a delta of
# 64 MiB in 1024 writes of 64 KiB at random offsets. Prints time, bytes
# streamed, peak RSS and the ratios, and checks the targets of issue 2.
#
#   --lab DIR         lab directory (default $RBDMOVE_LAB, else /tmp/rbm)
#   --start-lab       start the lab in DIR if it is down, stop it at the end
#                     (ports from --ports / $RBDMOVE_CEPH_PORTS)
#   --ports "P1 P2"   base ports of ceph1 and ceph2 for --start-lab
#   --rbdmove PATH    binary (default $RBDMOVE, else build-bench, build)
#   --runs N          repetitions in one go (default 2)
#   --windows "N..."  --window values of the extra full copies (default "8 16 32")
#   --no-warmup       skip writing (and removing) warm-up data first
#   --results FILE    write the raw key=value measurements to FILE (as they come)
#   --markdown FILE   also write the tables as Markdown to FILE
#   --scale K         divide every size by K (a quick check: --scale 16)
#   --commit ID       the commit the binary was built from, for the report
#                     (default: HEAD of this tree, "+dirty" with local changes)
#
# Memory: a memstore OSD holds every byte written in RAM, about 2 bytes of
# RSS per byte; a run needs about 4.5 GiB on ceph1 and 4.5 GiB on ceph2 (one
# destination at a time) and stops early when the machine has too little.
# Every image it makes is named bench-<pid>-*, removed with its snapshots at
# exit.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=bench-copy
LAB=${RBDMOVE_LAB:-/tmp/rbm}
PORTS=${RBDMOVE_CEPH_PORTS:-}
BIN=${RBDMOVE:-}
RUNS=2
WINDOWS="8 16 32"
WARMUP=1
START_LAB=0
RESULTS=""
MARKDOWN=""
SCALE=1
COMMIT=""
PY=/usr/bin/python3 # Debian's, with python3-rbd

say() { echo "$PROG: $*" >&2; }
die() {
    say "$*"
    exit 1
}

usage() {
    sed -n '4,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --lab) LAB=${2:?}; shift ;;
    --start-lab) START_LAB=1 ;;
    --ports) PORTS=${2:?}; shift ;;
    --rbdmove) BIN=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --windows) WINDOWS=${2?}; shift ;;
    --no-warmup) WARMUP=0 ;;
    --results) RESULTS=${2:?}; shift ;;
    --markdown) MARKDOWN=${2:?}; shift ;;
    --scale) SCALE=${2:?}; shift ;;
    --commit) COMMIT=${2:?}; shift ;;
    -h | --help) usage ;;
    *) say "unknown argument '$1'"; usage ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || die "--scale wants a positive number"
for w in $WINDOWS; do
    [[ "$w" =~ ^[1-9][0-9]*$ ]] || die "--windows wants numbers"
done

if [ -z "$BIN" ]; then
    for b in build-bench build build-test; do
        if [ -x "$SRC/$b/rbdmove/rbdmove" ]; then
            BIN=$SRC/$b/rbdmove/rbdmove
            break
        fi
    done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] ||
    die "no rbdmove binary: build it (cmake --build BUILD --target rbdmove) or pass --rbdmove"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
"$PY" -c 'import rbd' 2>/dev/null || die "$PY cannot import rbd (apt-get install python3-rbd)"

# ---- sizes -------------------------------------------------------------------

MIB=$((1 << 20))
IMAGE_SIZE=$(((4 << 30) / SCALE))
FILL_COUNT=$((512 / SCALE))      # extents of FILL_SIZE: half the image
FILL_SIZE=$((4 * MIB))
DELTA_COUNT=$((1024 / SCALE))    # writes of DELTA_SIZE at DELTA_SIZE-aligned offsets
DELTA_SIZE=$((64 << 10))
FILL_BYTES=$((FILL_COUNT * FILL_SIZE))
DELTA_BYTES=$((DELTA_COUNT * DELTA_SIZE))

# ---- lab -----------------------------------------------------------------------

export RBDMOVE_LAB=$LAB
[ -z "$PORTS" ] || export RBDMOVE_CEPH_PORTS=$PORTS
C1=$LAB/ceph1/ceph.conf
C2=$LAB/ceph2/ceph.conf
LAB_STARTED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbm-bench.XXXXXX")
TAG=bench-$$
IMAGES=() # "CONF SPEC" of every image made, removed at exit

cleanup_images() {
    local entry conf spec
    for entry in "${IMAGES[@]}"; do
        conf=${entry%% *}
        spec=${entry#* }
        if rbd -c "$conf" info "$spec" >/dev/null 2>&1; then
            rbd -c "$conf" snap purge --no-progress "$spec" >/dev/null 2>&1 || true
            rbd -c "$conf" rm --no-progress "$spec" >/dev/null 2>&1 ||
                say "could not remove $spec (cluster $conf)"
        fi
    done
    IMAGES=()
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    cleanup_images
    if [ "$LAB_STARTED" = 1 ]; then
        "$SRC/scripts/ceph-lab.sh" stop >&2 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

if ! "$SRC/scripts/ceph-lab.sh" status >/dev/null 2>&1; then
    [ "$START_LAB" = 1 ] ||
        die "the lab in $LAB is not running: scripts/ceph-lab.sh start, or pass --start-lab"
    say "starting the lab in $LAB"
    LAB_STARTED=1
    "$SRC/scripts/ceph-lab.sh" start >&2
fi

# memstore counts as a rotational device, so the OSDs sleep
# osd_snap_trim_sleep_hdd (5 s) between snapshot trims: removed snapshots
# then hold their RAM for minutes. Lift that on a lab this script started;
# only warn on a shared one.
for c in "$C1" "$C2"; do
    if [ "$LAB_STARTED" = 1 ]; then
        timeout 30 ceph -c "$c" tell osd.0 config set osd_snap_trim_sleep_hdd 0 >/dev/null ||
            say "could not set osd_snap_trim_sleep_hdd on $c"
    elif timeout 30 ceph -c "$c" tell osd.0 config get osd_snap_trim_sleep_hdd 2>/dev/null |
        grep -q '"[1-9][0-9.]*"'; then
        say "warning: osd.0 of $c sleeps between snapshot trims; removed images keep their RAM for minutes (ceph tell osd.0 config set osd_snap_trim_sleep_hdd 0)"
    fi
done

# ---- measuring -----------------------------------------------------------------

RES=${RESULTS:-$WORK/results}
: >"$RES"
TIME_FMT='%e %U %S %M %x'

record() { # record key=value...: one line of the results file
    echo "$*" >>"$RES"
}

now() { echo "$EPOCHREALTIME"; }

elapsed() { # elapsed T0 T1
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
}

# timed NAME CMD...: run CMD under /usr/bin/time; its stdout goes to
# $WORK/NAME.out, stderr to $WORK/NAME.err. Sets T_WALL T_USER T_SYS T_RSS
# (KiB). Dies when CMD fails.
timed() {
    local name=$1 wall user sys rss code
    shift
    if ! /usr/bin/time -f "$TIME_FMT" -o "$WORK/$name.time" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        say "$name failed: $*"
        tail -n 20 "$WORK/$name.err" >&2
        exit 1
    fi
    read -r wall user sys rss code <"$WORK/$name.time"
    T_WALL=$wall T_USER=$user T_SYS=$sys T_RSS=$rss
}

# timed_pipe NAME "CMD1" "CMD2": run CMD1 | CMD2 (each a string of words,
# no quoting inside), each side under /usr/bin/time. Sets P_WALL (the whole
# pipe), P_RSS1 P_RSS2, P_CPU (user+sys of both). CMD2's stdout goes to
# $WORK/NAME.out.
timed_pipe() {
    local name=$1 t0 t1 st w u s r x cpu=0
    local -a a b
    read -r -a a <<<"$2"
    read -r -a b <<<"$3"
    t0=$(now)
    set +e
    /usr/bin/time -f "$TIME_FMT" -o "$WORK/$name.1.time" "${a[@]}" 2>"$WORK/$name.1.err" |
        /usr/bin/time -f "$TIME_FMT" -o "$WORK/$name.2.time" "${b[@]}" \
            >"$WORK/$name.out" 2>"$WORK/$name.2.err"
    st=("${PIPESTATUS[@]}")
    set -e
    t1=$(now)
    if [ "${st[0]}" != 0 ] || [ "${st[1]}" != 0 ]; then
        say "$name failed (exit ${st[*]}): $2 | $3"
        tail -n 10 "$WORK/$name.1.err" "$WORK/$name.2.err" >&2
        exit 1
    fi
    P_WALL=$(elapsed "$t0" "$t1")
    read -r w u s r x <"$WORK/$name.1.time"
    P_RSS1=$r
    cpu=$(awk -v a="$u" -v b="$s" 'BEGIN { print a + b }')
    read -r w u s r x <"$WORK/$name.2.time"
    P_RSS2=$r
    P_CPU=$(awk -v c="$cpu" -v a="$u" -v b="$s" 'BEGIN { printf "%.2f", c + a + b }')
}

cpu_of() { awk -v a="$T_USER" -v b="$T_SYS" 'BEGIN { printf "%.2f", a + b }'; }

# sum_events FILE: "DATA ZERO ROUNDS BASE SECONDS" from rbdmove --json
# events (SECONDS: the data transfers of the rounds, without the fixed costs
# of a run: connections, snapshots, metadata).
sum_events() {
    "$PY" - "$1" <<'PY'
import json, sys
data = zero = rounds = secs = 0
base = "-"
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    ev = json.loads(line)
    if ev.get("event") == "round_done":
        data += ev["data_bytes"]
        zero += ev["zero_bytes"]
        secs += ev["seconds"]
        rounds += 1
    elif ev.get("event") == "done":
        base = ev["base_snap"]
print(data, zero, rounds, base, "%.3f" % secs)
PY
}

# checksum CONF SPEC@SNAP: sha256 of the whole content, through the rbd CLI
# (independent of rbdmove; openssl hashes faster than sha256sum).
checksum() {
    local sum
    sum=$(rbd -c "$1" export --no-progress "$2" - | openssl dgst -sha256 -r) ||
        die "rbd export $2 failed"
    echo "${sum%% *}"
}

remove_image() { # remove_image CONF SPEC
    rbd -c "$1" snap purge --no-progress "$2" >/dev/null
    rbd -c "$1" rm --no-progress "$2" >/dev/null
}

make_image() { # make_image CONF SPEC SIZE
    IMAGES+=("$1 $2")
    rbd -c "$1" create --size "$3"B "$2"
}

# mem_guard CONF BYTES WHAT: refuse to go on when writing BYTES more into
# the memstore OSD of CONF would leave the machine short of memory (others
# share it). Measured here: a memstore OSD grows by about 2 bytes of RSS per
# byte written (4 MiB writes); memory of removed images stays in the OSD for
# a while (and is reused) and goes back to the system slowly. So the need is
# 2 * BYTES + 1 GiB, less what the OSD holds beyond its live data; wait up
# to two minutes for it before giving up.
mem_guard() {
    local conf=$1 bytes=$2 what=$3 avail need spare i
    for i in $(seq 1 24); do
        spare=$(osd_spare_kib "$conf")
        need=$(((bytes >> 9) + (1 << 20) - spare))
        avail=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
        [ "$avail" -lt "$need" ] || return 0
        [ "$i" -gt 1 ] || say "waiting for memory: $((avail >> 10)) MiB available, $what needs about $((need >> 10)) MiB more"
        sleep 5
    done
    die "only $((avail >> 10)) MiB of memory available, $what needs about $((need >> 10)) MiB more; stopping (try --scale 4)"
}

# osd_spare_kib CONF: RSS of the cluster's OSD beyond twice its live data.
osd_spare_kib() {
    local pid rss used
    pid=$(pgrep -f "^ceph-osd -c $1 " | head -n 1)
    [ -n "$pid" ] || { echo 0; return; }
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    used=$(timeout 30 ceph -c "$1" osd df -f json 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["nodes"][0]["kb_used"])' 2>/dev/null ||
        echo "$rss")
    echo $((rss > 2 * used ? rss - 2 * used : 0))
}

# warm_dst RUN: write WARM_BYTES into ceph2 and remove them again, right
# before a timed copy. The first writes into fresh memstore memory are
# several times slower (lab notes), and freed memory goes cold again after
# a while; so every timed full copy starts from the same warm state.
WARM_BYTES=$((FILL_BYTES + FILL_BYTES / 8))
warm_dst() {
    local spec=volumes/$TAG-warm t0
    mem_guard "$C2" "$WARM_BYTES" "the next copy"
    [ "$WARMUP" = 1 ] || return 0
    t0=$(now)
    make_image "$C2" "$spec" "$WARM_BYTES"
    rbd -c "$C2" bench --io-type write --io-size 4M --io-threads 16 \
        --io-total "$WARM_BYTES" --io-pattern seq "$spec" >/dev/null ||
        die "warm-up write into ceph2 failed"
    remove_image "$C2" "$spec"
    record run="$1" phase=setup tool=warm-up wall="$(elapsed "$t0" "$(now)")"
}

# check RUN PHASE TOOL SUM WANT DST SRC: record whether a copy is equal.
check() {
    local ok=yes
    if [ "$4" != "$5" ]; then
        ok=NO
        say "MISMATCH: $6 differs from $7"
    fi
    record run="$1" phase="$2" tool=check-"$3" equal="$ok"
}

# export_count RUN PHASE TOOL "CMD": time CMD | wc -c, record the bytes.
export_count() {
    timed exp-$2-$3-$1 bash -c "set -o pipefail; $4 | wc -c"
    record run="$1" phase="$2" tool="$3"-export wall="$T_WALL" \
        rss="$T_RSS" bytes="$(cat "$WORK/exp-$2-$3-$1.out")"
}

# ---- one run -------------------------------------------------------------------

if [ -z "$COMMIT" ]; then
    COMMIT=$(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$SRC" status --porcelain -- rbdmove transport 2>/dev/null)" ]; then
        COMMIT="$COMMIT+dirty"
    fi
fi

# not_full CONF: the cluster accepts writes. (A memstore OSD whose usage
# counter went below zero reports itself full and blocks every write.)
not_full() {
    local h
    h=$(timeout 30 ceph -c "$1" health 2>&1) || die "ceph health on $1 failed: $h"
    case "$h" in
    *full* | *FULL*) die "cluster $1 is full ($h): restart the lab (scripts/ceph-lab.sh stop; start)" ;;
    esac
}

run_once() {
    local run=$1 src=volumes/$TAG-r$1-src dst1=volumes/$TAG-r$1-dst1
    local dst2=volumes/$TAG-r$1-dst2 t0 sum_s1 sum_s2 sum base1 base2
    local data zero rounds n w xfer snap_s2

    say "run $run/$RUNS"
    not_full "$C1"
    not_full "$C2"

    mem_guard "$C1" $((FILL_BYTES + DELTA_BYTES)) "the source image"
    make_image "$C1" "$src" "$IMAGE_SIZE"
    timed fill-$run "$PY" "$SRC/scripts/bench/rbd_write.py" "$C1" "$src" \
        --count "$FILL_COUNT" --size "$FILL_SIZE" --json
    record run="$run" phase=setup tool=fill wall="$T_WALL" bytes="$FILL_BYTES"
    t0=$(now)
    rbd -c "$C1" snap create --no-progress "$src@s1" >/dev/null
    record run="$run" phase=full tool=rbd-snaps wall="$(elapsed "$t0" "$(now)")"
    sum_s1=$(checksum "$C1" "$src@s1")

    # ---- rbdmove: full copy, then the delta, into dst1 ----
    warm_dst "$run"
    IMAGES+=("$C2 $dst1")
    timed copy1-$run "$BIN" copy --json --progress never \
        --src-conf "$C1" --dst-conf "$C2" "$src" "$dst1"
    read -r data zero rounds base1 xfer < <(sum_events "$WORK/copy1-$run.out")
    record run="$run" phase=full tool=rbdmove-copy wall="$T_WALL" \
        cpu="$(cpu_of)" rss="$T_RSS" bytes="$data" zero="$zero" rounds="$rounds" \
        transfer="$xfer"
    sum=$(checksum "$C2" "$dst1@$base1")
    check "$run" full rbdmove "$sum" "$sum_s1" "$dst1@$base1" "$src@s1"

    timed delta-$run "$PY" "$SRC/scripts/bench/rbd_write.py" "$C1" "$src" \
        --count "$DELTA_COUNT" --size "$DELTA_SIZE" --json
    record run="$run" phase=setup tool=delta-write wall="$T_WALL" bytes="$DELTA_BYTES"
    t0=$(now)
    rbd -c "$C1" snap create --no-progress "$src@s2" >/dev/null
    snap_s2=$(elapsed "$t0" "$(now)")
    sum_s2=$(checksum "$C1" "$src@s2")

    # Moves only the delta: the base snapshot of the first copy is there.
    timed copy2-$run "$BIN" copy --json --progress never \
        --src-conf "$C1" --dst-conf "$C2" "$src" "$dst1"
    read -r data zero rounds base2 xfer < <(sum_events "$WORK/copy2-$run.out")
    record run="$run" phase=delta tool=rbdmove-copy wall="$T_WALL" \
        cpu="$(cpu_of)" rss="$T_RSS" bytes="$data" zero="$zero" \
        rounds="$rounds" written="$DELTA_BYTES" transfer="$xfer"
    sum=$(checksum "$C2" "$dst1@$base2")
    check "$run" delta rbdmove "$sum" "$sum_s2" "$dst1@$base2" "$src@s2"
    remove_image "$C2" "$dst1"

    # ---- stream sizes: both export-diffs of the same snapshots, counted ----
    export_count "$run" full rbdmove "$BIN export-diff --progress never -c $C1 $src@s1 -"
    export_count "$run" full rbd "rbd -c $C1 export-diff --no-progress $src@s1 -"
    export_count "$run" delta rbdmove "$BIN export-diff --progress never -c $C1 --from-snap s1 $src@s2 -"
    export_count "$run" delta rbd "rbd -c $C1 export-diff --no-progress --from-snap s1 $src@s2 -"

    # ---- rbd CLI: the same two steps from s1 and s2, into dst2 ----
    # Timed: the pipes alone, which is what the targets compare against;
    # the snapshot calls the same job needs (which rbdmove's times include)
    # are timed apart as rbd-snaps. Creating dst2 is not timed.
    warm_dst "$run"
    make_image "$C2" "$dst2" "$IMAGE_SIZE"
    timed_pipe pipe1-$run \
        "rbd -c $C1 export-diff --no-progress $src@s1 -" \
        "rbd -c $C2 import-diff --no-progress - $dst2"
    record run="$run" phase=full tool=rbd-pipe wall="$P_WALL" cpu="$P_CPU" \
        rss="$P_RSS1" rss2="$P_RSS2"
    sum=$(checksum "$C2" "$dst2@s1")
    check "$run" full rbd "$sum" "$sum_s1" "$dst2@s1" "$src@s1"
    timed_pipe pipe2-$run \
        "rbd -c $C1 export-diff --no-progress --from-snap s1 $src@s2 -" \
        "rbd -c $C2 import-diff --no-progress - $dst2"
    record run="$run" phase=delta tool=rbd-pipe wall="$P_WALL" cpu="$P_CPU" \
        rss="$P_RSS1" rss2="$P_RSS2"
    sum=$(checksum "$C2" "$dst2@s2")
    check "$run" delta rbd "$sum" "$sum_s2" "$dst2@s2" "$src@s2"
    # The snapshot work rbdmove copy does in its time (it snapshots the
    # source and drops the old base on both sides), done with the rbd CLI:
    # s2 created above, s1 removed here; snapshot calls cost up to 1 s each
    # on a lab monitor (paxos propose interval).
    t0=$(now)
    rbd -c "$C2" snap rm --no-progress "$dst2@s1" >/dev/null
    rbd -c "$C1" snap rm --no-progress "$src@s1" >/dev/null
    record run="$run" phase=delta tool=rbd-snaps \
        wall="$(awk -v a="$snap_s2" -v b="$(elapsed "$t0" "$(now)")" 'BEGIN { printf "%.3f", a + b }')"
    remove_image "$C2" "$dst2"

    # ---- windows: full copies of the source head, one at a time ----
    for w in $WINDOWS; do
        n=volumes/$TAG-r$run-w$w
        warm_dst "$run"
        IMAGES+=("$C2 $n")
        timed win$w-$run "$BIN" copy --json --progress never --window "$w" \
            --src-conf "$C1" --dst-conf "$C2" "$src" "$n"
        read -r data zero rounds base1 xfer < <(sum_events "$WORK/win$w-$run.out")
        record run="$run" phase=window tool=rbdmove-copy window="$w" \
            wall="$T_WALL" cpu="$(cpu_of)" rss="$T_RSS" bytes="$data" transfer="$xfer"
        remove_image "$C2" "$n"
    done
    cleanup_images
}

# ---- main ------------------------------------------------------------------------

say "rbdmove $BIN (commit $COMMIT), lab $LAB"
say "image $((IMAGE_SIZE >> 20)) MiB, fill $FILL_COUNT x $((FILL_SIZE >> 20)) MiB random extents, delta $DELTA_COUNT x $((DELTA_SIZE >> 10)) KiB"
record meta date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" commit="$COMMIT" \
    cores="$(nproc)" mem_gib="$(awk '/^MemTotal:/ {printf "%d", $2 / 1048576 + 0.5}' /proc/meminfo)" \
    ceph="$(rbd --version | awk '{print $3}')" image="$IMAGE_SIZE" \
    fill="$FILL_BYTES" fill_extent="$FILL_SIZE" delta="$DELTA_BYTES" \
    delta_write="$DELTA_SIZE" lab="$LAB"
t_all=$SECONDS
for r in $(seq 1 "$RUNS"); do
    run_once "$r"
done
record meta total_seconds=$((SECONDS - t_all))

"$PY" "$SRC/scripts/bench/report.py" "$RES" ${MARKDOWN:+--markdown "$MARKDOWN"}
