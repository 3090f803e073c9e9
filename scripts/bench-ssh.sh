#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-ssh.sh [options]: the SSH benchmark of issues 3 and 16. In one go,
# an image (4 GiB by default) holding DATA of random data (4 MiB extents
# at distinct random offsets) on ceph1 is copied to ceph2 over the lab's
# loopback sshd (scripts/sshd-lab.sh, running) by
#   - `rbd export-diff - | ssh (OpenSSH, default ciphers) rbd import-diff -`
#   - `rbdmove copy ... ssh://` with --streams 1, and with the default
#   - the same through a delay relay (scripts/bench/delay-relay.py, 2 x
#     DELAY ms: this kernel has no netem), with 1 and N streams, and the
#     OpenSSH pipe for reference; with --rate, the relay is also a link of
#     RATE per direction, and scripts/bench/relay-check.py first measures
#     what it carries for plain TCP (4 streams, 5 s).
# Prints wall time, throughput and the ratios (with --rate, each relay
# run's share of the line: data bytes x 8 / wall time / RATE), and checks
# every copy against the source with `rbd export | sha256`.
#
# The two Ceph clusters are a private lab (scripts/ceph-lab.sh in --lab,
# on --ports) that this script starts and stops: memstore OSDs keep what
# was written in RAM even after the image is removed, so ceph2 is
# restarted (and warmed up, untimed) before every copy, and everything is
# given back at the end. Peak memory: about 1.5 x DATA per cluster.
#
#   --rbdmove PATH     binary (default $RBDMOVE, else build-sshcopy, build)
#   --lab DIR          the private Ceph lab (default /tmp/rbm-sshbench)
#   --ports "P1 P2"    its base ports (default "20800 21800")
#   --data SIZE        random data in the image: 512M, 1G or 2G (auto:
#                      2G, or 1G when less than 8 GiB of memory is
#                      available)
#   --image SIZE       the image's size: 1G, 2G or 4G (default 4G), more
#                      than --data
#   --streams N        the "default" run's stream count (default: none given,
#                      rbdmove picks it from the round trip)
#   --runs N           loopback repetitions, in alternating order; the
#                      ratios use each tool's best time (default 2)
#   --relay-streams "N..."   stream counts through the relay, "auto" for
#                      rbdmove's own pick (default "1 4 auto")
#   --delay MS         one-way delay of the relay (default 20: 40 ms RTT)
#   --rate RATE        line rate of the relay in bits per second, per
#                      direction and shared by all connections: 400M,
#                      1G (default: none, latency only)
#   --relay-port P     relay port (default 2223)
#   --no-relay         skip the relay runs
#   --markdown FILE    also write the results as a Markdown section to FILE
#
# The relay and the private lab are stopped at exit; the shared sshd lab
# ($RBDMOVE_LAB/sshd.env) is only used, never started or stopped.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=bench-ssh
SHARED=${RBDMOVE_LAB:-/tmp/rbm} # the sshd lab
LAB=/tmp/rbm-sshbench
PORTS="20800 21800"
BIN=${RBDMOVE:-}
DATA=auto
IMAGE=4G
STREAMS=""
RUNS=2
RELAY_STREAMS="1 4 auto"
DELAY=20
RATE=""
RELAY_PORT=2223
RELAY=1
MARKDOWN=""
PY=/usr/bin/python3 # Debian's, with python3-rbd

say() { echo "$PROG: $*" >&2; }
die() {
    say "$*"
    exit 1
}
usage() {
    sed -n '4,45s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --rbdmove) BIN=${2:?}; shift ;;
    --lab) LAB=${2:?}; shift ;;
    --ports) PORTS=${2:?}; shift ;;
    --image) IMAGE=${2:?}; shift ;;
    --data) DATA=${2:?}; shift ;;
    --streams) STREAMS=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --relay-streams) RELAY_STREAMS=${2:?}; shift ;;
    --delay) DELAY=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --relay-port) RELAY_PORT=${2:?}; shift ;;
    --no-relay) RELAY=0 ;;
    --markdown) MARKDOWN=${2:?}; shift ;;
    -h | --help) usage ;;
    *) say "unknown argument '$1'"; usage ;;
    esac
    shift
done

if [ -z "$BIN" ]; then
    for b in build-sshcopy build build-test; do
        if [ -x "$SRC/$b/rbdmove/rbdmove" ]; then
            BIN=$SRC/$b/rbdmove/rbdmove
            break
        fi
    done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || die "no rbdmove binary: pass --rbdmove"
BIN=$(readlink -f "$BIN")
RATE_BPS=""
RATE_TEXT=""
if [ -n "$RATE" ]; then
    [ "$RELAY" = 1 ] || die "--rate is the relay's: not with --no-relay"
    # The relay's own parser: "400000000 400 Mbit/s".
    read -r RATE_BPS RATE_TEXT < <("$PY" - "$SRC/scripts/bench/delay-relay.py" \
        "$RATE" <<'PY'
import importlib.util, sys
sys.dont_write_bytecode = True
spec = importlib.util.spec_from_file_location("relay", sys.argv[1])
relay = importlib.util.module_from_spec(spec)
spec.loader.exec_module(relay)
try:
    bps = relay.parse_rate(sys.argv[2])
except Exception as e:
    sys.exit(f"--rate {e}")
print("%.0f" % bps, relay.format_rate(bps))
PY
) || true
    [ -n "$RATE_BPS" ] || die "bad --rate '$RATE' (bits per second: 400M, 1G)"
fi
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
"$PY" -c 'import rbd' 2>/dev/null || die "$PY cannot import rbd"
RBDMOVE_LAB=$SHARED "$SRC/scripts/sshd-lab.sh" status >/dev/null 2>&1 ||
    die "the sshd lab is not running (scripts/sshd-lab.sh start)"
# shellcheck disable=SC1091
. "$SHARED/sshd.env"
[ "$LAB" != "$SHARED" ] || die "--lab must not be the shared lab $SHARED"
lab() { # lab start|stop|status [1|2]: the private Ceph lab
    RBDMOVE_LAB=$LAB RBDMOVE_CEPH_PORTS=$PORTS "$SRC/scripts/ceph-lab.sh" "$@"
}
C1=$LAB/ceph1/ceph.conf
C2=$LAB/ceph2/ceph.conf

GIB=$((1 << 30))
case "$IMAGE" in
1G | 2G | 4G) IMAGE_SIZE=$((${IMAGE%G} * GIB)) ;;
*) die "--image is 1G, 2G or 4G" ;;
esac
avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "$DATA" = auto ]; then
    # about 1.5 x DATA per cluster, and room for everybody else
    if [ "$avail_kib" -ge $((8 << 20)) ]; then DATA=2G; else DATA=1G; fi
    DATA_NOTE="chosen from $((avail_kib >> 10)) MiB available"
else
    DATA_NOTE="asked for"
fi
case "$DATA" in
512M) DATA_BYTES=$((GIB / 2)) ;;
1G) DATA_BYTES=$GIB ;;
2G) DATA_BYTES=$((2 * GIB)) ;;
*) die "--data is 512M, 1G or 2G" ;;
esac
[ "$DATA_BYTES" -lt "$IMAGE_SIZE" ] || die "--data $DATA does not fit in --image $IMAGE"
say "image $IMAGE with $DATA of random data ($DATA_NOTE)"
[ "$avail_kib" -ge $(((3 * DATA_BYTES + GIB) >> 10)) ] ||
    die "only $((avail_kib >> 10)) MiB of memory available: too little for $DATA"

# ---- state and cleanup -----------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbm-bench-ssh.XXXXXX")
TAG=sshbench-$$
IMAGES=() # "CONF SPEC"
RELAY_PID=""
LAB_STARTED=0

remove_image() { # remove_image CONF SPEC
    rbd -c "$1" info "$2" >/dev/null 2>&1 || return 0
    rbd -c "$1" snap purge --no-progress "$2" >/dev/null 2>&1 || true
    rbd -c "$1" rm --no-progress "$2" >/dev/null 2>&1 ||
        say "could not remove $2 ($1)"
}

# shellcheck disable=SC2317 # called by the trap
on_exit() {
    local rc=$? entry
    trap - EXIT INT TERM
    [ -z "$RELAY_PID" ] || kill "$RELAY_PID" 2>/dev/null || true
    # shellcheck disable=SC2046 # one pid per word
    kill $(jobs -p) 2>/dev/null || true
    if [ "$LAB_STARTED" = 1 ]; then
        lab stop >&2 || true
    else
        for entry in "${IMAGES[@]}"; do
            remove_image "${entry%% *}" "${entry#* }"
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- helpers -------------------------------------------------------------------------

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mibps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / 1048576 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# line_share BYTES SECONDS: percent of the relay's line rate
line_share() {
    awk -v n="$1" -v s="$2" -v r="$RATE_BPS" \
        'BEGIN { printf "%.1f", n * 8 / s / r * 100 }'
}

checksum() { # checksum CONF SPEC@SNAP
    local sum
    sum=$(rbd -c "$1" export --no-progress "$2" - | openssl dgst -sha256 -r) ||
        die "rbd export $2 failed"
    echo "${sum%% *}"
}

# fill CONF SPEC BYTES: random data in 4 MiB extents at distinct random
# 4 MiB-aligned offsets, 8 writes in flight.
fill() {
    "$PY" - "$@" <<'PY'
import os, random, sys, threading
import rados, rbd
conf, spec, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
pool, _, name = spec.rpartition("/")
EXT = 4 << 20
with rados.Rados(conffile=conf) as cl, cl.open_ioctx(pool) as io, \
        rbd.Image(io, name) as img:
    slots = random.sample(range(img.size() // EXT), total // EXT)
    sem = threading.Semaphore(8)
    errors = []
    def done(c, *a):
        if c.get_return_value() < 0:
            errors.append(c.get_return_value())
        sem.release()
    for s in slots:
        sem.acquire()
        img.aio_write(os.urandom(EXT), s * EXT, done)
    for _ in range(8):
        sem.acquire()
    img.flush()
    sys.exit("write failed: %s" % errors if errors else 0)
PY
}

# fresh_dst: restart ceph2 empty (memstore gives nothing back otherwise)
# and warm it up: a fresh OSD's first writes are several times slower.
fresh_dst() {
    lab stop 2 >/dev/null
    lab start 2 >"$WORK/lab2.log" 2>&1 || {
        cat "$WORK/lab2.log" >&2
        die "ceph2 of the private lab did not start"
    }
    rbd -c "$C2" create --size "${IMAGE_SIZE}B" "volumes/$TAG-warm"
    rbd -c "$C2" bench --io-type write --io-size 4M --io-threads 16 \
        --io-total "$((DATA_BYTES / 4))" --io-pattern rand \
        "volumes/$TAG-warm" >/dev/null
    remove_image "$C2" "volumes/$TAG-warm"
}

RESULTS=() # tab-separated: label seconds MiB/s equal cpu rss seed-rate share
LAST_S=0   # seconds of the last run
LAST_XFER=0 # seconds of the last copy's seed transfer (round_done)
ON_LINE=0  # 1 through the relay with --rate: runs get a share of the line
# record LABEL SECONDS EQUAL [CPU RSS_KIB SEED_RATE]
record() {
    local t=$'\t' share=- note=""
    if [ "$ON_LINE" = 1 ]; then
        share=$(line_share "$DATA_BYTES" "$2")%
        note=", $share of the $RATE_TEXT line"
    fi
    RESULTS+=("$1$t$2$t$(mibps "$DATA_BYTES" "$2")$t$3$t${4:--}$t${5:--}$t${6:--}$t$share")
    LAST_S=$2
    say "$1: $2 s, $(mibps "$DATA_BYTES" "$2") MiB/s of data$note, equal: $3"
}

# pipe_run LABEL PORT KNOWN_HOSTS: the OpenSSH pipe into a new image.
pipe_run() {
    local label=$1 port=$2 kh=$3 dst=volumes/$TAG-pipe t0 t1 sum
    fresh_dst
    IMAGES+=("$C2 $dst")
    rbd -c "$C2" create --size "${IMAGE_SIZE}B" "$dst"
    t0=$(now)
    # In the background, so that a signal reaches the trap at once.
    (
        set -o pipefail
        rbd -c "$C1" export-diff --no-progress "$SRCIMG@s1" - |
            ssh -i "$SSH_KEY" -p "$port" -o BatchMode=yes \
                -o IdentitiesOnly=yes -o UserKnownHostsFile="$kh" \
                -o StrictHostKeyChecking=yes "$SSH_USER@$SSH_HOST" \
                "rbd -c '$C2' import-diff --no-progress - '$dst'"
    ) 2>"$WORK/pipe.err" &
    wait $! || {
        cat "$WORK/pipe.err" >&2
        die "$label failed"
    }
    t1=$(now)
    sum=$(checksum "$C2" "$dst@s1")
    record "$label" "$(elapsed "$t0" "$t1")" \
        "$([ "$sum" = "$SUM" ] && echo yes || echo NO)"
    remove_image "$C2" "$dst"
}

# copy_run LABEL PORT KNOWN_HOSTS [rbdmove options...]
copy_run() {
    local label=$1 port=$2 kh=$3 dst=volumes/$TAG-copy wall user sys rss
    local base sum rate
    shift 3
    fresh_dst
    IMAGES+=("$C2 $dst")
    /usr/bin/time -f '%e %U %S %M %x' -o "$WORK/copy.time" \
        "$BIN" copy --json --progress never --src-conf "$C1" --dst-conf "$C2" \
        -i "$SSH_KEY" --known-hosts "$kh" --remote-rbdmove "$BIN" "$@" \
        "$SRCIMG" "ssh://$SSH_USER@$SSH_HOST:$port/$dst" \
        >"$WORK/copy.out" 2>"$WORK/copy.err" &
    wait $! || {
        cat "$WORK/copy.err" >&2
        die "$label failed"
    }
    read -r wall user sys rss _ <"$WORK/copy.time"
    read -r base rate LAST_XFER < <("$PY" - "$WORK/copy.out" <<'PY'
import json, sys
base, rate, secs = "-", 0, 0
for line in open(sys.argv[1]):
    if line.startswith("{"):
        e = json.loads(line)
        if e.get("event") == "done":
            base = e["base_snap"]
        if e.get("event") == "round_done" and e["seconds"] > 0:
            rate = e["data_bytes"] / e["seconds"] / 1048576
            secs = e["seconds"]
print(base, "%.0f" % rate, "%.2f" % secs)
PY
)
    sum=$(checksum "$C2" "$dst@$base")
    record "$label" "$wall" "$([ "$sum" = "$SUM" ] && echo yes || echo NO)" \
        "$(awk -v a="$user" -v b="$sys" 'BEGIN { printf "%.1f", a + b }')" \
        "$rss" "$rate"
    remove_image "$C2" "$dst"
}

# ---- the source --------------------------------------------------------------------

if lab status >/dev/null 2>&1; then
    die "a lab is already running in $LAB: stop it (RBDMOVE_LAB=$LAB scripts/ceph-lab.sh stop) or pass another --lab"
fi
say "starting the private Ceph lab in $LAB (ports $PORTS)"
LAB_STARTED=1
lab start >"$WORK/lab.log" 2>&1 || {
    cat "$WORK/lab.log" >&2
    die "the private Ceph lab did not start"
}

SRCIMG=volumes/$TAG-src
IMAGES+=("$C1 $SRCIMG")
rbd -c "$C1" create --size "${IMAGE_SIZE}B" "$SRCIMG"
t0=$(now)
fill "$C1" "$SRCIMG" "$DATA_BYTES"
say "filled $SRCIMG with $DATA in $(elapsed "$t0" "$(now)") s"
rbd -c "$C1" snap create --no-progress "$SRCIMG@s1"
SUM=$(checksum "$C1" "$SRCIMG@s1")

default_streams=()
[ -z "$STREAMS" ] || default_streams=(--streams "$STREAMS")
N=${STREAMS:+$STREAMS streams}
N=${N:-default --streams}

# ---- loopback ---------------------------------------------------------------------------

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
PIPE_S="" ONE_S="" DEF_S=""
loop_pipe() {
    pipe_run "OpenSSH pipe (rbd export-diff, ssh, rbd import-diff), run $1" \
        "$SSH_PORT" "$SSH_KNOWN_HOSTS"
    PIPE_S=$(min "$PIPE_S" "$LAST_S")
}
loop_one() {
    copy_run "rbdmove copy --streams 1, run $1" "$SSH_PORT" \
        "$SSH_KNOWN_HOSTS" --streams 1
    ONE_S=$(min "$ONE_S" "$LAST_S")
}
loop_default() {
    copy_run "rbdmove copy ($N), run $1" "$SSH_PORT" \
        "$SSH_KNOWN_HOSTS" "${default_streams[@]}"
    DEF_S=$(min "$DEF_S" "$LAST_S")
}
say "loopback SSH, port $SSH_PORT"
for r in $(seq "$RUNS"); do
    # Alternate the order, so that no tool always meets the cluster in the
    # state another one left.
    if [ $((r % 2)) = 1 ]; then
        loop_pipe "$r"; loop_one "$r"; loop_default "$r"
    else
        loop_default "$r"; loop_one "$r"; loop_pipe "$r"
    fi
done
LOOP_COUNT=${#RESULTS[@]}

# ---- through the delay relay -------------------------------------------------------------

RTT_DIRECT="-"
RTT_RELAY="-"
RELAY_AUTO_S="" RELAY_AUTO_FIXED="" RELAY_PIPE_S=""
LINK="+$DELAY ms each way${RATE_TEXT:+, $RATE_TEXT per direction shared by all connections}"
LINK_CHECK=""
if [ "$RELAY" = 1 ]; then
    relay_opts=()
    if [ -n "$RATE" ]; then
        relay_opts=(--rate "$RATE")
        # What the emulated link carries for plain TCP, with a relay of
        # its own (on a free port) before this one starts.
        say "relay-check: plain TCP, 4 streams, through $LINK"
        "$PY" "$SRC/scripts/bench/relay-check.py" --delay "$DELAY" \
            --rate "$RATE" --streams 4 --seconds 5 --summary \
            >"$WORK/relay-check.out" 2>&1 &
        wait $! || {
            cat "$WORK/relay-check.out" >&2
            die "relay-check failed"
        }
        LINK_CHECK=$(cat "$WORK/relay-check.out")
        say "$LINK_CHECK"
    fi
    KH_RELAY=$WORK/known_hosts
    sed "s/^\[$SSH_HOST\]:$SSH_PORT /[$SSH_HOST]:$RELAY_PORT /" \
        "$SSH_KNOWN_HOSTS" >"$KH_RELAY"
    "$PY" "$SRC/scripts/bench/delay-relay.py" "$RELAY_PORT" "$SSH_PORT" \
        "$DELAY" "${relay_opts[@]}" >"$WORK/relay.out" 2>&1 &
    RELAY_PID=$!
    for _ in $(seq 50); do
        grep -q listening "$WORK/relay.out" && break
        sleep 0.1
    done
    grep -q listening "$WORK/relay.out" || die "the relay did not start"
    # An SSH login costs a few round trips: the relay's added latency shows.
    ssh_true() {
        local t0
        t0=$(now)
        ssh -i "$SSH_KEY" -p "$1" -o BatchMode=yes -o IdentitiesOnly=yes \
            -o UserKnownHostsFile="$2" "$SSH_USER@$SSH_HOST" true
        elapsed "$t0" "$(now)"
    }
    RTT_DIRECT=$(ssh_true "$SSH_PORT" "$SSH_KNOWN_HOSTS")
    RTT_RELAY=$(ssh_true "$RELAY_PORT" "$KH_RELAY")
    say "through the relay ($LINK): 'ssh true' takes" \
        "$RTT_RELAY s, $RTT_DIRECT s direct"
    [ -z "$RATE" ] || ON_LINE=1
    for n in $RELAY_STREAMS; do
        if [ "$n" = auto ]; then
            copy_run "relay: rbdmove copy (default --streams)" \
                "$RELAY_PORT" "$KH_RELAY"
            RELAY_AUTO_S=$LAST_S
            RELAY_AUTO_FIXED=$(elapsed "$LAST_XFER" "$LAST_S")
        else
            copy_run "relay: rbdmove copy --streams $n" "$RELAY_PORT" \
                "$KH_RELAY" --streams "$n"
        fi
    done
    pipe_run "relay: OpenSSH pipe" "$RELAY_PORT" "$KH_RELAY"
    RELAY_PIPE_S=$LAST_S
    ON_LINE=0
fi

# ---- report ---------------------------------------------------------------------------------

report() {
    local r i=0 label s rate eq cpu rss seed share col="" sep="" more=""
    echo "Image: ${IMAGE}iB with $DATA of random data ($DATA_NOTE); $("$BIN" --version 2>/dev/null | head -1), commit $(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)."
    echo "Machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared with other work)."
    if [ -n "$RATE" ]; then
        # The share of the line: a column of its own, and a sentence on
        # what the emulated link carried for plain TCP.
        col=" share of $RATE_TEXT line |" sep="---:|" more=" |"
        echo
        echo "Relay link: $LINK. $LINK_CHECK"
        echo "Share of the line: data bytes x 8 / wall time / $RATE_TEXT (SSH framing, logins and setup count against it)."
    fi
    echo
    echo "| run | time (s) | data MiB/s | seed round MiB/s | equal | rbdmove CPU (s) | rbdmove peak RSS (MiB) |$col"
    echo "|---|---:|---:|---:|---|---:|---:|$sep"
    for r in "${RESULTS[@]}"; do
        IFS=$'\t' read -r label s rate eq cpu rss seed share <<<"$r"
        [ "$rss" = - ] || rss=$((rss / 1024))
        if [ "$i" = "$LOOP_COUNT" ]; then
            echo "| *through the relay, $LINK ('ssh true': $RTT_RELAY s vs $RTT_DIRECT s direct)* | | | | | | |$more"
        fi
        echo "| $label | $s | $rate | $seed | $eq | $cpu | $rss |${col:+ $share |}"
        i=$((i + 1))
    done
    echo
    echo "Loopback, best of $RUNS: OpenSSH pipe $PIPE_S s, rbdmove --streams 1 $ONE_S s, rbdmove ($N) $DEF_S s."
    echo "OpenSSH pipe / rbdmove --streams 1 = $(ratio "$PIPE_S" "$ONE_S")x;" \
        "OpenSSH pipe / rbdmove ($N) = $(ratio "$PIPE_S" "$DEF_S")x" \
        "(target: at least 1.5x)."
    if [ -n "$RELAY_AUTO_S" ] && [ -n "$RELAY_PIPE_S" ]; then
        echo
        local share=""
        [ -z "$RATE" ] ||
            share="; its share of the line $(line_share "$DATA_BYTES" "$RELAY_AUTO_S")% (target: at least 80%)"
        echo "Through the relay ($LINK): OpenSSH pipe $RELAY_PIPE_S s, rbdmove (default --streams) $RELAY_AUTO_S s:" \
            "OpenSSH pipe / rbdmove = $(ratio "$RELAY_PIPE_S" "$RELAY_AUTO_S")x (issue 16 target: at least 1.6x)$share." \
            "Its fixed cost (the whole run less the seed transfer): $RELAY_AUTO_FIXED s (target at 80 ms: under 1.5 s)."
    fi
}
report | tee "$WORK/report.md"
if [ -n "$MARKDOWN" ]; then
    cp "$WORK/report.md" "$MARKDOWN"
fi
if grep -q '| NO |' "$WORK/report.md"; then
    die "a copy differs from the source"
fi
exit 0
