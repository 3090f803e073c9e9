# SPDX-License-Identifier: MIT
#
# tests/integration/lib.sh: sourced by every tests/integration/tNN-*.sh.
# Checks print TAP-style lines (`ok N - title # at Ts`, `not ok N - title #
# at Ts` followed by the failing command's output; T the test's seconds so
# far, to see where a slow test spends them) and the script ends with `N passed, N failed`
# and exit status 0 (all passed), 1 (something failed) or 77 (skipped: a lab
# is not running, outside CI). Images a test creates are removed at exit.
#
# The labs are started once by scripts/test.sh; a test only checks that the
# ones it needs are up (lab_require). Run by hand, a test can start a missing
# lab itself with RBDMOVE_LAB_AUTOSTART=1 (stopped again at exit unless
# RBDMOVE_LAB_KEEP=1).
#
#   lab_require ceph|sshd|openstack...     exit 77 (CI: fail) if not up
#   expect_success "title" cmd...          cmd must exit 0
#   expect_failure "title" cmd...          cmd must exit 1..127 (no crash)
#   expect_exit N "title" cmd...           cmd must exit N
#   expect_equal "title" expected actual
#   pass "title" / fail "msg"              record a check by hand
#   bail "msg"                             record a failure and stop here
#   rbd1/rbd2/ceph1/ceph2 args...          rbd/ceph on lab cluster 1 or 2
#   rbdc/cephc CLUSTER args...             the same, CLUSTER = 1|2
#   rbdmove args...                        the binary under test ($RBDMOVE)
#   make_image CLUSTER POOL/NAME SIZE [rbd create options...]
#   track_image CLUSTER POOL/NAME          remove it at exit (made elsewhere)
#   write_random CLUSTER POOL/IMAGE OFFSET LEN    (sizes: bytes or K/M/G)
#   write_zeros CLUSTER POOL/IMAGE OFFSET LEN     (writes zero-filled data)
#   discard_range CLUSTER POOL/IMAGE OFFSET LEN
#   image_checksum CLUSTER POOL/IMAGE[@SNAP]      prints a sha256 of content
#   snap_exists CLUSTER POOL/IMAGE@SNAP
#   snap_names CLUSTER POOL/IMAGE [PREFIX]        its snapshots' names
#   remove_snaps CLUSTER POOL/IMAGE        all of them (quiet, for cleanups)
#   wait_watched CLUSTER POOL/IMAGE        until a client has it open
#   wait_head_used CLUSTER POOL/IMAGE BYTES  until its head holds more data
#   json_get [KEY|INDEX...] <JSON              one value of a JSON document
#   json_event FILE EVENT FIELD            FIELD of the last --json EVENT
#   unique_name PREFIX                     prints PREFIX-tNN-PID-COUNTER
#
# After each expect_*, $LAST_OUTPUT names a file holding the command's
# stdout and stderr, and $LAST_RC its exit status. $TEST_TMP is a scratch
# directory removed at exit.
#
# Honest helpers: a helper that cannot read what it was asked for (an image
# that does not export whole, output that holds no JSON) says so on stderr,
# prints a value that equals nothing else, and is counted as a failed check
# even when it ran in a $(...) subshell. Every rbd and ceph command of a
# test has explicit limits: RBDMOVE_TEST_OP_TIMEOUT seconds (default 60) for
# one Ceph operation, RBDMOVE_TEST_CMD_TIMEOUT (default 300) for a command.
# When one fails and the cluster turns out unable to take writes (full,
# HEALTH_ERR: scripts/ceph-lab.sh check), the test stops at once with the
# cluster's own message.

RBDMOVE_SRC=${RBDMOVE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RBDMOVE_LAB=${RBDMOVE_LAB:-/tmp/rbm}
export RBDMOVE_SRC RBDMOVE_LAB
if [ -z "${RBDMOVE:-}" ]; then
    for _b in build-test build; do
        if [ -x "$RBDMOVE_SRC/$_b/rbdmove/rbdmove" ]; then
            RBDMOVE=$RBDMOVE_SRC/$_b/rbdmove/rbdmove
            break
        fi
    done
fi
export RBDMOVE=${RBDMOVE:-rbdmove}
CEPH1_CONF=${CEPH1_CONF:-$RBDMOVE_LAB/ceph1/ceph.conf}
CEPH2_CONF=${CEPH2_CONF:-$RBDMOVE_LAB/ceph2/ceph.conf}
export CEPH1_CONF CEPH2_CONF

TEST_NAME=$(basename "$0" .sh)
_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rbm-$TEST_NAME.XXXXXX")
LAST_OUTPUT=$TEST_TMP/output.0
LAST_RC=0
: >"$LAST_OUTPUT"

RBDMOVE_TEST_OP_TIMEOUT=${RBDMOVE_TEST_OP_TIMEOUT:-60}
RBDMOVE_TEST_CMD_TIMEOUT=${RBDMOVE_TEST_CMD_TIMEOUT:-300}
# rbdmove's own limit on one Ceph operation (its default, said explicitly).
export RBDMOVE_CEPH_TIMEOUT=${RBDMOVE_CEPH_TIMEOUT:-60}
# Failures found by helpers that may run in a subshell: one line each.
_LIB_HELPER_FAILURES=$TEST_TMP/helper-failures

_lib_checks=0
_lib_passed=0
_lib_failed=0
_lib_names=0
_lib_runs=0
_lib_images=()
_lib_labs_started=()

# ---- results ---------------------------------------------------------------

pass() {
    _lib_checks=$((_lib_checks + 1))
    _lib_passed=$((_lib_passed + 1))
    echo "ok $_lib_checks - $1 # at ${SECONDS}s"
}

_lib_fail() {
    _lib_checks=$((_lib_checks + 1))
    _lib_failed=$((_lib_failed + 1))
    echo "not ok $_lib_checks - $1 # at ${SECONDS}s"
}

# fail "msg": a failed check; returns 1, the test goes on unless it uses
# set -e.
fail() {
    _lib_fail "$1"
    return 1
}

# bail "msg": a failed check that makes going on pointless.
bail() {
    _lib_fail "$1"
    exit 1
}

# _lib_helper_failed MSG: a helper could not do its job (in a subshell too).
_lib_helper_failed() {
    local msg=${1//$'\n'/; }
    echo "# $msg" >&2
    echo "$msg" >>"$_LIB_HELPER_FAILURES"
}

# A new file per command, so that a check may read the previous output:
# expect_success "..." grep -q x "$LAST_OUTPUT".
_lib_run() {
    local prev=$LAST_OUTPUT
    _lib_stop_if_lab_broken
    _lib_runs=$((_lib_runs + 1))
    LAST_OUTPUT=$TEST_TMP/output.$_lib_runs
    "$@" >"$LAST_OUTPUT" 2>&1
    LAST_RC=$?
    rm -f "$prev"
}

# _lib_report OK TITLE WHAT CMD...: record the outcome of one check.
_lib_report() {
    local ok=$1 title=$2 what=$3
    shift 3
    if [ "$ok" = 1 ]; then
        pass "$title"
        return 0
    fi
    _lib_fail "$title"
    echo "#   command: $*"
    echo "#   $what"
    if [ -s "$LAST_OUTPUT" ]; then
        echo "#   output (last 40 lines):"
        tail -n 40 "$LAST_OUTPUT" | sed 's/^/#     /'
    fi
    return 1
}

expect_success() {
    local title=$1
    shift
    _lib_run "$@"
    _lib_report "$([ "$LAST_RC" = 0 ] && echo 1)" "$title" \
        "exit status $LAST_RC, expected 0" "$@"
}

# A failure is an exit status from 1 to 127: 128 and above is a signal (a
# crash), which is never the expected way to fail.
expect_failure() {
    local title=$1
    shift
    _lib_run "$@"
    _lib_report "$([ "$LAST_RC" -ge 1 ] && [ "$LAST_RC" -le 127 ] && echo 1)" \
        "$title" "exit status $LAST_RC, expected a failure (1-127)" "$@"
}

expect_exit() {
    local want=$1 title=$2
    shift 2
    _lib_run "$@"
    _lib_report "$([ "$LAST_RC" = "$want" ] && echo 1)" "$title" \
        "exit status $LAST_RC, expected $want" "$@"
}

expect_equal() {
    if [ "$2" = "$3" ]; then
        pass "$1"
        return 0
    fi
    _lib_fail "$1"
    echo "#   expected: '$2'"
    echo "#   actual:   '$3'"
    return 1
}

# ---- labs ------------------------------------------------------------------

_lib_lab_up() {
    "$RBDMOVE_SRC/scripts/$1-lab.sh" status >/dev/null 2>&1
}

# _lib_lab_check: the Ceph lab can take writes (scripts/ceph-lab.sh check);
# else print the cluster's own words and fail.
_lib_lab_check() {
    "$RBDMOVE_SRC/scripts/ceph-lab.sh" check 2>&1
}

# _lib_cluster_suspect: a Ceph helper failed. If the lab cannot take writes,
# note it, so that this test stops before its next check (the note is a
# file: the helper may run in a $(...) subshell).
_lib_cluster_suspect() {
    local why
    [ -f "$TEST_TMP/lab-broken" ] && return 0
    why=$(_lib_lab_check) && return 0
    echo "$why" >"$TEST_TMP/lab-broken"
    echo "# the Ceph lab cannot take writes: $why" >&2
}

_lib_stop_if_lab_broken() {
    [ -f "$TEST_TMP/lab-broken" ] || return 0
    local why
    why=$(cat "$TEST_TMP/lab-broken")
    rm -f "$TEST_TMP/lab-broken"
    bail "the Ceph lab cannot take writes; stopping $TEST_NAME: ${why//$'\n'/; }"
}

# lab_require LAB...: the named labs must be running (and the Ceph lab
# able to take writes). Their environment files ($RBDMOVE_LAB/<lab>.env,
# KEY=VALUE lines) are exported.
lab_require() {
    local lab script why
    for lab in "$@"; do
        script=$RBDMOVE_SRC/scripts/$lab-lab.sh
        why=""
        if [ ! -x "$script" ]; then
            why="scripts/$lab-lab.sh does not exist"
        elif ! _lib_lab_up "$lab"; then
            if [ "${RBDMOVE_LAB_AUTOSTART:-0}" = 1 ]; then
                echo "# starting the $lab lab (RBDMOVE_LAB_AUTOSTART=1)"
                "$script" start 2>&1 | sed 's/^/#   /'
                if [ "${PIPESTATUS[0]}" = 0 ] &&
                    [ "${RBDMOVE_LAB_KEEP:-0}" != 1 ]; then
                    _lib_labs_started+=("$lab")
                fi
            fi
            _lib_lab_up "$lab" ||
                why="the $lab lab is not running (scripts/$lab-lab.sh start)"
        fi
        # The OpenStack lab's volumes live in the Ceph lab.
        if [ -z "$why" ] && { [ "$lab" = ceph ] || [ "$lab" = openstack ]; } &&
            ! why=$(_lib_lab_check); then
            bail "lab_require $lab: the Ceph lab cannot take writes: ${why//$'\n'/; }"
        fi
        if [ -n "$why" ]; then
            if [ "${CI:-}" = true ]; then
                bail "lab_require $lab: $why"
            fi
            echo "$TEST_NAME: SKIP: $why; scripts/test.sh starts the labs," \
                "RBDMOVE_LAB_AUTOSTART=1 lets this test start them" >&2
            exit 77
        fi
        if [ -f "$RBDMOVE_LAB/$lab.env" ]; then
            set -a
            # shellcheck disable=SC1090
            . "$RBDMOVE_LAB/$lab.env"
            set +a
        fi
    done
}

# ---- Ceph helpers ----------------------------------------------------------

_lib_conf() {
    case "$1" in
    1 | ceph1) echo "$CEPH1_CONF" ;;
    2 | ceph2) echo "$CEPH2_CONF" ;;
    *)
        echo "lib.sh: unknown cluster '$1' (use 1 or 2)" >&2
        return 1
        ;;
    esac
}

# _lib_ceph_tool TOOL CONF ARGS...: rbd or ceph within the test's limits:
# an operation the cluster cannot serve fails instead of waiting for ever.
_lib_ceph_tool() {
    local tool=$1 conf=$2 t=$RBDMOVE_TEST_OP_TIMEOUT
    shift 2
    timeout -k 5 "$RBDMOVE_TEST_CMD_TIMEOUT" "$tool" -c "$conf" \
        --rados-osd-op-timeout "$t" --rados-mon-op-timeout "$t" \
        --client-mount-timeout "$t" "$@"
}

rbdc() {
    local conf
    conf=$(_lib_conf "$1") || return 2
    shift
    _lib_ceph_tool rbd "$conf" "$@"
}

cephc() {
    local conf
    conf=$(_lib_conf "$1") || return 2
    shift
    _lib_ceph_tool ceph "$conf" "$@"
}

rbd1() {
    rbdc 1 "$@"
}

rbd2() {
    rbdc 2 "$@"
}

ceph1() {
    cephc 1 "$@"
}

ceph2() {
    cephc 2 "$@"
}

# ceph_unlag N: after a test froze ceph<N>'s daemons (SIGSTOP), the PGs
# whose read lease lapsed in the freeze can stay "laggy" on this
# single-OSD cluster (Pacific) and block every op on them: seen once in
# CI after t54's 47 s freeze, when ceph1 then failed t55's first write and
# slowed t54's clean-up by 6 minutes. Waits up to 15 s for no PG to be
# laggy (and pg stat to answer); else marks osd.0 down once, which makes
# it re-peer (it rejoins at once, "wrongly marked me down"), and waits up
# to 30 s more.
_lib_unlagged() {
    local st
    st=$(cephc "$1" pg stat 2>/dev/null) && [ -n "$st" ] &&
        [[ $st != *laggy* && $st != *peering* && $st != *stale* ]]
}
ceph_unlag() {
    local i
    for i in $(seq 30); do
        _lib_unlagged "$1" && return 0
        sleep 0.5
    done
    echo "# ceph$1 after the freeze: $(cephc "$1" pg stat 2>&1 | cut -d';' -f1); osd.0 re-peers"
    cephc "$1" osd down 0 >/dev/null 2>&1
    for i in $(seq 60); do
        _lib_unlagged "$1" && return 0
        sleep 0.5
    done
    return 1
}

rbdmove() {
    "$RBDMOVE" "$@"
}

unique_name() {
    _lib_names=$((_lib_names + 1))
    echo "$1-${TEST_NAME%%-*}-$$-$_lib_names"
}

track_image() {
    _lib_images+=("$1 $2")
}

make_image() {
    local cluster=$1 spec=$2 size=$3 out
    shift 3
    track_image "$cluster" "$spec"
    if ! out=$(rbdc "$cluster" create --size "$size" "$@" "$spec" 2>&1); then
        echo "# make_image $cluster $spec $size failed: $out" >&2
        _lib_cluster_suspect
        return 1
    fi
}

# _lib_rbd_io MODE CLUSTER POOL/IMAGE OFFSET LEN: write through librbd (the
# rbd CLI cannot write at an offset, and there is no kernel rbd here).
_lib_rbd_io() {
    local conf
    conf=$(_lib_conf "$2") || return 2
    if ! timeout -k 5 "$RBDMOVE_TEST_CMD_TIMEOUT" /usr/bin/python3 - "$1" \
        "$conf" "$3" "$4" "$5" "$RBDMOVE_TEST_OP_TIMEOUT" <<'PY'; then
import os
import sys

import rados
import rbd

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def size(text):
    text = text.upper().removesuffix("IB").removesuffix("B")
    unit = text[-1] if text and text[-1] in UNITS else ""
    return int(text[: len(text) - len(unit)]) * UNITS[unit]


mode, conf, spec = sys.argv[1:4]
offset, length = size(sys.argv[4]), size(sys.argv[5])
limit = sys.argv[6]
pool, _, name = spec.rpartition("/")
limits = {"rados_osd_op_timeout": limit, "rados_mon_op_timeout": limit,
          "client_mount_timeout": limit}
with rados.Rados(conffile=conf, conf=limits) as cluster:
    with cluster.open_ioctx(pool) as ioctx:
        with rbd.Image(ioctx, name) as image:
            if mode == "discard":
                image.discard(offset, length)
                sys.exit(0)
            end = offset + length
            while offset < end:
                n = min(4 << 20, end - offset)
                data = os.urandom(n) if mode == "random" else bytes(n)
                if image.write(data, offset) != n:
                    sys.exit("short write at %d" % offset)
                offset += n
PY
        echo "# $1 of ceph$2 $3 at $4 (+$5) failed" >&2
        _lib_cluster_suspect
        return 1
    fi
}

write_random() {
    _lib_rbd_io random "$@"
}

write_zeros() {
    _lib_rbd_io zeros "$@"
}

discard_range() {
    _lib_rbd_io discard "$@"
}

# image_checksum CLUSTER SPEC: the sha256 of the image's whole content. An
# image that cannot be read, or whose export is not exactly its size, gives
# "unreadable:..." (unequal to anything) and a failed check.
image_checksum() {
    local info size out rc
    if ! info=$(rbdc "$1" info --format json "$2" 2>&1); then
        _lib_checksum_failed "$1" "$2" "rbd info failed: $info"
        return 1
    fi
    size=$(json_get size <<<"$info") || {
        _lib_checksum_failed "$1" "$2" "rbd info gave no size"
        return 1
    }
    out=$(rbdc "$1" export --no-progress "$2" - 2>"$TEST_TMP/checksum.err" |
        /usr/bin/python3 -c 'import hashlib, sys
h, n = hashlib.sha256(), 0
while True:
    b = sys.stdin.buffer.read(1 << 22)
    if not b:
        break
    h.update(b)
    n += len(b)
print(h.hexdigest(), n)')
    rc=${PIPESTATUS[0]}
    if [ "$rc" != 0 ]; then
        _lib_checksum_failed "$1" "$2" "rbd export failed ($rc): $(head -c 300 "$TEST_TMP/checksum.err")"
        return 1
    fi
    if [ "${out#* }" != "$size" ]; then
        _lib_checksum_failed "$1" "$2" "rbd export gave ${out#* } bytes of a $size-byte image"
        return 1
    fi
    echo "${out%% *}"
}

_lib_checksum_failed() {
    _lib_helper_failed "image_checksum ceph$1 $2: $3"
    _lib_cluster_suspect
    echo "unreadable:ceph$1:$2:$RANDOM$RANDOM"
}

# snap_names CLUSTER POOL/IMAGE [PREFIX]: the names of the image's snapshots
# (those starting with PREFIX), on one line; fails if it cannot list them.
snap_names() {
    local json out
    if ! json=$(rbdc "$1" snap ls --format json "$2" 2>&1); then
        _lib_helper_failed "snap_names ceph$1 $2: $json"
        _lib_cluster_suspect
        return 1
    fi
    if ! out=$(_lib_json snap_names "$2" "${3:-}" <<<"$json" 2>&1); then
        _lib_helper_failed "$out"
        return 1
    fi
    echo "$out"
}

# rbdmove_snaps CLUSTER POOL/IMAGE: how many of the image's snapshots are
# rbdmove's (named rbdmove-*).
rbdmove_snaps() {
    local names
    names=$(snap_names "$1" "$2" rbdmove-) || return 1
    echo "$names" | wc -w
}

# wait_watched CLUSTER POOL/IMAGE: until a client holds the image open (a
# writer started in the background is at work); at most 30 s.
wait_watched() {
    local w
    for _ in $(seq 300); do
        w=$(rbdc "$1" status --format json "$2" 2>/dev/null |
            _lib_json json_get watchers 0 2>/dev/null)
        [ -n "$w" ] && [ "$w" != None ] && return 0
        sleep 0.1
    done
    _lib_helper_failed "wait_watched ceph$1 $2: no client opened it in 30 s"
    return 1
}

# wait_head_used CLUSTER POOL/IMAGE BYTES: until more than BYTES of the
# image's head hold data (a copy streaming into it got that far); 30 s.
wait_head_used() {
    local used
    for _ in $(seq 300); do
        used=$(rbdc "$1" du --format json "$2" 2>/dev/null |
            /usr/bin/python3 -c 'import json, sys
print(sum(i["used_size"] for i in json.load(sys.stdin)["images"]
          if "snapshot" not in i))' 2>/dev/null)
        [ -n "$used" ] && [ "$used" -gt "$3" ] && return 0
        sleep 0.1
    done
    _lib_helper_failed "wait_head_used ceph$1 $2: not over $3 bytes in 30 s"
    return 1
}

snap_exists() {
    local names
    names=$(snap_names "$1" "${2%@*}") || return 2
    [[ " $names " == *" ${2##*@} "* ]]
}

# _lib_json WHAT ARGS... <JSON: the JSON work of the helpers, in one place:
# input that holds no JSON is said as such, never a traceback.
_lib_json() {
    /usr/bin/python3 -c "$_LIB_JSON_PY" "$@"
}
_LIB_JSON_PY=$(
    cat <<'PY'
import json, sys

what, args = sys.argv[1], sys.argv[2:]


def no_json(text, err):
    text = text.strip().replace("\n", " | ")
    sys.exit("%s: no JSON in its input (%s): %r" % (what, err, text[:300]))


def show(v):
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)


if what == "json_event":
    path, event, field = args
    found, value = False, None
    text = open(path, errors="replace").read()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            e = json.loads(line)
        except ValueError as err:
            no_json(line, err)
        found = True
        if e.get("event") == event:
            value = e.get(field)
    if not found:
        no_json(text, "no event line")
    show(value)
    sys.exit(0)

text = sys.stdin.read()
try:
    doc = json.loads(text)
except ValueError as err:
    no_json(text, err)
if what == "snap_names":
    prefix = args[1]
    print(" ".join(s["name"] for s in doc if s["name"].startswith(prefix)))
else:
    for k in args:
        if isinstance(doc, list) and k.lstrip("-").isdigit():
            doc = doc[int(k)] if -len(doc) <= int(k) < len(doc) else None
        elif isinstance(doc, dict):
            doc = doc.get(k)
        else:
            doc = None
    show(doc)
PY
)

# json_get [KEY|INDEX...] <JSON: the value at that path ("None" when absent;
# objects and arrays as JSON).
json_get() {
    local out rc
    out=$(_lib_json json_get "$@" 2>&1)
    rc=$?
    if [ "$rc" != 0 ]; then
        _lib_helper_failed "$out"
        return 1
    fi
    echo "$out"
}

# json_event FILE EVENT FIELD: FIELD of the last EVENT among the --json event
# lines of FILE ("None" when there is no such event).
json_event() {
    local out rc
    out=$(_lib_json json_event "$@" </dev/null 2>&1)
    rc=$?
    if [ "$rc" != 0 ]; then
        _lib_helper_failed "$out"
        return 1
    fi
    echo "$out"
}

# ---- exit ------------------------------------------------------------------

# remove_snaps CLUSTER POOL/IMAGE: remove every snapshot of the image
# (protected ones too), quietly: for cleanups, where an image may be gone.
# base_of CLUSTER POOL/IMAGE: the rbdmove snapshots of an image (a copy's
# base)
base_of() {
    snap_names "$1" "$2" rbdmove-
}

remove_snaps() {
    local snap names
    names=$(rbdc "$1" snap ls --format json "$2" 2>/dev/null |
        _lib_json snap_names "$2" "" 2>/dev/null) || return 0
    for snap in $names; do
        rbdc "$1" snap unprotect "$2@$snap" >/dev/null 2>&1
        rbdc "$1" snap rm --no-progress "$2@$snap" >/dev/null 2>&1
    done
}

# _lib_remove_image CLUSTER SPEC [quiet]: quiet says nothing if it fails.
_lib_remove_image() {
    local cluster=$1 spec=$2 quiet=${3:-} out
    rbdc "$cluster" info "$spec" >/dev/null 2>&1 || return 0
    # A client that died holding the image's lock (a killed run, a copy
    # cut off from a paused cluster) would keep every step below waiting
    # for its watch to time out, 30 s. The test is over: its locks go, and
    # their clients are blocklisted.
    rbdc "$cluster" lock ls --format json "$spec" 2>/dev/null |
        /usr/bin/python3 -c '
import json, sys
try:
    locks = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
if isinstance(locks, dict):  # before Pacific: keyed by the lock id
    locks = [dict(v, id=k) for k, v in locks.items()]
for l in locks:
    print("%s\t%s" % (l["id"], l["locker"]))' 2>/dev/null |
        while IFS=$'\t' read -r id locker; do
            rbdc "$cluster" lock rm "$spec" "$id" "$locker" >/dev/null 2>&1
        done
    # A killed client that held no lock (a reader: a copy's source, a
    # receiver cut off) still watches the image for 30 s, and 'rbd rm'
    # refuses a watched image: the test's processes are gone, so its
    # watchers are dead clients; blocklisted, their watches go at once.
    rbdc "$cluster" status --format json "$spec" 2>/dev/null |
        /usr/bin/python3 -c '
import json, sys
try:
    st = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for w in st.get("watchers", []):
    print(w["address"])' 2>/dev/null |
        while read -r addr; do
            cephc "$cluster" osd blocklist add "$addr" 600 >/dev/null 2>&1
        done
    remove_snaps "$cluster" "$spec"
    if ! out=$(rbdc "$cluster" snap purge --no-progress "$spec" 2>&1 &&
        rbdc "$cluster" rm --no-progress "$spec" 2>&1); then
        [ -n "$quiet" ] || echo "# cleanup: could not remove ceph$cluster $spec: $out"
    fi
}

_lib_exit() {
    local rc=$? i
    set +e
    trap - EXIT
    # Newest first: clones go before their parents.
    # All at once, in one process (cleanup_images.py: one `rbd` run after
    # another took 25-35 s in t20), then, newest first, whatever it left
    # (a parent whose clones went after it, a group's snapshot), saying
    # why where one stays.
    local left t0=$SECONDS
    left=$(for ((i = ${#_lib_images[@]} - 1; i >= 0; i--)); do
        echo "${_lib_images[$i]}"
    done | timeout -k 5 120 /usr/bin/python3 \
        "$RBDMOVE_SRC/tests/integration/cleanup_images.py" \
        "$(_lib_conf 1)" "$(_lib_conf 2)" "$RBDMOVE_TEST_OP_TIMEOUT" \
        2>/dev/null) || left=$(printf '%s\n' "${_lib_images[@]}" | tac)
    while read -r i; do
        [ -n "$i" ] || continue
        # shellcheck disable=SC2086 # "cluster spec"
        _lib_remove_image $i
    done <<<"$left"
    # A slow clean-up is a dead client nobody found: say so.
    [ $((SECONDS - t0)) -lt 10 ] ||
        echo "# cleanup: ${#_lib_images[@]} images took $((SECONDS - t0)) s"

    for ((i = ${#_lib_labs_started[@]} - 1; i >= 0; i--)); do
        "$RBDMOVE_SRC/scripts/${_lib_labs_started[$i]}-lab.sh" stop |
            sed 's/^/# /'
    done
    if [ -f "$TEST_TMP/lab-broken" ]; then
        _lib_fail "the Ceph lab cannot take writes: $(tr '\n' ';' <"$TEST_TMP/lab-broken")"
    fi
    if [ -s "$_LIB_HELPER_FAILURES" ]; then
        while IFS= read -r i; do
            _lib_fail "helper: $i"
        done <"$_LIB_HELPER_FAILURES"
    fi
    rm -rf "$TEST_TMP"
    if [ "$rc" = 77 ] && [ "$_lib_failed" = 0 ]; then
        echo "# SKIP $TEST_NAME"
        exit 77
    fi
    if [ "$rc" != 0 ] && [ "$_lib_failed" = 0 ]; then
        _lib_fail "$TEST_NAME stopped with exit status $rc"
    elif [ "$_lib_checks" = 0 ]; then
        _lib_fail "$TEST_NAME ran no checks"
    fi
    echo "1..$_lib_checks"
    echo "$_lib_passed passed, $_lib_failed failed"
    [ "$_lib_failed" = 0 ] && exit 0
    exit 1
}

trap _lib_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# session_of PID: the sshd process (nearest ancestor) serving PID, so that a
# test can drop a connection without killing the command it runs.
session_of() {
    local p=$1
    while [ -n "$p" ] && [ "$p" -gt 1 ]; do
        p=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')
        [ "$(ps -o comm= -p "$p" 2>/dev/null)" = sshd ] && echo "$p" && return
    done
}
# kill_sessions PID...: SIGKILL the sshd session processes of these
# commands, so that their connections drop (not the commands themselves).
kill_sessions() {
    local p sess=""
    for p in "$@"; do
        sess="$sess $(session_of "$p")"
    done
    # shellcheck disable=SC2086
    [ -n "${sess// /}" ] && kill -KILL $sess 2>/dev/null
    echo "$sess"
}

# ---- the OpenStack lab (t50, t52) ----------------------------------------------
# os_lab_init: the environment of a test that drives the OpenStack lab as
# the demo user through clouds.yaml (no OS_* but the file's name), the
# client tool ($TOOL), the regions ($R1, $R2), and the lists of servers and
# volumes to remove at exit (SERVERS, VOLUMES: "REGION ID" each; volumes
# made in subshells go to $TEST_TMP/volumes).
os_lab_init() {
    local v
    export RBM_AUTH_URL=${RBM_AUTH_URL:-$OS_AUTH_URL}
    export RBM_ADMIN_PASSWORD=${OS_PASSWORD:-}
    for v in $(env | grep -o '^OS_[A-Z_]*'); do
        [ "$v" = OS_CLIENT_CONFIG_FILE ] || unset "$v"
    done
    export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$RBDMOVE_LAB/openstack/clouds.yaml}
    TOOL=${RBM_OS_CLIENT:-$(dirname "$(dirname "$RBDMOVE")")/tests/tools/rbm-os-client}
    [ -x "$TOOL" ] || bail "rbm-os-client not found at $TOOL"
    R1=RegionOne
    R2=RegionTwo
    SERVERS=()
    VOLUMES=()
    trap 'rc=$?; os_cleanup; (exit $rc); _lib_exit' EXIT
}
osc() {
    "$TOOL" --os-cloud rbdmove-demo "$@"
}
os_server() {
    /usr/bin/python3 "$_LIB_DIR/os_server.py" "$@"
}
# _os_remove_volume REGION ID: detached first (Cinder does not delete a
# volume in use: a move's destination is attached to its server), its
# snapshots removed (Cinder's RBD driver cannot delete an image that has
# some), then deleted.
_os_remove_volume() {
    local s
    s=$("$TOOL" --os-cloud rbdmove-demo --os-region-name "$1" \
        volume-show "$2" 2>/dev/null | sed -n 's/^attached.0=//p' | cut -d' ' -f1)
    [ -z "$s" ] || "$TOOL" --os-cloud rbdmove-demo --os-region-name "$1" \
        detach "$s" "$2" >/dev/null 2>&1
    remove_snaps "$([ "$1" = "$R2" ] && echo 2 || echo 1)" "volumes/volume-$2"
    "$TOOL" --os-cloud rbdmove-lab --os-region-name "$1" \
        volume-delete "$2" >/dev/null 2>&1
}
os_cleanup() {
    local v s
    if [ -f "$TEST_TMP/volumes" ]; then
        while read -r v; do
            VOLUMES+=("$v")
        done <"$TEST_TMP/volumes"
    fi
    # Four volumes at a time: each mostly waits for Nova's detach. Only
    # these are waited for, not what else the test left in the background.
    local -a pids=()
    for v in "${VOLUMES[@]}"; do
        _os_remove_volume "${v%% *}" "${v#* }" &
        pids+=($!)
        if [ ${#pids[@]} = 4 ]; then
            wait "${pids[@]}"
            pids=()
        fi
    done
    [ ${#pids[@]} = 0 ] || wait "${pids[@]}"
    # The servers all at once: each delete mostly waits for Nova.
    pids=()
    for s in "${SERVERS[@]}"; do
        os_server delete "${s%% *}" "${s#* }" >/dev/null 2>&1 &
        pids+=($!)
    done
    [ ${#pids[@]} = 0 ] || wait "${pids[@]}"
}
# os_servers VAR REGION NAME [VAR REGION NAME...]: servers made at once
# (a creation mostly waits for Nova, and the regions have a Nova each),
# each id in VAR and in SERVERS. Bails if one cannot be made, once the
# others are recorded for removal.
os_servers() {
    local -a vars=() regions=() pids=()
    local i bad=""
    while [ $# -ge 3 ]; do
        vars+=("$1")
        regions+=("$2")
        os_server create "$2" "$3" >"$TEST_TMP/server.${#pids[@]}" \
            2>"$TEST_TMP/server.${#pids[@]}.err" &
        pids+=($!)
        shift 3
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            printf -v "${vars[$i]}" '%s' "$(cat "$TEST_TMP/server.$i")"
            SERVERS+=("${regions[$i]} ${!vars[$i]}")
        else
            bad="$bad ${regions[$i]}: $(tail -n 1 "$TEST_TMP/server.$i.err")"
        fi
    done
    [ -z "$bad" ] || bail "cannot create a server in$bad"
}
# batch_plan_defaults [LINE...]: the "defaults:" section of a batch plan
# for the lab's two regions and clusters, each LINE ("key: value") added.
batch_plan_defaults() {
    local l
    printf 'defaults:\n  os-cloud: rbdmove-demo\n  os-region-name: %s\n' "$R1"
    printf '  dst-os-region-name: %s\n  src-conf: %s\n  dst-conf: %s\n' \
        "$R2" "$CEPH1_CONF" "$CEPH2_CONF"
    for l in "$@"; do
        printf '  %s\n' "$l"
    done
}
# os_volume_quota REGION N: the demo project's volume quota in REGION (-1:
# unlimited), set as admin. Fails the test when the lab's environment has
# no admin password.
os_volume_quota() {
    [ -n "$RBM_ADMIN_PASSWORD" ] || {
        fail "the admin password (OS_PASSWORD) is not in the lab's environment"
        return 1
    }
    /usr/bin/python3 - "$1" "$2" <<'PY'
import json, os, sys, urllib.request
E = os.environ
def call(method, url, token=None, body=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["X-Auth-Token"] = token
    req = urllib.request.Request(url, json.dumps(body).encode() if body else None, h, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers, json.loads(r.read() or b"null")
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"name": "Default"}, "password": E["RBM_ADMIN_PASSWORD"]}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
hdr, tok = call("POST", E["RBM_AUTH_URL"] + "/auth/tokens", body=auth)
t = hdr["X-Subject-Token"]
url = [e["url"] for s in tok["token"]["catalog"] if s["type"] == "volumev3"
       for e in s["endpoints"] if e["region_id"] == sys.argv[1] and e["interface"] == "public"][0]
base = url.rsplit("/", 1)[0] + "/" + E["RBM_OS_ADMIN_PROJECT_ID"]
call("PUT", base + "/os-quota-sets/" + E["RBM_OS_DEMO_PROJECT_ID"], t,
     {"quota_set": {"volumes": int(sys.argv[2])}})
PY
}
# value KEY FILE: KEY=... from rbm-os-client output
value() {
    sed -n "s/^$1=//p" "$2" | head -n 1
}
# volume_field REGION VOLUME KEY: one field of rbm-os-client volume-show
volume_field() {
    "$TOOL" --os-cloud rbdmove-demo --os-region-name "$1" volume-show "$2" \
        >"$TEST_TMP/show" 2>&1
    value "$3" "$TEST_TMP/show"
}
# new_volume NAME DATA [SERVER]: a 1 GiB volume in $R1 attached to SERVER
# (default $src_srv), with DATA of random data written into it; prints its
# id.
new_volume() {
    local out=$TEST_TMP/vol.$BASHPID id
    osc --os-region-name "$R1" volume-create 1 "$1" >"$out" 2>&1 || {
        cat "$out" >&2
        return 1
    }
    id=$(value id "$out")
    # Called as $(new_volume ...): a subshell, so track it in a file.
    echo "$R1 $id" >>"$TEST_TMP/volumes"
    osc --os-region-name "$R1" attach "${3:-$src_srv}" "$id" >"$out" 2>&1 || {
        cat "$out" >&2
        return 1
    }
    if [ "$2" != 0 ]; then
        write_random 1 "volumes/volume-$id" 0 "$2" || return 1
    fi
    echo "$id"
}
# The move's id from its output (one volume, or a group of them)
move_id() {
    sed -n 's/^rbdmove: move \([0-9A-Za-z-]*\)\( (journal\|: [0-9]* volumes of server\).*/\1/p' \
        "$1" | head -n 1
}
# phase_of ID, dst_of ID: from the journal of move ID in $STATE
phase_of() {
    sed -n 's/^phase //p' "$STATE/$1.journal"
}
dst_of() {
    sed -n 's/^dst.volume //p' "$STATE/$1.journal"
}
# wait_phase ID PHASE: until journal ID reaches PHASE (at most 120 s)
wait_phase() {
    for _ in $(seq 1200); do
        [ -f "$STATE/$1.journal" ] && [ "$(phase_of "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
# bg_id LOG: the id of the move running in the background, once its output
# LOG names it (at most 30 s)
bg_id() {
    local id
    for _ in $(seq 300); do
        id=$(move_id "$1")
        [ -n "$id" ] && echo "$id" && return 0
        sleep 0.1
    done
    return 1
}
