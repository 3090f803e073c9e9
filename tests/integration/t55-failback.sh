#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 900
#
# t55-failback: the way home after a failover. A volume attached to a
# server in RegionOne is synced twice into RegionTwo and its copy failed
# over (at the newest point, which the copy's head still holds: no
# rollback). The workload writes 64 MiB on the DR side, the original is
# detached in RegionOne and then written to as well (split-brain):
# failback refuses, saying how much changed on each side, and changes
# nothing. With --discard-primary-changes, through a receiver over SSH
# (which rolls the original back), it goes, is killed with -9 before its
# first round and aborted (the copy is the workload's again).
# The next run, without the option, finds the rolled-back original no
# split-brain, passes its pre-flight with the primary's volume quota used
# up (a failback makes no volume there), is killed and resumed, copies
# only the delta (at most 1.1 x 64 MiB, counted from --json), then cuts
# over to the original's server. Contents compared with rbd export |
# sha256sum. Then sync goes on in the original direction without a new
# seed; and a failback of a copy that is not failed over is refused.
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack

os_lab_init
STATE=$TEST_TMP/state

os_servers src_srv $R1 "$(unique_name t55-src)" \
    dr_srv $R2 "$(unique_name t55-dr)"

sync() {
    rbdmove sync --os-cloud rbdmove-demo --os-region-name $R1 \
        --dst-os-region-name $R2 --src-conf "$CEPH1_CONF" \
        --dst-conf "$CEPH2_CONF" --progress never --json --keep 3 "$@"
}
failover() {
    timeout 300 "$RBDMOVE" failover --os-cloud rbdmove-demo \
        --os-region-name $R2 --dst-conf "$CEPH2_CONF" --json "$@"
}
# The command line of a failback, without its COPY
FB=(failback --os-cloud rbdmove-demo --os-region-name $R2
    --dst-os-region-name $R1 --src-conf "$CEPH2_CONF"
    --dst-conf "$CEPH1_CONF" --state-dir "$STATE" --progress never --json)
failback() {
    rbdmove "${FB[@]}" "$@"
}
# data_bytes LOG...: the data bytes of every seed and round in the --json
# events of LOG...
data_bytes() {
    cat "$@" | /usr/bin/python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") in ("seed", "round") and "data_bytes" in e:
        n += e["data_bytes"]
print(n)'
}

vol=$(new_volume "$(unique_name t55)" 256M) || bail "cannot make a volume"
expect_success "first sync" sync "$vol"
copy=$(json_event "$LAST_OUTPUT" done dst_volume_id)
[ -n "$copy" ] || bail "no copy volume: $(tail -3 "$LAST_OUTPUT")"
VOLUMES+=("$R2 $copy")
expect_equal "the sync recorded the original's server" "$src_srv" \
    "$(volume_field $R2 "$copy" meta.rbdmove.sync_server)"
write_random 1 "volumes/volume-$vol" 300M 8M
expect_success "second sync" sync "$vol"
point=$(base_of 1 "volumes/volume-$vol")
sum_point=$(image_checksum 1 "volumes/volume-$vol@$point")

expect_failure "a copy that is not failed over cannot fail back" failback \
    "$copy"
grep -q "is not failed over" "$LAST_OUTPUT" && pass "... saying so" ||
    fail "no reason given: $(tail -2 "$LAST_OUTPUT")"

expect_success "failover to the newest point" failover --dst-server "$dr_srv" \
    "$copy"
grep -q "holds recovery point $point .* already" "$LAST_OUTPUT" &&
    pass "... which the copy's head held: no rollback" ||
    fail "$(grep -i roll "$LAST_OUTPUT" | head -2)"

# The workload on the DR side writes 64 MiB; the original is let go in
# RegionOne, and something writes to it there too.
write_random 2 "volumes/volume-$copy" 512M 64M
expect_success "the original is detached in $R1" osc --os-region-name $R1 \
    detach "$src_srv" "$vol"
write_random 1 "volumes/volume-$vol" 900M 4M
sum_orig=$(image_checksum 1 "volumes/volume-$vol")

expect_failure "split-brain is refused" failback "$copy"
grep -q "split-brain: the original volume $vol was written after the common point $point (4.0 MiB" \
    "$LAST_OUTPUT" && pass "... naming the original's writes" ||
    fail "$(grep -i split "$LAST_OUTPUT" | head -2)"
grep -q "and copy $copy since (64.0 MiB)" "$LAST_OUTPUT" &&
    pass "... and the copy's" || fail "no amount for the copy"
grep -q "Nothing was changed" "$LAST_OUTPUT" &&
    pass "... and that nothing was changed" || fail "$(tail -2 "$LAST_OUTPUT")"
expect_equal "the original is as it was" "$sum_orig" \
    "$(image_checksum 1 "volumes/volume-$vol")"
rbdc 1 image-meta get "volumes/volume-$vol" rbdmove.base >/dev/null 2>&1 &&
    fail "the original was marked" || pass "... and unmarked"
expect_equal "the copy is still failed over, in use" "failed-over in-use" \
    "$(volume_field $R2 "$copy" meta.rbdmove.state) $(volume_field $R2 "$copy" status)"

# held_failback LOG ARGS...: a failback in the background that holds 60 s
# once its rounds are about to start, killed with -9 there. Sets mid.
held_failback() {
    local log=$1 fpid
    shift
    RBDMOVE_TEST_HOLD=seeded:60 "$RBDMOVE" "${FB[@]}" "$@" "$copy" >"$log" 2>&1 &
    fpid=$!
    mid=$(bg_id "$log")
    for _ in $(seq 600); do
        grep -q "holding at seeded" "$STATE/$mid.log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "holding at seeded" "$STATE/$mid.log" &&
        pass "the failback got to its rounds" || fail "$(cat "$log")"
    kill -9 "$fpid"
    wait "$fpid" 2>/dev/null
}

# --discard-primary-changes through a receiver over SSH (the rollback is
# the receiver's), killed with -9 before its first round, then aborted:
# the copy is the workload's again.
held_failback "$TEST_TMP/fb0" --discard-primary-changes --ssh "$SSH_TARGET" \
    -i "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" --remote-rbdmove "$RBDMOVE"
grep -q "discarding what the original took after $point (4.0 MiB" \
    "$TEST_TMP/fb0" && pass "the original's writes were discarded" ||
    fail "$(grep -i discard "$TEST_TMP/fb0")"
expect_success "abort" rbdmove abort --state-dir "$STATE" --progress never "$mid"
expect_equal "the copy is failed over and in use again" "failed-over in-use $dr_srv" \
    "$(volume_field $R2 "$copy" meta.rbdmove.state) $(volume_field $R2 "$copy" status) $(volume_field $R2 "$copy" attached.0 | cut -d' ' -f1)"
expect_equal "the original holds the point (rolled back)" "$sum_point" \
    "$(image_checksum 1 "volumes/volume-$vol")"
rbdmove_log=$(cat "$LAST_OUTPUT")
[[ $rbdmove_log == *"is unmarked again"* ]] && pass "... and is unmarked" ||
    fail "$(tail -3 "$LAST_OUTPUT")"

# Again without --discard-primary-changes: the rollback left the
# original's object map marking everything, but its data is the point's,
# which is no split-brain. Killed -9 before its first round, resumed. The
# primary region's volume quota is used up meanwhile: a failback makes no
# new volume there, so its pre-flight must not refuse for want of one.
os_volume_quota $R1 0
held_failback "$TEST_TMP/fb1"
os_volume_quota $R1 40 # the lab's default
grep -q "hold the point's data" "$TEST_TMP/fb1" &&
    pass "the rolled-back original is no split-brain" ||
    fail "$(grep -i -e split -e common "$TEST_TMP/fb1")"
expect_equal "the copy is failing back" "failing-back" \
    "$(volume_field $R2 "$copy" meta.rbdmove.state)"
expect_failure "a sync meanwhile is refused" sync "$vol"
grep -q "source of a failback under way" "$LAST_OUTPUT" && pass "... saying so" ||
    fail "$(tail -2 "$LAST_OUTPUT")"
expect_failure "a failover meanwhile is refused" failover --dst-server "$dr_srv" \
    "$copy"
grep -q "source of a failback under way" "$LAST_OUTPUT" && pass "... saying so" ||
    fail "$(tail -2 "$LAST_OUTPUT")"
sum_copy=$(image_checksum 2 "volumes/volume-$copy")
expect_success "resume finishes the failback" rbdmove resume --state-dir "$STATE" \
    --progress never --json "$mid"
cp "$LAST_OUTPUT" "$TEST_TMP/fb2"
expect_equal "the original holds what the copy held" "$sum_copy" \
    "$(image_checksum 1 "volumes/volume-$vol")"
expect_equal "... and so does the copy" "$sum_copy" \
    "$(image_checksum 2 "volumes/volume-$copy")"
bytes=$(data_bytes "$TEST_TMP/fb0" "$TEST_TMP/fb1" "$TEST_TMP/fb2")
[ "$bytes" -gt 0 ] && [ "$bytes" -le $((64 * 1024 * 1024 * 11 / 10)) ] &&
    pass "only the delta travelled: $bytes bytes for 64 MiB written" ||
    fail "$bytes bytes travelled for 64 MiB written"
expect_equal "the original is attached to its server again" "in-use $src_srv" \
    "$(volume_field $R1 "$vol" status) $(volume_field $R1 "$vol" attached.0 | cut -d' ' -f1)"
expect_equal "the copy is detached and a synced copy again" "available synced" \
    "$(volume_field $R2 "$copy" status) $(volume_field $R2 "$copy" meta.rbdmove.state)"
expect_equal "its failover keys are gone" "" \
    "$(volume_field $R2 "$copy" meta.rbdmove.failover_point)"
expect_equal "the move is done" done "$(phase_of "$mid")"
base=$(base_of 1 "volumes/volume-$vol")
expect_equal "both keep the last base, the original only that" \
    "$base yes" \
    "$base $(snap_exists 2 "volumes/volume-$copy@$base" && echo yes)"
rbdc 1 image-meta get "volumes/volume-$vol" rbdmove.base >/dev/null 2>&1 &&
    fail "the original still has a copy's mark" || pass "the original is a source again"

# The server writes on; sync goes on into the same copy, no seed.
write_random 1 "volumes/volume-$vol" 100M 16M
expect_success "sync in the original direction" sync "$vol"
expect_equal "... into the same copy" "$copy" \
    "$(json_event "$LAST_OUTPUT" done dst_volume_id)"
grep -q '"event":"seed"' "$LAST_OUTPUT" && fail "the sync seeded again" ||
    pass "... without a seed"
bytes=$(data_bytes "$LAST_OUTPUT")
[ "$bytes" -le $((16 * 1024 * 1024 * 11 / 10)) ] &&
    pass "... moving $bytes bytes for 16 MiB written" ||
    fail "the sync moved $bytes bytes for 16 MiB written"
nb=$(base_of 1 "volumes/volume-$vol")
expect_equal "the copy equals the original at the new base" \
    "$(image_checksum 1 "volumes/volume-$vol@$nb")" \
    "$(image_checksum 2 "volumes/volume-$copy")"

# The volumes go with the servers: detach them for the clean-up.
os_server delete $R1 "$src_srv" >/dev/null 2>&1 &
del_pid=$!
os_server delete $R2 "$dr_srv" >/dev/null 2>&1
wait $del_pid
SERVERS=()
