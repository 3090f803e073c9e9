# SPDX-License-Identifier: MIT
#
# tests/integration/lib.sh: sourced by every tests/integration/tNN-*.sh.
# Checks print TAP-style lines (`ok N - title`, `not ok N - title` followed by
# the failing command's output) and the script ends with `N passed, N failed`
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
#   unique_name PREFIX                     prints PREFIX-tNN-PID-COUNTER
#
# After each expect_*, $LAST_OUTPUT names a file holding the command's
# stdout and stderr, and $LAST_RC its exit status. $TEST_TMP is a scratch
# directory removed at exit.

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
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rbm-$TEST_NAME.XXXXXX")
LAST_OUTPUT=$TEST_TMP/output.0
LAST_RC=0
: >"$LAST_OUTPUT"

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
    echo "ok $_lib_checks - $1"
}

_lib_fail() {
    _lib_checks=$((_lib_checks + 1))
    _lib_failed=$((_lib_failed + 1))
    echo "not ok $_lib_checks - $1"
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

# A new file per command, so that a check may read the previous output:
# expect_success "..." grep -q x "$LAST_OUTPUT".
_lib_run() {
    local prev=$LAST_OUTPUT
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

# lab_require LAB...: the named labs must be running. Their environment
# files ($RBDMOVE_LAB/<lab>.env, KEY=VALUE lines) are exported.
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

rbdc() {
    local conf
    conf=$(_lib_conf "$1") || return 2
    shift
    rbd -c "$conf" "$@"
}

cephc() {
    local conf
    conf=$(_lib_conf "$1") || return 2
    shift
    ceph -c "$conf" "$@"
}

rbd1() {
    rbd -c "$CEPH1_CONF" "$@"
}

rbd2() {
    rbd -c "$CEPH2_CONF" "$@"
}

ceph1() {
    ceph -c "$CEPH1_CONF" "$@"
}

ceph2() {
    ceph -c "$CEPH2_CONF" "$@"
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
        return 1
    fi
}

# _lib_rbd_io MODE CLUSTER POOL/IMAGE OFFSET LEN: write through librbd (the
# rbd CLI cannot write at an offset, and there is no kernel rbd here).
_lib_rbd_io() {
    local conf
    conf=$(_lib_conf "$2") || return 2
    /usr/bin/python3 - "$1" "$conf" "$3" "$4" "$5" <<'PY'
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
pool, _, name = spec.rpartition("/")
with rados.Rados(conffile=conf) as cluster:
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

image_checksum() {
    local sum rc
    sum=$(rbdc "$1" export --no-progress "$2" - | sha256sum)
    rc=${PIPESTATUS[0]}
    if [ "$rc" != 0 ]; then
        echo "# image_checksum $1 $2: rbd export failed ($rc)" >&2
        return 1
    fi
    echo "${sum%% *}"
}

snap_exists() {
    local image=${2%@*} snap=${2##*@}
    rbdc "$1" snap ls --format json "$image" 2>/dev/null |
        /usr/bin/python3 -c 'import json, sys
sys.exit(0 if any(s["name"] == sys.argv[1] for s in json.load(sys.stdin))
         else 1)' "$snap"
}

# ---- exit ------------------------------------------------------------------

_lib_remove_image() {
    local cluster=$1 spec=$2 snap out
    rbdc "$cluster" info "$spec" >/dev/null 2>&1 || return 0
    for snap in $(rbdc "$cluster" snap ls --format json "$spec" 2>/dev/null |
        /usr/bin/python3 -c 'import json, sys
for s in json.load(sys.stdin):
    print(s["name"])'); do
        rbdc "$cluster" snap unprotect "$spec@$snap" >/dev/null 2>&1
    done
    if ! out=$(rbdc "$cluster" snap purge --no-progress "$spec" 2>&1 &&
        rbdc "$cluster" rm --no-progress "$spec" 2>&1); then
        echo "# cleanup: could not remove ceph$cluster $spec: $out"
    fi
}

_lib_exit() {
    local rc=$? i
    set +e
    trap - EXIT
    # Newest first: clones go before their parents.
    for ((i = ${#_lib_images[@]} - 1; i >= 0; i--)); do
        # shellcheck disable=SC2086 # "cluster spec"
        _lib_remove_image ${_lib_images[$i]}
    done
    for ((i = ${#_lib_labs_started[@]} - 1; i >= 0; i--)); do
        "$RBDMOVE_SRC/scripts/${_lib_labs_started[$i]}-lab.sh" stop |
            sed 's/^/# /'
    done
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
