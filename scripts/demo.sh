#!/bin/bash
# SPDX-License-Identifier: MIT
#
# demo.sh [--keep] [--no-install] [--rate BYTES_PER_S] [--max-downtime S]:
# rbdmove's main job on the local labs, from a fresh Debian 12 machine (root).
# Installs the packages (scripts/install-deps.sh --openstack), builds rbdmove
# (Release, in build-demo/), starts the Ceph and OpenStack labs unless they
# run already, then: a server in RegionOne with an attached 1 GiB volume
# holding data and a stand-in VM writing into it, a server in RegionTwo, and
# `rbdmove move` taking the volume across while it is written to. Ends with
# a summary (rounds, bytes, downtime and its parts, verification) and an
# independent check: `rbd export | sha256sum` on both clusters.
#
# By default the servers and volumes it made are deleted and the labs it
# started are stopped; a lab that was already running is left alone.
# --keep leaves the labs, servers and volumes in place (stop the labs with
# `scripts/openstack-lab.sh stop --with-ceph` to remove everything).
# shellcheck disable=SC2317 # cleanup() runs from a trap
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$SRC/build-demo
export RBDMOVE_LAB=${RBDMOVE_LAB:-/tmp/rbm}
PY=/usr/bin/python3 # Debian's: python3-rados and python3-rbd live there
R1=RegionOne
R2=RegionTwo

keep=0
install=1
rate=8000000
max_downtime=10
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=1 ;;
    --no-install) install=0 ;;
    --rate)
        rate=${2:?--rate needs bytes per second}
        shift
        ;;
    --max-downtime)
        max_downtime=${2:?--max-downtime needs seconds}
        shift
        ;;
    -h | --help)
        sed -n '4,17s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *)
        echo "demo.sh: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
case "$rate" in '' | *[!0-9]*) echo "demo.sh: --rate takes bytes per second" >&2; exit 2 ;; esac

# ---------------------------------------------------------------- output
T0=$SECONDS
if [ -t 1 ]; then
    B=$'\e[1m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'
else
    B='' R='' D='' N=''
fi
step() { printf '\n%s==> %s%s %s(%ss)%s\n' "$B" "$*" "$N" "$D" $((SECONDS - T0)) "$N"; }
say() { printf '    %s\n' "$*"; }
die() {
    printf '%sdemo.sh: %s%s\n' "$R" "$*" "$N" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "run me as root: the labs and the package install need it"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbm-demo.XXXXXX")
STATE=$WORK/state
started_os=0
started_ceph=0
writer_pid=
move_id=
SERVERS=() # "REGION ID"
VOLUMES=() # "REGION ID"

# ---------------------------------------------------------------- cleanup
osc() { "$BUILD/tests/tools/rbm-os-client" --os-cloud rbdmove-demo "$@"; }
os_server() { "$PY" "$SRC/tests/integration/os_server.py" "$@"; }
rbd_c() { # rbd_c 1|2 ARGS...: rbd on lab cluster 1 or 2
    local c=$1
    shift
    rbd -c "$RBDMOVE_LAB/ceph$c/ceph.conf" "$@"
}
region_cluster() { [ "$1" = "$R1" ] && echo 1 || echo 2; }

# rbdmove's snapshots go first: Cinder's RBD driver cannot delete an image
# that has snapshots (a failed move may leave some).
drop_snaps() { # drop_snaps REGION VOLUME_ID
    local c snap
    c=$(region_cluster "$1")
    for snap in $(rbd_c "$c" snap ls --format json "volumes/volume-$2" 2>/dev/null |
        "$PY" -c 'import json, sys
for s in json.load(sys.stdin):
    if s["name"].startswith("rbdmove-"): print(s["name"])'); do
        rbd_c "$c" snap rm --no-progress "volumes/volume-$2@$snap" >/dev/null 2>&1 || true
    done
}

cleanup() {
    local rc=$? v s phase
    set +e
    trap - EXIT INT TERM
    if [ -n "$writer_pid" ] && kill -0 "$writer_pid" 2>/dev/null; then
        kill "$writer_pid" 2>/dev/null
        wait "$writer_pid" 2>/dev/null
    fi
    if [ "$keep" = 1 ]; then
        step "kept (--keep)"
        [ ${#SERVERS[@]} = 0 ] || say "servers: ${SERVERS[*]}"
        [ ${#VOLUMES[@]} = 0 ] || say "volumes: ${VOLUMES[*]}"
        [ -z "$move_id" ] || say "journal: rbdmove status --state-dir $STATE $move_id"
        say "clouds:  OS_CLIENT_CONFIG_FILE=$RBDMOVE_LAB/openstack/clouds.yaml (cloud rbdmove-demo)"
        say "labs:    scripts/openstack-lab.sh stop --with-ceph removes everything"
        exit "$rc"
    fi
    if [ ${#SERVERS[@]} -gt 0 ] || [ ${#VOLUMES[@]} -gt 0 ]; then
        step "cleaning up what the demo made"
    fi
    # A move that stopped half way is undone first (source back on its
    # server, the destination volume deleted), as an operator would.
    if [ -n "$move_id" ] && [ -f "$STATE/$move_id.journal" ]; then
        phase=$(sed -n 's/^phase //p' "$STATE/$move_id.journal")
        case "$phase" in
        done | aborted) ;;
        *)
            say "move $move_id stopped in phase '$phase': rbdmove abort"
            "$BUILD/rbdmove/rbdmove" abort --state-dir "$STATE" "$move_id" 2>&1 | sed 's/^/    | /'
            ;;
        esac
    fi
    for s in "${SERVERS[@]}"; do
        os_server delete "${s% *}" "${s#* }" >/dev/null 2>&1 &
    done
    wait
    [ ${#SERVERS[@]} = 0 ] || say "deleted ${#SERVERS[@]} servers"
    for v in "${VOLUMES[@]}"; do
        # The server's delete detaches it; wait for that, then delete.
        osc --os-region-name "${v% *}" volume-wait "${v#* }" available 60 >/dev/null 2>&1
        drop_snaps "${v% *}" "${v#* }"
        if osc --os-region-name "${v% *}" volume-delete "${v#* }" >/dev/null 2>&1; then
            say "deleted volume ${v#* } (${v% *})"
        else
            say "${R}could not delete volume ${v#* } (${v% *})$N"
        fi
    done
    if [ "$started_os" = 1 ]; then
        step "stopping the OpenStack lab (started by this demo)"
        "$SRC/scripts/openstack-lab.sh" stop 2>&1 | sed 's/^/    /'
    fi
    if [ "$started_ceph" = 1 ]; then
        step "stopping the Ceph lab (started by this demo)"
        "$SRC/scripts/ceph-lab.sh" stop 2>&1 | sed 's/^/    /'
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. install, build
if [ "$install" = 1 ]; then
    step "installing Debian packages (scripts/install-deps.sh --openstack)"
    "$SRC/scripts/install-deps.sh" --openstack >"$WORK/install.log" 2>&1 || {
        tail -n 30 "$WORK/install.log" >&2
        die "scripts/install-deps.sh --openstack failed"
    }
    tail -n 1 "$WORK/install.log" | sed 's/^/    /'
fi

step "building rbdmove (Release) in build-demo/"
{
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$BUILD" -j "$(nproc)" --target rbdmove rbm-os-client
} >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    die "the build failed (log above)"
}
RBDMOVE=$BUILD/rbdmove/rbdmove
say "$("$RBDMOVE" --version): $RBDMOVE"

# ---------------------------------------------------------------- 2. labs
step "labs"
if "$SRC/scripts/ceph-lab.sh" status >/dev/null 2>&1; then
    say "Ceph lab: already running, reused (and left running)"
else
    started_ceph=1
fi
if "$SRC/scripts/openstack-lab.sh" status >/dev/null 2>&1; then
    say "OpenStack lab: already running, reused (and left running)"
    if [ "$started_ceph" = 1 ]; then
        say "starting the Ceph lab under it"
        "$SRC/scripts/ceph-lab.sh" start 2>&1 | sed 's/^/    /'
    fi
else
    say "starting the OpenStack lab (and the Ceph lab under it): about 2.5 minutes"
    started_os=1
    "$SRC/scripts/openstack-lab.sh" start 2>&1 | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" = 0 ] || die "the OpenStack lab did not start (logs: $RBDMOVE_LAB/openstack/log)"
fi
"$SRC/scripts/openstack-lab.sh" status >/dev/null 2>&1 || die "the OpenStack lab is not running"

# The lab's environment: the admin's OS_* variables and the demo user's
# RBM_OS_DEMO_*. The stand-in VM and server helper read the latter; rbdmove
# itself reads clouds.yaml (cloud rbdmove-demo), so the admin's OS_*
# variables, which would override it, go.
set -a
# shellcheck disable=SC1091
. "$RBDMOVE_LAB/openstack.env"
set +a
export RBM_AUTH_URL=$OS_AUTH_URL
for v in $(env | grep -o '^OS_[A-Z_]*'); do
    [ "$v" = OS_CLIENT_CONFIG_FILE ] || unset "$v"
done
CONF1=$RBDMOVE_LAB/ceph1/ceph.conf
CONF2=$RBDMOVE_LAB/ceph2/ceph.conf

# ---------------------------------------------------------------- 3. the scene
step "a server in $R1 with a 1 GiB volume, and a server in $R2"
tag=demo-$(date +%H%M%S)-$$
os_server create $R1 "$tag-src" >"$WORK/srv1" 2>&1 &
p1=$!
os_server create $R2 "$tag-dst" >"$WORK/srv2" 2>&1 &
p2=$!
wait $p1 || die "cannot create a server in $R1: $(cat "$WORK/srv1")"
src_srv=$(tail -n 1 "$WORK/srv1")
SERVERS+=("$R1 $src_srv")
wait $p2 || die "cannot create a server in $R2: $(cat "$WORK/srv2")"
dst_srv=$(tail -n 1 "$WORK/srv2")
SERVERS+=("$R2 $dst_srv")
say "server $tag-src  $src_srv  ($R1, ACTIVE)"
say "server $tag-dst  $dst_srv  ($R2, ACTIVE)"

osc --os-region-name $R1 volume-create 1 "$tag-data" >"$WORK/vol" 2>&1 ||
    die "cannot create a volume: $(cat "$WORK/vol")"
vol=$(sed -n 's/^id=//p' "$WORK/vol")
VOLUMES+=("$R1 $vol")
osc --os-region-name $R1 attach "$src_srv" "$vol" >"$WORK/attach" 2>&1 ||
    die "cannot attach the volume: $(cat "$WORK/attach")"
say "volume $tag-data $vol  (1 GiB, in-use on $tag-src as $(sed -n 's/^device=//p' "$WORK/attach"))"
say "its RBD image: volumes/volume-$vol on the $R1 cluster ($CONF1)"

# Data in four separate 64 MiB regions: the copy moves what is allocated,
# not the whole gigabyte.
"$PY" - "$CONF1" "volumes/volume-$vol" <<'PY'
import os, sys
import rados, rbd
conf, spec = sys.argv[1:3]
pool, _, name = spec.rpartition("/")
with rados.Rados(conffile=conf) as c, c.open_ioctx(pool) as io, rbd.Image(io, name) as img:
    for start in (0, 300 << 20, 600 << 20, 900 << 20):
        for off in range(start, start + (64 << 20), 4 << 20):
            img.write(os.urandom(4 << 20), off)
    img.flush()
PY
say "wrote 256 MiB of random data into it (4 regions of 64 MiB)"

step "the server keeps writing: random 64 KiB writes at $((rate / 1000000)) MB/s until Nova detaches the volume"
"$PY" "$SRC/tests/integration/vm_writer.py" "$CONF1" "volumes/volume-$vol" \
    "$rate" "$vol" $R1 900 >"$WORK/writer" 2>&1 &
writer_pid=$!
sleep 3
kill -0 "$writer_pid" 2>/dev/null || die "the writer stopped: $(cat "$WORK/writer")"
say "stand-in VM (tests/integration/vm_writer.py) is writing, pid $writer_pid"

# ---------------------------------------------------------------- 4. the move
step "rbdmove move"
cmd=("$RBDMOVE" move --os-cloud rbdmove-demo --os-region-name "$R1"
    --dst-os-region-name "$R2" --dst-server "$dst_srv"
    --src-conf "$CONF1" --dst-conf "$CONF2"
    --max-downtime "$max_downtime" --state-dir "$STATE" --json "$vol")
printf '    %s$ rbdmove move --os-cloud rbdmove-demo --os-region-name %s \\\n' "$D" $R1
printf '        --dst-os-region-name %s --dst-server %s \\\n' $R2 "$tag-dst"
printf '        --src-conf %s --dst-conf %s \\\n' "$CONF1" "$CONF2"
printf '        --max-downtime %s --json %s%s\n\n' "$max_downtime" "$vol" "$N"
t_move=$SECONDS
set +e
"${cmd[@]}" >"$WORK/move.json" 2> >(tee "$WORK/move.err" | sed -u 's/^/    | /' >&2)
move_rc=$?
set -e
t_move=$((SECONDS - t_move))
sleep 0.2 # let the stderr relay finish
move_id=$(sed -n 's/^rbdmove: move \([^ ]*\) (journal.*/\1/p' "$WORK/move.err" | head -n 1)
dst_vol=$(sed -n 's/^dst.volume //p' "$STATE/$move_id.journal" 2>/dev/null || true)
[ -z "$dst_vol" ] || VOLUMES+=("$R2 $dst_vol")
[ "$move_rc" = 0 ] || die "rbdmove move failed with exit status $move_rc (see above)"

wait "$writer_pid" || true
writer_bytes=$(tail -n 1 "$WORK/writer")
writer_pid=

# ---------------------------------------------------------------- 5. checks
step "independent check: rbd export | sha256sum on both clusters"
sum1=$(rbd_c 1 export --no-progress "volumes/volume-$vol" - | sha256sum | cut -d' ' -f1)
sum2=$(rbd_c 2 export --no-progress "volumes/volume-$dst_vol" - | sha256sum | cut -d' ' -f1)
say "$R1 volumes/volume-$vol      $sum1"
say "$R2 volumes/volume-$dst_vol  $sum2"

osc --os-region-name $R2 volume-show "$dst_vol" >"$WORK/dst_show" 2>&1 || true
osc --os-region-name $R1 volume-show "$vol" >"$WORK/src_show" 2>&1 || true
snaps1=$(rbd_c 1 snap ls "volumes/volume-$vol" 2>/dev/null | grep -c rbdmove- || true)
snaps2=$(rbd_c 2 snap ls "volumes/volume-$dst_vol" 2>/dev/null | grep -c rbdmove- || true)

# ---------------------------------------------------------------- 6. summary
step "summary"
summary_rc=0
"$PY" - "$WORK/move.json" "$WORK/dst_show" "$WORK/src_show" "$dst_srv" "$src_srv" \
    "$sum1" "$sum2" "${writer_bytes:-0}" "$t_move" "$snaps1" "$snaps2" "$tag" <<'PY' || summary_rc=$?
import json, sys

(events, dst_show, src_show, dst_srv, src_srv, sum1, sum2, written, t_move,
 snaps1, snaps2, tag) = sys.argv[1:13]
tty = sys.stdout.isatty()
G, R, B, N = ("\033[32m", "\033[31m", "\033[1m", "\033[0m") if tty else ("",) * 4


def human(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%.0f %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024


def kv(path):
    d = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("=")
        d.setdefault(k, v)
    return d


ev = [json.loads(l) for l in open(events) if l.startswith("{")]
done = [e for e in ev if e["event"] == "done"][-1]
rounds = [e for e in ev if e["event"] in ("seed", "round") and "data_bytes" in e]
verify = [e["message"] for e in ev if e["event"] == "verify"]
why = [e["message"] for e in ev if e["event"] == "info" and "final round should" in e["message"]]
dst, src = kv(dst_show), kv(src_show)
ok = True

print("  %smove %s%s: volume %s-data from %s to %s" % (B, done["move"], N, tag,
      "RegionOne", "RegionTwo"))
print()
print("  data rounds (the server kept writing until the detach):")
for i, e in enumerate(rounds):
    last = i == len(rounds) - 1
    name = "seed" if e["event"] == "seed" else ("final round" if last else "round %d" % e["round"])
    rate = e["data_bytes"] / e["seconds"] if e["seconds"] > 0 else 0
    print("    %-12s %10s of data in %6.2f s  (%s/s)%s" % (
        name, human(e["data_bytes"]), e["seconds"], human(rate),
        "  <- while detached" if last else ""))
n_inc = len(rounds) - 1
if n_inc <= 1:
    print("    no round was needed while the server ran: what it wrote after the seed")
    print("    already fitted the downtime budget, so the final round moved it all")
else:
    print("    %d rounds while the server ran, then the final one during the cutover" %
          (n_inc - 1))
for m in why:
    head, _, tail = m.partition(": ")
    print("    (rbdmove: %s:" % head)
    print("     %s)" % tail)
print()
print("  downtime %s%.2f s%s, from the detach request to the destination in-use:" % (
    B, done["downtime_s"], N))
for k, label in (("detach_s", "detach, until no client holds the image"),
                 ("final_round_s", "final round (head to head, no snapshot)"),
                 ("verify_s", "verify the blocks the final round touched"),
                 ("attach_s", "attach in RegionTwo, until in-use")):
    print("    %6.2f s  %s" % (done[k], label))
print()
print("  verification by rbdmove:")
for m in verify:
    print("    %s" % m)
print()
print("  the move took %d s in all; the stand-in VM wrote %s into the volume" % (
    int(t_move), human(written)))
print("  during that time, until Nova took the disk away")
print()
print("  state afterwards:")
att = dst.get("attached.0", "").split(" ")
good = dst.get("status") == "in-use" and att[0] == dst_srv
ok &= good
print("    %s  volume %s in RegionTwo: %s, attached to %s-dst as %s" % (
    G + "ok" + N if good else R + "!!" + N, done["dst_volume_id"],
    dst.get("status", "?"), tag, att[1] if len(att) > 1 else "?"))
good = src.get("status") == "available"
ok &= good
print("    %s  volume %s in RegionOne: %s, marked rbdmove.state=%s (kept; --delete-source removes it)" % (
    G + "ok" + N if good else R + "!!" + N, src.get("id", "?"), src.get("status", "?"),
    src.get("meta.rbdmove.state", "-")))
good = snaps1 == "0" and snaps2 == "0"
ok &= good
print("    %s  temporary snapshots left: %s in RegionOne, %s in RegionTwo" % (
    G + "ok" + N if good else R + "!!" + N, snaps1, snaps2))
print()
same = sum1 == sum2
ok &= same
print("  independent check (rbd export | sha256sum, both whole images):")
print("    %s  %s" % (sum1, "RegionOne source"))
print("    %s  %s" % (sum2, "RegionTwo destination"))
print("    %s" % (G + B + "IDENTICAL" + N if same else R + B + "DIFFERENT" + N))
sys.exit(0 if ok else 1)
PY
printf '\n    %s(%d s in all)%s\n' "$D" $((SECONDS - T0)) "$N"
exit $summary_rc
