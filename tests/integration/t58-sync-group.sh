#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 900
#
# t58-sync-group: `rbdmove sync --server`, crash-consistent recovery points
# of a server's two data volumes. A writer puts counter n into volume a,
# then into volume b, without pause; every point on the DR side must show
# a holding n and b n or n-1 (the two images snapshotted at one instant,
# not one after the other, which the test shows failing on the sources'
# own snapshots). Synced under the writer, over SSH, killed -9 in the
# middle of a round and run again, refused for an image in another RBD
# group; a client of an image is asked to quiesce, and one that refuses
# fails the run, leaving nothing. The copies then fail over together to
# the one point both hold (failover without the primary is t54's); one
# fails back from a group's point (the moment between the original's own
# snapshot and the group's copied too); release removes the group a
# killed run left. Every copy compared by content.
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack

os_lab_init
trap 'rc=$?; [ -z "${wpid:-}" ] || kill "$wpid" 2>/dev/null; [ -z "${ppid_:-}" ] || kill "$ppid_" 2>/dev/null; cleanup_groups; os_cleanup; (exit $rc); _lib_exit' EXIT

WRITER=$(dirname "$0")/group_writer.py
# cleanup_groups: rbdmove's RBD groups that a failed run left on ceph1
cleanup_groups() {
    local g
    for g in $(rbdc 1 group ls volumes 2>/dev/null | grep '^rbdmove-'); do
        rbdc 1 group rm "volumes/$g" >/dev/null 2>&1
    done
}
sync() {
    rbdmove sync --os-cloud rbdmove-demo --os-region-name $R1 \
        --dst-os-region-name $R2 --src-conf "$CEPH1_CONF" \
        --dst-conf "$CEPH2_CONF" --progress never --json --keep 3 "$@"
}
# consistent SPEC_A SPEC_B: the writer's rule holds on ceph2 at those specs
consistent() {
    local out
    out=$(/usr/bin/python3 "$WRITER" check "$CEPH2_CONF" "$1" "$2" 2>&1)
    echo "$out"
    [ "${out%% *}" = consistent ]
}
# groups_left: rbdmove's RBD groups on ceph1
groups_left() {
    rbdc 1 group ls volumes 2>/dev/null | grep -c '^rbdmove-'
}

os_servers src_srv $R1 "$(unique_name t58-src)" \
    dr_srv $R2 "$(unique_name t58-dr)"
a=$(new_volume "$(unique_name t58-a)" 16M) || bail "no volume a"
b=$(new_volume "$(unique_name t58-b)" 16M) || bail "no volume b"

/usr/bin/python3 "$WRITER" write "$CEPH1_CONF" "volumes/volume-$a" \
    "volumes/volume-$b" 600 >"$TEST_TMP/writer.log" 2>&1 &
wpid=$!
wait_watched 1 "volumes/volume-$b" || bail "the writer did not start"

declare -A copy
for n in 1 2; do
    expect_success "sync --server $n, under the writer" sync --server "$src_srv"
    grep -c '"event":"done"' "$LAST_OUTPUT" | grep -qx 2 &&
        pass "sync $n: two copies done" || fail "sync $n: not two done events"
    for v in a b; do
        copy[$v]=$(grep '"event":"done"' "$LAST_OUTPUT" |
            grep -n . | sed -n "$([ $v = a ] && echo 1 || echo 2)p" |
            cut -d: -f2- | json_get dst_volume_id)
    done
    pa=$(base_of 2 "volumes/volume-${copy[a]}")
    pb=$(base_of 2 "volumes/volume-${copy[b]}")
    [ -n "$pa" ] && [ "${pa##* }" = "${pb##* }" ] &&
        pass "sync $n: both copies hold point ${pa##* }" ||
        fail "sync $n: the copies' points differ ($pa / $pb)"
    p=${pa##* }
    out=$(consistent "volumes/volume-${copy[a]}@$p" "volumes/volume-${copy[b]}@$p") &&
        pass "sync $n: point $p is crash-consistent ($out)" ||
        fail "sync $n: point $p is not crash-consistent ($out)"
    # What the test would see if the images were snapshotted one after
    # the other: their own snapshots of the point (not asserted).
    echo "# sync $n, the sources' own snapshots, taken one after the other: $(
        /usr/bin/python3 "$WRITER" check "$CEPH1_CONF" "volumes/volume-$a@$p" \
            "volumes/volume-$b@$p" 2>&1)"
    [ "$(groups_left)" = 0 ] && pass "sync $n: no RBD group left on the source" ||
        fail "sync $n: an RBD group is left on the source"
done
[ -n "${copy[a]}" ] && VOLUMES+=("$R2 ${copy[a]}" "$R2 ${copy[b]}")
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
wpid=

# Nothing written since: the point equals the source's head. Through
# rbdmove receivers over SSH, one per copy.
write_random 1 "volumes/volume-$a" 300M 2M
expect_success "sync --server over SSH after the writer stopped" \
    sync --ssh "$SSH_TARGET" -i "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" \
    --remote-rbdmove "$RBDMOVE" --server "$src_srv"
p=$(base_of 2 "volumes/volume-${copy[a]}")
p=${p##* }
for v in a b; do
    id=${!v}
    expect_equal "copy of $v equals its source" \
        "$(image_checksum 1 "volumes/volume-$id")" \
        "$(image_checksum 2 "volumes/volume-${copy[$v]}@$p")"
done
/usr/bin/python3 "$WRITER" check "$CEPH1_CONF" "volumes/volume-$a@${p##* }" \
    "volumes/volume-$b@${p##* }" >/dev/null &&
    pass "the sources' own snapshots of that point match too (no writes)" ||
    fail "the sources' own snapshots of the last point differ"

# An image in a group of someone else's: refused before anything changes.
rbdc 1 group create volumes/t58-other && rbdc 1 group image add volumes/t58-other "volumes/volume-$a" ||
    bail "cannot make another group"
before=$(snap_names 1 "volumes/volume-$b")
expect_failure "sync --server refuses an image in another RBD group" sync --server "$src_srv"
grep -q "is in RBD group 'volumes/t58-other' already" "$LAST_OUTPUT" &&
    pass "the refusal names the group" || fail "the refusal does not name the group"
expect_equal "nothing changed on the other volume" "$(snap_names 1 "volumes/volume-$b")" "$before"
rbdc 1 group rm volumes/t58-other

# librbd asks the images' clients to quiesce first: a client that answers
# is asked (and released) once per point; one that refuses (a guest that
# cannot freeze) fails the run, which leaves nothing behind.
probe() {
    /usr/bin/python3 "$(dirname "$0")/quiesce_probe.py" "$CEPH1_CONF" \
        "volumes/volume-$b" "$1" >"$TEST_TMP/probe.log" 2>&1 &
    ppid_=$!
    for _ in $(seq 300); do
        grep -q watching "$TEST_TMP/probe.log" && return 0
        sleep 0.1
    done
    cat "$TEST_TMP/probe.log"
    return 1
}
probe accept || fail "the quiesce probe did not start"
expect_success "sync --server with a client that quiesces" sync --server "$src_srv"
kill "$ppid_"
wait "$ppid_" 2>/dev/null
grep -q "quiesce done" "$TEST_TMP/probe.log" && grep -q unquiesce "$TEST_TMP/probe.log" &&
    pass "the client was asked to quiesce, then released" ||
    fail "the client was not asked to quiesce: $(cat "$TEST_TMP/probe.log")"
before_a=$(snap_names 1 "volumes/volume-$a")
before_copy=$(snap_names 2 "volumes/volume-${copy[a]}")
probe refuse || fail "the refusing quiesce probe did not start"
expect_failure "sync --server with a client that cannot quiesce" sync --server "$src_srv"
kill "$ppid_"
wait "$ppid_" 2>/dev/null
grep -q "did not quiesce" "$LAST_OUTPUT" && pass "the failure says a client did not quiesce" ||
    fail "the failure does not name the quiesce"
[ "$(groups_left)" = 0 ] && pass "no RBD group left after the refused quiesce" ||
    fail "an RBD group is left after the refused quiesce"
expect_equal "the source's snapshots are as before" "$(snap_names 1 "volumes/volume-$a")" "$before_a"
expect_equal "the copy's points are as before" "$(snap_names 2 "volumes/volume-${copy[a]}")" "$before_copy"

# One volume synced on its own, verified: its base was the group's point,
# whose data went with the group, so it takes a round of its own first.
expect_success "sync --verify of volume a alone" sync --verify "$a"
expect_equal "verified on its own" True "$(json_event "$LAST_OUTPUT" done verified)"

# Killed -9 while the second copy takes the point, under the writer: the
# group stays for the next run, which finishes the point from the group's
# snapshot and takes a new one.
/usr/bin/python3 "$WRITER" write "$CEPH1_CONF" "volumes/volume-$a" \
    "volumes/volume-$b" 600 >"$TEST_TMP/writer.log" 2>&1 &
wpid=$!
# bg_sync LOG: a sync --server slowed to 4 MB/s after 24 MiB more data in
# each volume; returns once the second copy's round has begun; sets spid.
bg_sync() {
    write_random 1 "volumes/volume-$a" 200M 24M
    write_random 1 "volumes/volume-$b" 200M 24M
    "$RBDMOVE" sync --os-cloud rbdmove-demo --os-region-name $R1 \
        --dst-os-region-name $R2 --src-conf "$CEPH1_CONF" \
        --dst-conf "$CEPH2_CONF" --progress never --json --keep 3 \
        --bwlimit 4M --server "$src_srv" >"$1" 2>&1 &
    spid=$!
    for _ in $(seq 600); do
        [ "$(grep -c '"message":"[a-z]* [0-9]* started (rbdmove-.*-g)' "$1")" -ge 2 ] && return 0
        kill -0 $spid 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
bg_sync "$TEST_TMP/killed.log" && pass "a sync --server is in the second copy's round" ||
    { cat "$TEST_TMP/killed.log"; fail "the sync did not reach the second copy"; }
sleep 1
kill -9 $spid
wait $spid 2>/dev/null
[ "$(groups_left)" = 1 ] && pass "the killed sync left its RBD group" ||
    fail "no RBD group after the kill"
killed_point=$(sed -n "s/.*group snapshot '\([^']*\)'.*/\1/p" "$TEST_TMP/killed.log" | head -n 1)
expect_success "sync --server after the kill" sync --server "$src_srv"
grep -q "finishing the interrupted round" "$LAST_OUTPUT" &&
    pass "the rerun finished the killed run's round" ||
    fail "the rerun did not finish the killed round"
[ "$(groups_left)" = 0 ] && pass "the rerun removed the RBD group" ||
    fail "an RBD group is left after the rerun"
for v in a b; do
    expect_equal "source $v keeps one snapshot of rbdmove's, the base" \
        "$(rbdmove_snaps 1 "volumes/volume-${!v}")" 1
done
for pt in "$killed_point" "$(base_of 2 "volumes/volume-${copy[a]}" | awk '{print $NF}')"; do
    out=$(consistent "volumes/volume-${copy[a]}@$pt" "volumes/volume-${copy[b]}@$pt") &&
        pass "point $pt (after the kill) is crash-consistent on both copies ($out)" ||
        fail "point $pt (after the kill) is not crash-consistent ($out)"
done

# Killed again, so that copy a holds a point that b lacks: points lists
# only what both hold, and the failover takes both to that one point.
bg_sync "$TEST_TMP/killed2.log" || fail "the second background sync did not get going"
sleep 1
kill -9 $spid
wait $spid 2>/dev/null
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
wpid=
half=$(sed -n "s/.*group snapshot '\([^']*\)'.*/\1/p" "$TEST_TMP/killed2.log" | head -n 1)
snap_names 2 "volumes/volume-${copy[a]}" | grep -qw -- "$half" &&
    pass "copy a holds the half-taken point $half" ||
    fail "copy a does not hold $half (the kill came too early)"
expect_success "points of copy a" rbdmove points --os-cloud rbdmove-demo \
    --os-region-name $R2 --json "${copy[a]}"
! grep -q "\"snap\":\"$half\"" "$LAST_OUTPUT" &&
    pass "points leaves out the point copy b lacks" ||
    fail "points lists the half-taken point"
grep -q "\"group_size\":2" "$LAST_OUTPUT" && pass "points names the group of two" ||
    fail "points does not name the group"

failover() {
    timeout 300 "$RBDMOVE" failover --os-cloud rbdmove-demo \
        --os-region-name $R2 --dst-conf "$CEPH2_CONF" --api-timeout 20 \
        --json "$@"
}
expect_failure "failover of one copy of the group alone is refused" \
    failover --dst-server "$dr_srv" "${copy[a]}"
grep -q "fail them over together" "$LAST_OUTPUT" && pass "the refusal says why" ||
    fail "the refusal does not say why"
expect_success "failover of both copies, latest point" \
    failover --dst-server "$dr_srv" "${copy[a]}" "${copy[b]}"
points=$(grep -o '"point":"[^"]*"' "$LAST_OUTPUT" | sort -u)
[ "$(echo "$points" | wc -l)" = 1 ] && ! grep -q "$half" <<<"$points" &&
    pass "both copies failed over to one point, not the half-taken one ($points)" ||
    fail "the copies failed over to different or half points: $points"
pt=$(echo "$points" | sed 's/.*:"\(.*\)"/\1/')
for v in a b; do
    expect_equal "copy $v's head is point $pt" \
        "$(image_checksum 2 "volumes/volume-${copy[$v]}")" \
        "$(image_checksum 2 "volumes/volume-${copy[$v]}@$pt")"
done
out=$(consistent "volumes/volume-${copy[a]}" "volumes/volume-${copy[b]}") &&
    pass "the failed-over volumes are crash-consistent ($out)" ||
    fail "the failed-over volumes are not crash-consistent ($out)"

# Failback of copy a from its base, a group's point: the original's own
# snapshot of that point lacks what the source wrote before the group's
# snapshot; the failback copies those ranges too (sync recorded them on
# the copy). Written on the DR side first, and the original was written
# after the point (the writer ran on): split-brain, then discarded.
expect_success "the original of a is detached in $R1" osc --os-region-name $R1 \
    detach "$src_srv" "$a"
write_random 2 "volumes/volume-${copy[a]}" 400M 8M
FB=(failback --os-cloud rbdmove-demo --os-region-name $R2
    --dst-os-region-name $R1 --src-conf "$CEPH2_CONF"
    --dst-conf "$CEPH1_CONF" --progress never --json)
expect_failure "failback of copy a without --discard-primary-changes" \
    rbdmove "${FB[@]}" "${copy[a]}"
grep -q "split-brain" "$LAST_OUTPUT" && pass "it is a split-brain" ||
    fail "no split-brain: $(tail -3 "$LAST_OUTPUT")"
expect_success "failback of copy a, --discard-primary-changes" \
    rbdmove "${FB[@]}" --discard-primary-changes "${copy[a]}"
grep -q "is a group's: [0-9]* range" "$LAST_OUTPUT" &&
    pass "the failback copies the group's window as well" ||
    fail "the failback says nothing of the group's window"
expect_equal "the original of a holds what copy a held" \
    "$(image_checksum 2 "volumes/volume-${copy[a]}")" \
    "$(image_checksum 1 "volumes/volume-$a")"
expect_equal "the original of a is attached to its server again" "$src_srv" \
    "$(volume_field $R1 "$a" attached.0 | cut -d' ' -f1)"

# The group the second kill left goes with 'release' of a source.
[ "$(groups_left)" = 1 ] || fail "no RBD group left by the second kill"
expect_success "release of volume a" rbdmove release --os-cloud rbdmove-demo \
    --os-region-name $R1 --conf "$CEPH1_CONF" "$a"
[ "$(groups_left)" = 0 ] && pass "release removed the RBD group" ||
    fail "release left the RBD group"
