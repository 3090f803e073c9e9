#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-thin.sh [options]: does a copy cost what the image holds, or what it
# could hold? (issue 12, part 3). On the two lab clusters, for a small and a
# big image holding the same data (default 2 GiB and 1 TiB, each with 1 GiB
# of random data in 4 MiB extents scattered over the whole image), with and
# without object-map/fast-diff:
#   - seed: `rbdmove copy` of the image into an absent destination;
#   - round: DELTA written in 64 KiB blocks at random offsets inside the
#     data (an overwrite costs the same in both images), then `rbdmove copy`
#     again, which moves only the change;
#   - `rbd diff --from-snap` of the same change, for reference.
# Prints wall time and peak RSS of each, the big/small ratios (target: at
# most 1.5), and checks each destination against its source (what
# the snapshots hold: the union of their allocated extents, read by
# scripts/bench/rbd_compare.py; hashing 1 TiB of zeros takes 30 min).
#
#   --lab DIR          lab directory (default $RBDMOVE_LAB, else /tmp/rbm)
#   --start-lab        start the Ceph lab in DIR if it is down, stop it at the end
#   --rbdmove PATH     binary (default $RBDMOVE, else build-bench, build)
#   --small SIZE       the small image (default 2G)
#   --big SIZE         the big image (default 1T)
#   --data SIZE        random data in each, in 4 MiB extents (default 1G)
#   --delta SIZE       changed before the round, in 64 KiB blocks (default 64M)
#   --features LIST    "fast-diff", "plain" or both (default "fast-diff plain")
#   --markdown FILE    also write the table as Markdown to FILE
#
# Memory: the lab keeps what is written (BlueStore on a sparse file, or
# memstore in RAM): about DATA + DELTA per cluster at a time; every image is
# removed before the next. Images are named bench-thin-<pid>-*.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=bench-thin
LAB=${RBDMOVE_LAB:-/tmp/rbm}
BIN=${RBDMOVE:-}
SMALL=2G
BIG=1T
DATA=1G
DELTA=64M
FEATURES="fast-diff plain"
MARKDOWN=""
START_LAB=0
PY=/usr/bin/python3 # Debian's, with python3-rbd

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    say "$*"
    exit 1
}
usage() {
    sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case "$1" in
    --lab) LAB=$2; shift ;;
    --start-lab) START_LAB=1 ;;
    --rbdmove) BIN=$2; shift ;;
    --small) SMALL=$2; shift ;;
    --big) BIG=$2; shift ;;
    --data) DATA=$2; shift ;;
    --delta) DELTA=$2; shift ;;
    --features) FEATURES=$2; shift ;;
    --markdown) MARKDOWN=$2; shift ;;
    -h | --help) usage 0 ;;
    *) say "unknown option: $1"; usage 2 >&2 ;;
    esac
    shift
done

bytes() { # bytes SIZE: 2G -> 2147483648
    local n=${1%[KMGTkmgt]} u=${1: -1}
    [[ $n =~ ^[0-9]+$ ]] || die "not a size: $1"
    case "$u" in
    [Kk]) echo $((n << 10)) ;;
    [Mm]) echo $((n << 20)) ;;
    [Gg]) echo $((n << 30)) ;;
    [Tt]) echo $((n << 40)) ;;
    *) echo "$1" ;;
    esac
}
DATA_B=$(bytes "$DATA")
DELTA_B=$(bytes "$DELTA")
for f in $FEATURES; do
    case "$f" in fast-diff | plain) ;; *) die "--features: fast-diff or plain, not '$f'" ;; esac
done
[ $((DATA_B % (4 << 20))) -eq 0 ] || die "--data must be a multiple of 4M"
[ $((DELTA_B % (64 << 10))) -eq 0 ] || die "--delta must be a multiple of 64K"

if [ -z "$BIN" ]; then
    for b in build-bench build; do
        [ -x "$SRC/$b/rbdmove/rbdmove" ] && BIN=$SRC/$b/rbdmove/rbdmove && break
    done
fi
[ -x "$BIN" ] || die "no rbdmove binary: build it or pass --rbdmove"
C1=$LAB/ceph1/ceph.conf
C2=$LAB/ceph2/ceph.conf
TAG=bench-thin-$$
WORK=$(mktemp -d "/tmp/$TAG.XXXXXX")
IMAGES=()
STARTED=0

on_exit() {
    local i c img
    for i in "${IMAGES[@]}"; do
        read -r c img <<<"$i"
        rbd -c "$c" snap purge --no-progress "$img" >/dev/null 2>&1 || true
        rbd -c "$c" rm --no-progress "$img" >/dev/null 2>&1 || true
    done
    [ "$STARTED" = 1 ] && RBDMOVE_LAB=$LAB "$SRC/scripts/ceph-lab.sh" stop >/dev/null 2>&1
    rm -rf "$WORK"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

if ! ceph -c "$C1" health >/dev/null 2>&1 || ! ceph -c "$C2" health >/dev/null 2>&1; then
    [ "$START_LAB" = 1 ] || die "the Ceph lab in $LAB is down: start it (scripts/ceph-lab.sh start) or pass --start-lab"
    RBDMOVE_LAB=$LAB "$SRC/scripts/ceph-lab.sh" start >&2 || die "the Ceph lab did not start"
    STARTED=1
fi
PROFILE=$(RBDMOVE_LAB=$LAB "$SRC/scripts/ceph-lab.sh" status 2>&1 | sed -n 's/.*profile \([a-z]*\).*/\1/p' | head -n 1)

# timed NAME CMD...: run CMD under /usr/bin/time; T_WALL (s) and T_RSS (KiB).
timed() {
    local name=$1
    shift
    if ! /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        say "$name failed: $*"
        tail -n 20 "$WORK/$name.err" >&2
        exit 1
    fi
    read -r T_WALL T_RSS <"$WORK/$name.time"
}

base_of() { # base_of CONF IMAGE: the image's one rbdmove snapshot
    rbd -c "$1" snap ls "$2" --format json |
        "$PY" -c 'import json,sys; s=[x["name"] for x in json.load(sys.stdin) if x["name"].startswith("rbdmove-")]; print(s[-1] if len(s)==1 else "")'
}

check_equal() { # check_equal NAME SRC DST: compares what the snapshots hold
    local b
    b=$(base_of "$C1" "$2")
    [ -n "$b" ] || die "$1: not exactly one rbdmove snapshot on $2"
    "$PY" "$SRC/scripts/bench/rbd_compare.py" "$C1" "$2@$b" "$C2" "$3@$b" >&2 ||
        die "$1: $3@$b differs from $2@$b"
}

ROWS=()
one() { # one FEATURE SIZE
    local feat=$1 size=$2 src=volumes/$TAG-$1-$2 dst=volumes/$TAG-$1-$2-dst
    local -a fopt=()
    local seed_s seed_rss round_s round_rss diff_s snap

    [ "$feat" = plain ] && fopt=(--image-feature layering,exclusive-lock)
    say "$feat, $size: $DATA of data"
    rbd -c "$C1" create "${fopt[@]}" --size "$size" "$src"
    IMAGES+=("$C1 $src" "$C2 $dst")
    "$PY" "$SRC/scripts/bench/rbd_write.py" "$C1" "$src" \
        --count $((DATA_B / (4 << 20))) --size 4M --json >/dev/null
    timed "seed-$feat-$size" "$BIN" copy --progress never --max-rounds 0 \
        --src-conf "$C1" --dst-conf "$C2" "$src" "$dst"
    seed_s=$T_WALL seed_rss=$((T_RSS / 1024))
    check_equal "seed $feat $size" "$src" "$dst"
    snap=$(base_of "$C1" "$src")

    "$PY" "$SRC/scripts/bench/rbd_write.py" "$C1" "$src" --allocated \
        --count $((DELTA_B / (64 << 10))) --size 64K --json >/dev/null
    timed "diff-$feat-$size" rbd -c "$C1" diff --from-snap "$snap" "$src"
    diff_s=$T_WALL
    timed "round-$feat-$size" "$BIN" copy --progress never --max-rounds 1 \
        --src-conf "$C1" --dst-conf "$C2" "$src" "$dst"
    round_s=$T_WALL round_rss=$((T_RSS / 1024))
    check_equal "round $feat $size" "$src" "$dst"
    say "  seed $seed_s s (RSS $seed_rss MiB), round $round_s s (RSS $round_rss MiB), rbd diff $diff_s s"
    ROWS+=("$feat $size $seed_s $seed_rss $round_s $round_rss $diff_s")
    for i in "$src" "$dst"; do
        local c=$C1
        [ "$i" = "$dst" ] && c=$C2
        rbd -c "$c" snap purge --no-progress "$i" >/dev/null 2>&1
        rbd -c "$c" rm --no-progress "$i" >/dev/null 2>&1
    done
}

for f in $FEATURES; do
    one "$f" "$SMALL"
    one "$f" "$BIG"
done

{
    echo "### Thin images: $DATA of data in $SMALL and in $BIG (profile ${PROFILE:-unknown}, $(date -u +%Y-%m-%d), commit $(git -C "$SRC" rev-parse --short HEAD))"
    echo
    echo "| features | image | seed | seed RSS | round ($DELTA changed) | round RSS | \`rbd diff\` of the change |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for r in "${ROWS[@]}"; do
        read -r f s a b c d e <<<"$r"
        echo "| $f | $s | $a s | $b MiB | $c s | $d MiB | $e s |"
    done
    echo
    for f in $FEATURES; do
        "$PY" - "$f" "$SMALL" "$BIG" "${ROWS[@]}" <<'PY'
import sys
feat, small, big, rows = sys.argv[1], sys.argv[2], sys.argv[3], [r.split() for r in sys.argv[4:]]
get = {(r[0], r[1]): r for r in rows}
s, b = get[(feat, small)], get[(feat, big)]
seed = float(b[2]) / float(s[2])
rnd = float(b[4]) / float(s[4])
rss = max(int(b[3]), int(b[5]))
ok = lambda c: "met" if c else "NOT met"
print(f"- {feat}: {big}/{small} seed {seed:.2f}x, round {rnd:.2f}x "
      f"(target <= 1.5x: {ok(seed <= 1.5 and rnd <= 1.5)}); "
      f"peak RSS {rss} MiB (target < 256: {ok(rss < 256)})")
PY
    done
} | tee "$WORK/report.md"
[ -z "$MARKDOWN" ] || cp "$WORK/report.md" "$MARKDOWN"
