#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 600
#
# t54-failover: rbdmove failover with the primary region gone. Two volumes
# are synced three times each with --keep 3 (their points interleaved in
# time), and a fourth sync of one is killed in the middle of its round.
# Then RegionOne's Cinder, Nova and Placement APIs and its Ceph cluster are
# frozen (SIGSTOP: they take connections and never answer, as a region
# cut off would), and the copies are failed over to a server in
# RegionTwo at the second point: checked before anything changes (bad
# points, a copy that is not one), killed after a rollback and after the
# attach request, stopped by SIGINT (exit status 3), run again to the
# end, and once more (nothing to do).
# Every copy's content is compared with the source's at that point; the
# DR side's writes survive a rerun. With the primary back, a sync into a
# failed-over copy is refused. (Keystone is one service for both regions
# in the lab, so it stays up.)
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack

os_lab_init

OSD=$RBDMOVE_LAB/openstack
frozen=()
# freeze_primary / thaw_primary: SIGSTOP and SIGCONT RegionOne's API
# services (each its own process group) and ceph1's daemons: all a client
# of the region can reach. (Its schedulers and conductors stay up: frozen,
# they slow the whole lab down, RegionTwo's API answers included, through
# what the lab's services share.)
freeze_primary() {
    local f pid
    for f in "$OSD"/run/{cinder-api,nova-api,placement}-r1.pid; do
        pid=$(cat "$f") && kill -STOP -- "-$pid" 2>/dev/null && frozen+=("-$pid")
    done
    for f in "$RBDMOVE_LAB"/ceph1/run/*.pid; do
        pid=$(cat "$f") && kill -STOP "$pid" 2>/dev/null && frozen+=("$pid")
    done
}
thaw_primary() {
    local p was=${#frozen[@]}
    for p in "${frozen[@]}"; do
        kill -CONT -- "$p" 2>/dev/null
    done
    frozen=()
    # The lab's own repair of the fault it caused (lib.sh, ceph_unlag).
    [ "$was" = 0 ] || ceph_unlag 1 || echo "# ceph1 not healthy after the thaw"
}
trap 'rc=$?; thaw_primary; os_cleanup; (exit $rc); _lib_exit' EXIT

sync() {
    rbdmove sync --os-cloud rbdmove-demo --os-region-name $R1 \
        --dst-os-region-name $R2 --src-conf "$CEPH1_CONF" \
        --dst-conf "$CEPH2_CONF" --progress never --json --keep 3 "$@"
}
failover() {
    timeout 300 "$RBDMOVE" failover --os-cloud rbdmove-demo \
        --os-region-name $R2 --dst-conf "$CEPH2_CONF" --api-timeout 20 \
        --json "$@"
}
# held_failover POINT LOG ARGS...: a failover in the background that holds
# 60 s at POINT; killed with -9 once it says it got there. Sets fpid.
held_failover() {
    local point=$1 log=$2
    shift 2
    # Not through failover(): kill -9 must reach rbdmove, not timeout(1).
    RBDMOVE_TEST_HOLD=$point:60 "$RBDMOVE" failover --os-cloud rbdmove-demo \
        --os-region-name $R2 --dst-conf "$CEPH2_CONF" --json "$@" >"$log" 2>&1 &
    fpid=$!
}
# fields COPY KEY...: those fields of the copy in Cinder, on one line (one
# request for them all)
fields() {
    local copy=$1 k out=()
    shift
    osc --os-region-name $R2 volume-show "$copy" >"$TEST_TMP/show" 2>&1
    for k in "$@"; do
        out+=("$(value "$k" "$TEST_TMP/show")")
    done
    echo "${out[*]}"
}

dr_srv=$(os_server create $R2 "$(unique_name t54-dr)") || bail "no server"
SERVERS+=("$R2 $dr_srv")

declare -A src sum copy snap
for v in a b; do
    osc --os-region-name $R1 volume-create 1 "$(unique_name t54-$v)" \
        >"$TEST_TMP/v" 2>&1 || bail "cannot create a volume"
    src[$v]=$(value id "$TEST_TMP/v")
    VOLUMES+=("$R1 ${src[$v]}")
    write_random 1 "volumes/volume-${src[$v]}" 0 16M
done
# Three points each, a's before b's: a1 b1 a2 b2 a3 b3.
for n in 1 2 3; do
    for v in a b; do
        write_random 1 "volumes/volume-${src[$v]}" $((n * 100))M 4M
        expect_success "sync $n of $v" sync "${src[$v]}"
        copy[$v]=$(json_event "$LAST_OUTPUT" done dst_volume_id)
        b=$(base_of 1 "volumes/volume-${src[$v]}")
        sum[$v$n]=$(image_checksum 1 "volumes/volume-${src[$v]}@$b")
        snap[$v$n]=$b
    done
done
VOLUMES+=("$R2 ${copy[a]}" "$R2 ${copy[b]}")
expect_success "points of b" rbdmove points --os-cloud rbdmove-demo \
    --os-region-name $R2 --json "${copy[b]}"
t_b2=$(grep "\"snap\":\"${snap[b2]}\"" "$LAST_OUTPUT" | json_get time)
[ -n "$t_b2" ] && pass "b's second point was synced at $t_b2" ||
    fail "no time for b's second point"

# A fourth sync of a, killed in its round: the copy's head holds part of
# a round that has no point.
write_random 1 "volumes/volume-${src[a]}" 500M 32M
"$RBDMOVE" sync --os-cloud rbdmove-demo --os-region-name $R1 \
    --dst-os-region-name $R2 --src-conf "$CEPH1_CONF" \
    --dst-conf "$CEPH2_CONF" --progress never --keep 3 --bwlimit 8M \
    "${src[a]}" >"$TEST_TMP/killed.log" 2>&1 &
spid=$!
for _ in $(seq 400); do
    rbdc 2 image-meta get "volumes/volume-${copy[a]}" rbdmove.pending \
        >/dev/null 2>&1 && break
    sleep 0.05
done
# Killed once the round has written something into the copy's head (a
# condition, not a delay: a busy machine starts the writes later).
for _ in $(seq 200); do
    d=$(rbdc 2 diff --from-snap "${snap[a3]}" --format json \
        "volumes/volume-${copy[a]}" 2>/dev/null)
    [ -n "$d" ] && [ "$d" != "[]" ] && break
    sleep 0.1
done
kill -9 "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
head_a=$(image_checksum 2 "volumes/volume-${copy[a]}")
[ "$head_a" != "${sum[a3]}" ] && pass "the copy's head is past its newest point" ||
    fail "the killed round changed nothing in the copy's head"

# Refusals change nothing (before the freeze: they need no region but the
# DR one either).
expect_failure "a time before every point is refused" failover \
    --dst-server "$dr_srv" --point 2000-01-01T00:00:00Z "${copy[a]}" "${copy[b]}"
grep -q "no recovery point at or before" "$LAST_OUTPUT" &&
    pass "... saying so" || fail "no reason given"
expect_failure "a volume that is not a copy is refused" failover \
    --dst-server "$dr_srv" "${copy[a]}" "$dr_srv"
expect_failure "an unknown server is refused" failover \
    --dst-server "no-such-server-$RANDOM" "${copy[a]}"
expect_equal "nothing was changed" "synced available synced available" \
    "$(fields "${copy[a]}" meta.rbdmove.state status) $(fields "${copy[b]}" meta.rbdmove.state status)"

# ---- the primary region is gone ------------------------------------------------
freeze_primary
[ "${#frozen[@]}" = 6 ] && pass "RegionOne's APIs and ceph1 frozen (6 process groups)" ||
    fail "froze ${#frozen[@]} process groups, not 6"

# kill -9 once a is rolled back, then once it is being attached.
# kill_held LOG POINT: kill -9 the held failover once LOG says it holds at
# POINT.
kill_held() {
    for _ in $(seq 600); do
        grep -q "holding at $2" "$1" && break
        sleep 0.1
    done
    grep -q "holding at $2" "$1" && pass "the failover got to $2" ||
        fail "the failover never got to $2: $(cat "$1")"
    kill -9 "$fpid" 2>/dev/null
    wait "$fpid" 2>/dev/null
}
held_failover failover-rolled-back "$TEST_TMP/f1" --dst-server "$dr_srv" \
    --point "$t_b2" "${copy[a]}" "${copy[b]}"
kill_held "$TEST_TMP/f1" failover-rolled-back
expect_equal "killed after the rollback of a" "failing-over available" \
    "$(fields "${copy[a]}" meta.rbdmove.state status)"
expect_equal "a holds its second point" "${sum[a2]}" \
    "$(image_checksum 2 "volumes/volume-${copy[a]}")"
# SIGINT while it holds after a rollback: exit status 3 at once, and the
# copy is left for a rerun.
held_failover failover-rolled-back "$TEST_TMP/fint" --dst-server "$dr_srv" \
    --point "$t_b2" "${copy[a]}" "${copy[b]}"
for _ in $(seq 600); do
    grep -q "holding at failover-rolled-back" "$TEST_TMP/fint" && break
    sleep 0.1
done
t0=$SECONDS
kill -INT "$fpid"
wait "$fpid"
rc=$?
expect_equal "SIGINT after a rollback: exit status 3" 3 "$rc"
# A watchdog, not a measure: the hold would last 60 s.
[ $((SECONDS - t0)) -le 5 ] && pass "... at once, not after the 60 s hold" ||
    fail "it took $((SECONDS - t0)) s to stop"
grep -q "run the failover again" "$TEST_TMP/fint" && pass "... saying what to do" ||
    fail "$(tail -3 "$TEST_TMP/fint")"
held_failover failover-attach-requested "$TEST_TMP/f2" --dst-server "$dr_srv" \
    --point "$t_b2" "${copy[a]}" "${copy[b]}"
kill_held "$TEST_TMP/f2" failover-attach-requested
# (The first run's rollback left a's head at the point: no second one.)
grep -q -e "rolling copy ${copy[a]} back to recovery point ${snap[a2]}" \
    -e "copy ${copy[a]} holds recovery point ${snap[a2]} " "$TEST_TMP/f2" &&
    pass "the rerun kept a at the same point" || fail "$(cat "$TEST_TMP/f2")"
expect_failure "a rerun with another point named is refused" failover \
    --dst-server "$dr_srv" --point "${snap[a3]}" "${copy[a]}" "${copy[b]}"
grep -q "was failed over (or is being) to point ${snap[a2]}" "$LAST_OUTPUT" &&
    pass "... naming the point it started with" || fail "no reason given"
expect_success "the failover run again finishes" failover \
    --dst-server "$dr_srv" --point "$t_b2" "${copy[a]}" "${copy[b]}"
cp "$LAST_OUTPUT" "$TEST_TMP/f3"
for v in a b; do
    expect_equal "$v failed over to its second point" "${snap[${v}2]}" \
        "$(grep "\"copy\":\"${copy[$v]}\"" "$TEST_TMP/f3" | json_get point)"
    expect_equal "$v is attached to the DR server and marked" \
        "in-use failed-over ${snap[${v}2]}" \
        "$(fields "${copy[$v]}" status meta.rbdmove.state meta.rbdmove.failover_point)"
    expect_equal "$v holds the source as it was at that point" "${sum[${v}2]}" \
        "$(image_checksum 2 "volumes/volume-${copy[$v]}")"
done
expect_equal "a was not rolled back again (it was attached)" False \
    "$(grep "\"copy\":\"${copy[a]}\"" "$TEST_TMP/f3" | json_get rolled_back)"
expect_equal "b was rolled back" True \
    "$(grep "\"copy\":\"${copy[b]}\"" "$TEST_TMP/f3" | json_get rolled_back)"

expect_success "points of a failed-over copy" rbdmove points \
    --os-cloud rbdmove-demo --os-region-name $R2 "${copy[a]}"
grep -q "^failed over to point ${snap[a2]}" "$LAST_OUTPUT" &&
    pass "... says it was failed over, and to which point" ||
    fail "points: $(cat "$LAST_OUTPUT")"

# The DR side writes; a rerun changes nothing.
write_random 2 "volumes/volume-${copy[b]}" 700M 2M
dr_sum=$(image_checksum 2 "volumes/volume-${copy[b]}")
expect_success "the failover run once more" failover \
    --dst-server "$dr_srv" "${copy[a]}" "${copy[b]}"
grep -q "failed over to server $dr_srv already" "$LAST_OUTPUT" &&
    pass "... says it was done already" || fail "no 'already'"
expect_equal "the DR side's writes are kept" "$dr_sum" \
    "$(image_checksum 2 "volumes/volume-${copy[b]}")"

# ---- the primary is back ---------------------------------------------------------
thaw_primary
expect_exit 1 "a sync into a failed-over copy is refused" sync "${src[b]}"
grep -q "was failed over" "$LAST_OUTPUT" && pass "... saying why" ||
    fail "no reason given"
expect_equal "the copy is untouched" "$dr_sum" \
    "$(image_checksum 2 "volumes/volume-${copy[b]}")"

# release of a failed-over copy (it becomes an ordinary volume), killed
# after its first snapshot went; run again, it finishes.
before=$(rbdmove_snaps 2 "volumes/volume-${copy[a]}")
RBDMOVE_TEST_HOLD=release-snap-removed:60 "$RBDMOVE" release \
    --os-cloud rbdmove-demo --os-region-name $R2 --conf "$CEPH2_CONF" \
    "${copy[a]}" >"$TEST_TMP/r1" 2>&1 &
rpid=$!
for _ in $(seq 600); do
    [ "$(rbdmove_snaps 2 "volumes/volume-${copy[a]}")" -lt "$before" ] && break
    sleep 0.1
done
kill -9 "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
expect_equal "release killed after one of its $before snapshots" \
    $((before - 1)) "$(rbdmove_snaps 2 "volumes/volume-${copy[a]}")"
expect_success "release run again" rbdmove release --os-cloud rbdmove-demo \
    --os-region-name $R2 --conf "$CEPH2_CONF" --json "${copy[a]}"
expect_equal "... removes the rest" $((before - 1)) \
    "$(json_event "$LAST_OUTPUT" released snapshots)"
expect_equal "no rbdmove snapshot left" 0 "$(rbdmove_snaps 2 "volumes/volume-${copy[a]}")"
osc --os-region-name $R2 volume-show "${copy[a]}" >"$TEST_TMP/show" 2>&1
grep -q '^meta\.rbdmove\.' "$TEST_TMP/show" &&
    fail "rbdmove metadata left: $(grep '^meta\.rbdmove\.' "$TEST_TMP/show" | tr '\n' ' ')" ||
    pass "no rbdmove metadata left"
expect_equal "its data is the workload's still" "${sum[a2]}" \
    "$(image_checksum 2 "volumes/volume-${copy[a]}")"

# The copies go with the server: detach them for the clean-up.
os_server delete $R2 "$dr_srv" >/dev/null 2>&1
SERVERS=()
