#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 300
#
# t01-lab-health: a lab cluster that cannot take writes stops a suite at
# once with the cluster's own message, instead of letting every check wait
# on it. ceph2's OSD is made full on purpose (its full ratio set to 1%, the
# runtime form of mon_osd_full_ratio; the OSD already uses more), then:
# scripts/ceph-lab.sh check names the problem, a suite that starts (t00)
# fails in lab_require, and a suite that meets the full cluster halfway (a
# write through a helper) stops before its next check. The ratios are put
# back and the cluster must be healthy again before this test ends.
. "$(dirname "$0")/lib.sh"

lab_require ceph

CHECK=$RBDMOVE_SRC/scripts/ceph-lab.sh
# The ratios as they were, to put them back whatever happens.
dump=$(ceph2 osd dump -f json) || bail "cannot read ceph2's OSD map"
full=$(json_get full_ratio <<<"$dump")
backfill=$(json_get backfillfull_ratio <<<"$dump")
near=$(json_get nearfull_ratio <<<"$dump")
[ -n "$full" ] && [ -n "$backfill" ] && [ -n "$near" ] ||
    bail "cannot read ceph2's full ratios"
restore() {
    ceph2 osd set-nearfull-ratio "$near" >/dev/null 2>&1
    ceph2 osd set-backfillfull-ratio "$backfill" >/dev/null 2>&1
    ceph2 osd set-full-ratio "$full" >/dev/null 2>&1
}
trap 'rc=$?; restore; (exit $rc); _lib_exit' EXIT

# wait_check WANT [PATTERN]: until `ceph-lab.sh check 2` exits WANT (0 or
# 1) and says PATTERN, at most 60 s; the OSD reports its state every few
# seconds.
wait_check() {
    for _ in $(seq 120); do
        "$CHECK" check 2 >"$TEST_TMP/check" 2>&1
        if [ "$?" = "$1" ]; then
            [ -z "${2:-}" ] || grep -q -- "$2" "$TEST_TMP/check" && return 0
        fi
        sleep 0.5
    done
    cat "$TEST_TMP/check"
    return 1
}

expect_success "ceph-lab.sh check passes on the healthy lab" "$CHECK" check

# In order (nearfull <= backfillfull <= full), or the monitor complains of
# that instead.
ceph2 osd set-nearfull-ratio 0.008 >/dev/null 2>&1
ceph2 osd set-backfillfull-ratio 0.009 >/dev/null 2>&1
expect_success "ceph2's full ratio set to 1%" ceph2 osd set-full-ratio 0.01
expect_success "ceph-lab.sh check sees ceph2 full, in the cluster's words" \
    wait_check 1 "ceph2: OSD_FULL: 1 full osd(s)"
expect_success "... and not ceph1" "$CHECK" check 1

# A suite that starts now: t00 needs both clusters.
expect_exit 1 "a suite started on the full lab fails (60 s watchdog)" \
    env CI=true timeout 60 bash "$RBDMOVE_SRC/tests/integration/t00-lab-sanity.sh"
expect_success "... in lab_require, with the cluster's message" \
    grep -q "lab_require ceph: the Ceph lab cannot take writes: .*1 full osd(s)" \
    "$LAST_OUTPUT"
expect_success "... and ran no other check" \
    test "$(grep -c '^ok ' "$LAST_OUTPUT")" = 0

# A suite that meets the full cluster halfway: its lab_require passed, then
# a write through a helper fails (short Ceph timeout here) and the suite
# stops before its next check.
cat >"$TEST_TMP/halfway.sh" <<'EOF'
. "$RBDMOVE_SRC/tests/integration/lib.sh"
pass "lab_require passed before the cluster filled"
img=volumes/$(unique_name halfway)
make_image 2 "$img" 4M
expect_success "a check after the failed write" true
pass "never reached"
EOF
expect_exit 1 "a suite that meets the full lab halfway stops (60 s watchdog)" \
    env CI=true RBDMOVE_TEST_OP_TIMEOUT=5 \
    timeout 60 bash "$TEST_TMP/halfway.sh"
expect_success "... at the check after the failed write, saying why" \
    grep -q "not ok 2 - the Ceph lab cannot take writes; stopping .*1 full osd(s)" \
    "$LAST_OUTPUT"
expect_failure "... and went no further" grep -q "never reached" "$LAST_OUTPUT"

restore
expect_success "the ratios put back, ceph2 can take writes again" wait_check 0
expect_success "... and takes them" make_image 2 "volumes/$(unique_name after)" 4M
