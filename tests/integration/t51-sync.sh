#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 300
#
# t51-sync: rbdmove sync keeps a DR copy of a volume in the other region:
# the first run creates and seeds it, later runs move only the delta, a
# copy written to behind rbdmove's back is refused, and the same works
# through an rbdmove receiver over SSH. The systemd service's command line
# runs it with its options from a file and writes Prometheus metrics that
# promtool accepts (a failure keeps the time of the last success); a second
# sync of a volume whose lock is held exits at once with status 4. --keep
# keeps recovery points on the copy, and `points` lists them. `release`
# takes rbdmove's snapshots and marks off a copy (then Cinder deletes it)
# and off a source.
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack

os_lab_init

sync() {
    rbdmove sync --os-cloud rbdmove-demo --os-region-name RegionOne \
        --dst-os-region-name RegionTwo --src-conf "$CEPH1_CONF" \
        --dst-conf "$CEPH2_CONF" --progress never --json "$@"
}

"$TOOL" --os-cloud rbdmove-demo --os-region-name RegionOne volume-create 1 \
    "$(unique_name t51-vol)" >"$TEST_TMP/v" 2>&1 || bail "cannot create a volume"
src=$(sed -n 's/^id=//p' "$TEST_TMP/v")
VOLUMES+=("RegionOne $src")
write_random 1 "volumes/volume-$src" 0 24M

expect_success "first sync creates and seeds the copy" sync --verify "$src"
cp "$LAST_OUTPUT" "$TEST_TMP/s1"
dst=$(json_event "$TEST_TMP/s1" done dst_volume_id)
VOLUMES+=("RegionTwo $dst")
expect_equal "the copy was created" True "$(json_event "$TEST_TMP/s1" done created)"
expect_equal "the copy is verified" True "$(json_event "$TEST_TMP/s1" done verified)"
"$TOOL" --os-cloud rbdmove-demo --os-region-name RegionTwo volume-show "$dst" \
    >"$TEST_TMP/show" 2>&1
grep -q "^meta.rbdmove.sync_of=$src$" "$TEST_TMP/show" &&
    pass "the copy is marked with its source" || fail "no rbdmove.sync_of mark"
b=$(base_of 1 "volumes/volume-$src")
expect_equal "equal at the shared snapshot" \
    "$(image_checksum 1 "volumes/volume-$src@$b")" \
    "$(image_checksum 2 "volumes/volume-$dst@$b")"

write_random 1 "volumes/volume-$src" 300M 3M
expect_success "second sync" sync "$src"
cp "$LAST_OUTPUT" "$TEST_TMP/s2"
expect_equal "the same copy is reused" "$dst" "$(json_event "$TEST_TMP/s2" done dst_volume_id)"
moved=$(json_event "$TEST_TMP/s2" round data_bytes)
[ "$moved" -ge 3145728 ] && [ "$moved" -le 3460300 ] &&
    pass "only the 3 MiB delta moved ($moved bytes)" || fail "moved $moved bytes"
b=$(base_of 1 "volumes/volume-$src")
expect_equal "equal after the second sync" \
    "$(image_checksum 1 "volumes/volume-$src@$b")" \
    "$(image_checksum 2 "volumes/volume-$dst@$b")"

# The systemd service's command line (systemd/rbdmove-sync@.service, the
# build tree's copy) with its options from a file, as EnvironmentFile=
# gives them: RBDMOVE_SYNC_OPTIONS split on spaces, VOLUME one word.
command -v promtool >/dev/null ||
    bail "promtool is missing (scripts/install-deps.sh installs prometheus)"
unit=${RBDMOVE%/rbdmove/rbdmove}/systemd/test/rbdmove-sync@.service
[ -f "$unit" ] || bail "no $unit"
state=$TEST_TMP/state
cat >"$TEST_TMP/t51.conf" <<CONF
VOLUME=$src
RBDMOVE_SYNC_OPTIONS=--os-cloud rbdmove-demo --os-region-name RegionOne --dst-os-region-name RegionTwo --src-conf $CEPH1_CONF --dst-conf $CEPH2_CONF --json
CONF
service_line() {
    local w l line words=() VOLUME="" RBDMOVE_SYNC_OPTIONS=""
    # systemd's EnvironmentFile=: KEY=the rest of the line.
    while IFS= read -r l; do
        case "$l" in
        VOLUME=*) VOLUME=${l#VOLUME=} ;;
        RBDMOVE_SYNC_OPTIONS=*) RBDMOVE_SYNC_OPTIONS=${l#*=} ;;
        esac
    done <"$TEST_TMP/t51.conf"
    line=$(sed -n 's/^ExecStart=//p' "$unit")
    line=${line//%i/t51}
    for w in $line; do
        case "$w" in
        '$RBDMOVE_SYNC_OPTIONS') read -ra opts <<<"$RBDMOVE_SYNC_OPTIONS"; words+=("${opts[@]}") ;;
        '${VOLUME}') words+=("$VOLUME") ;;
        *) words+=("$w") ;;
        esac
    done
    env XDG_STATE_HOME="$state" "${words[@]}"
}
metrics=$(sed -n 's/^ExecStart=.*--metrics-file \([^ ]*\).*/\1/p' "$unit")
metrics=${metrics//%i/t51}
mkdir -p "$(dirname "$metrics")"
rm -f "$metrics"
write_random 1 "volumes/volume-$src" 400M 1M
expect_success "the systemd service's command line syncs" service_line
expect_equal "the same copy" "$dst" "$(json_event "$LAST_OUTPUT" done dst_volume_id)"
expect_success "promtool check metrics accepts its metrics" \
    sh -c 'promtool check metrics <"$1"' - "$metrics"
prom() { sed -n "s/^rbdmove_sync_$1{volume=\"$src\"} //p" "$metrics"; }
expect_equal "metrics: the run succeeded" 1 "$(prom last_attempt_success)"
[ "$(prom last_bytes)" -ge 1048576 ] &&
    pass "metrics: bytes of the run ($(prom last_bytes))" || fail "last_bytes: $(prom last_bytes)"
expect_equal "metrics: one recovery point" 1 "$(prom recovery_points)"
ok_at=$(prom last_success_timestamp_seconds)
[ -n "$ok_at" ] && pass "metrics: the time of the success" || fail "no success time"

# The volume's lock: held (here by flock(1)), a second sync exits at once
# with status 4 and says why, and changes nothing.
lock=$state/rbdmove/sync-$src.lock
flock "$lock" sleep 120 &
holder=$!
for _ in $(seq 100); do
    flock -n "$lock" true || break
    sleep 0.1
done
before=$(base_of 1 "volumes/volume-$src")
expect_exit 4 "a sync of a volume being synced exits with status 4" \
    service_line
grep -q "volume $src is being synced already" "$LAST_OUTPUT" &&
    pass "it says the volume is being synced" || fail "message"
expect_equal "the base did not move" "$before" "$(base_of 1 "volumes/volume-$src")"
expect_equal "metrics: exit status 4" 4 "$(prom last_exit_status)"
expect_equal "metrics: the last success is kept" "$ok_at" \
    "$(prom last_success_timestamp_seconds)"
kill "$holder"
wait "$holder" 2>/dev/null

# Through an rbdmove receiver over SSH.
write_random 1 "volumes/volume-$src" 500M 2M
expect_success "sync through an SSH receiver" \
    sync --ssh "$SSH_TARGET" -i "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" \
    --remote-rbdmove "$RBDMOVE" --verify "$src"
expect_equal "verified over SSH" True "$(json_event "$LAST_OUTPUT" done verified)"

# Recovery points: --keep 3 over four syncs keeps the three newest on the
# copy, each equal to the source as it was then, and only the base on the
# source; `points` lists them from the DR region; --keep 1 prunes again.
declare -A point_sum
for i in 1 2 3 4; do
    write_random 1 "volumes/volume-$src" "$((600 + i))M" 1M
    sum=$(image_checksum 1 "volumes/volume-$src")
    expect_success "sync --keep 3, run $i" sync --keep 3 "$src"
    point_sum[$(base_of 1 "volumes/volume-$src")]=$sum
done
expect_equal "the copy keeps 3 of rbdmove's snapshots" 3 \
    "$(rbdmove_snaps 2 "volumes/volume-$dst")"
expect_equal "the source keeps 1" 1 \
    "$(rbdmove_snaps 1 "volumes/volume-$src")"
for snap in $(snap_names 2 "volumes/volume-$dst" rbdmove-); do
    [ -n "${point_sum[$snap]:-}" ] || { fail "point $snap was not a base of this test"; continue; }
    expect_equal "point $snap holds the source as it was" "${point_sum[$snap]}" \
        "$(image_checksum 2 "volumes/volume-$dst@$snap")"
done
# kill -9 in a --keep sync's round: the next run finishes it, the points
# already kept stay, and the new base holds the source as it is.
write_random 1 "volumes/volume-$src" 800M 32M
sum=$(image_checksum 1 "volumes/volume-$src")
kept_before=$(snap_names 2 "volumes/volume-$dst" rbdmove-)
"$RBDMOVE" sync --os-cloud rbdmove-demo --os-region-name RegionOne \
    --dst-os-region-name RegionTwo --src-conf "$CEPH1_CONF" \
    --dst-conf "$CEPH2_CONF" --progress never --keep 3 --bwlimit 8M \
    "$src" >"$TEST_TMP/killed.log" 2>&1 &
spid=$!
for _ in $(seq 400); do
    rbdc 2 image-meta get "volumes/volume-$dst" rbdmove.pending >/dev/null 2>&1 &&
        break
    sleep 0.05
done
kill -9 "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
# Either is right; which one happened is worth a line in the log.
rbdc 2 image-meta get "volumes/volume-$dst" rbdmove.pending >/dev/null 2>&1 &&
    echo "# killed in the middle of a round" ||
    echo "# the round ended before the kill (nothing to finish)"
expect_success "sync --keep 3 after the kill" sync --keep 3 "$src"
b=$(base_of 1 "volumes/volume-$src")
point_sum[$b]=$sum
expect_equal "the new base holds the source as it is" "$sum" \
    "$(image_checksum 2 "volumes/volume-$dst@$b")"
expect_equal "still 3 points" 3 "$(rbdmove_snaps 2 "volumes/volume-$dst")"
now_kept=" $(echo $(snap_names 2 "volumes/volume-$dst" rbdmove-)) "
lost=""
for snap in $(echo $kept_before | cut -d' ' -f2-); do
    case "$now_kept" in
    *" $snap "*) ;;
    *) lost="$lost $snap" ;;
    esac
done
expect_equal "the newer points from before the kill are kept" "" "$lost"
expect_success "points lists them" rbdmove points --os-cloud rbdmove-demo \
    --os-region-name RegionTwo --json "$dst"
cp "$LAST_OUTPUT" "$TEST_TMP/points"
expect_equal "three points" 3 "$(grep -c '"event":"point"' "$TEST_TMP/points")"
head -1 "$TEST_TMP/points" >"$TEST_TMP/newest"
expect_equal "the newest comes first and is the base" \
    "$(base_of 1 "volumes/volume-$src")" "$(json_event "$TEST_TMP/newest" point snap)"
expect_equal "... and marked so" True "$(json_event "$TEST_TMP/newest" point base)"
expect_equal "the oldest is not" False "$(json_event "$TEST_TMP/points" point base)"
expect_success "points by the copy's name, as text" rbdmove points \
    --os-cloud rbdmove-demo --os-region-name RegionTwo "$(volume_field RegionTwo "$dst" name)"
grep -q "3 recovery points" "$LAST_OUTPUT" && pass "says 3 points" || fail "points text"
# A point whose key is missing (the API failed after the data moved) is
# recorded again by the next sync, from its name.
oldest=$(echo $(snap_names 2 "volumes/volume-$dst" rbdmove-) | cut -d" " -f1)
expect_success "a point's key lost" "$TOOL" --os-cloud rbdmove-demo \
    --os-region-name RegionTwo metadata-unset "$dst" "rbdmove.point.$oldest"
expect_success "the next sync --keep 3" sync --keep 3 "$src"
expect_success "points after it" rbdmove points --os-cloud rbdmove-demo \
    --os-region-name RegionTwo --json "$dst"
grep -q "\"snap\":\"$oldest\"" "$LAST_OUTPUT" &&
    pass "the point is listed again" || fail "point $oldest not listed"

# A point key someone else wrote, with a terminal escape in it: shown
# escaped, and gone after the next sync (no such snapshot on the copy).
esc=$(printf '\033')
expect_success "a hostile point key" "$TOOL" --os-cloud rbdmove-demo \
    --os-region-name RegionTwo metadata-set "$dst" \
    "rbdmove.point.rbdmove-20000101T000000Z-000000=time=${esc}[2J verified=no"
expect_success "points with it" rbdmove points --os-cloud rbdmove-demo \
    --os-region-name RegionTwo "$dst"
grep -q "$esc" "$LAST_OUTPUT" && fail "an escape reached the terminal" ||
    pass "no escape reaches the terminal"
grep -q '\\x1b\[2J' "$LAST_OUTPUT" && pass "it is shown escaped" ||
    fail "not shown: $(cat "$LAST_OUTPUT")"
expect_failure "points of a volume that is not a copy" rbdmove points \
    --os-cloud rbdmove-demo --os-region-name RegionOne "$src"
grep -q "is not a copy made by 'rbdmove sync'" "$LAST_OUTPUT" &&
    pass "says it is not a copy" || fail "message"
write_random 1 "volumes/volume-$src" 700M 1M
expect_success "sync --keep 1 prunes the copy's points" sync --keep 1 "$src"
expect_equal "the copy keeps its base only" 1 \
    "$(rbdmove_snaps 2 "volumes/volume-$dst")"
expect_success "points after the prune" rbdmove points --os-cloud rbdmove-demo \
    --os-region-name RegionTwo --json "$dst"
expect_equal "one point left (the hostile key gone too)" 1 \
    "$(grep -c '"event":"point"' "$LAST_OUTPUT")"

# A policy, with the clock moved hours ahead (RBDMOVE_TEST_CLOCK_OFFSET)
# so that four syncs are an hour apart, each 10 minutes past the hour:
# 3h:hourly keeps the last three (about 2 h and 1 h old, and the base),
# not the one just over 3 h old nor the point of the real hour.
now=$(date +%s)
h0=$(((now / 3600 + 1) * 3600))
for k in 0 1 2 3; do
    write_random 1 "volumes/volume-$src" "$((710 + k))M" 64K
    expect_success "sync --keep 3h:hourly, hour $k" env \
        RBDMOVE_TEST_CLOCK_OFFSET=$((h0 + k * 3600 + 600 - now)) \
        "$RBDMOVE" sync --os-cloud rbdmove-demo --os-region-name RegionOne \
        --dst-os-region-name RegionTwo --src-conf "$CEPH1_CONF" \
        --dst-conf "$CEPH2_CONF" --progress never --keep 3h:hourly "$src"
done
want=""
for k in 1 2 3; do
    want="$want $(date -u -d @$((h0 + k * 3600)) +%Y%m%dT%H)"
done
got=""
for snap in $(snap_names 2 "volumes/volume-$dst" rbdmove-); do
    got="$got $(echo "$snap" | cut -c9-19)"
done
expect_equal "the points of the last 3 hours" "$want" "$got"
expect_failure "a policy that does not parse is refused before anything" \
    sync --keep 24h:fortnightly "$src"
grep -q "a span is a number and" "$LAST_OUTPUT" && pass "says what is wrong" ||
    fail "message"

# A copy written to behind rbdmove's back is refused.
write_random 2 "volumes/volume-$dst" 0 64K
write_random 1 "volumes/volume-$src" 0 64K
expect_failure "a modified copy is refused" sync --metrics-file "$TEST_TMP/f.prom" "$src"
grep -q "modified after its base snapshot" "$LAST_OUTPUT" &&
    pass "says the copy was modified" || fail "message"
expect_success "promtool accepts the metrics of a failed sync" \
    sh -c 'promtool check metrics <"$1"' - "$TEST_TMP/f.prom"
grep -q "^rbdmove_sync_last_attempt_success{volume=\"$src\"} 0$" "$TEST_TMP/f.prom" &&
    pass "metrics: the run failed" || fail "last_attempt_success"

# release: rbdmove's snapshots and marks off the copy (refused against the
# wrong cluster, changing nothing), then Cinder deletes it; and off the
# source.
release() {
    rbdmove release --os-cloud rbdmove-demo --json "$@"
}
before=$(rbdmove_snaps 2 "volumes/volume-$dst")
expect_failure "release against another cluster is refused" \
    release --os-region-name RegionTwo --conf "$CEPH1_CONF" "$dst"
grep -q "nothing was changed" "$LAST_OUTPUT" && pass "says nothing was changed" ||
    fail "message"
expect_equal "... and changes nothing" "$before" "$(rbdmove_snaps 2 "volumes/volume-$dst")"
expect_success "release the copy" \
    release --os-region-name RegionTwo --conf "$CEPH2_CONF" "$dst"
expect_equal "it was a copy" True "$(json_event "$LAST_OUTPUT" released copy)"
expect_equal "its snapshots removed" "$before" \
    "$(json_event "$LAST_OUTPUT" released snapshots)"
expect_equal "no rbdmove snapshot left on the copy" 0 \
    "$(rbdmove_snaps 2 "volumes/volume-$dst")"
"$TOOL" --os-cloud rbdmove-demo --os-region-name RegionTwo volume-show "$dst" \
    >"$TEST_TMP/show" 2>&1
grep -q '^meta\.rbdmove\.' "$TEST_TMP/show" &&
    fail "rbdmove metadata left: $(grep '^meta\.rbdmove\.' "$TEST_TMP/show" | tr '\n' ' ')" ||
    pass "no rbdmove metadata left on the copy"
expect_failure "it is no longer a copy" rbdmove points --os-cloud rbdmove-demo \
    --os-region-name RegionTwo "$dst"
expect_success "Cinder deletes the released copy" "$TOOL" --os-cloud \
    rbdmove-demo --os-region-name RegionTwo volume-delete "$dst"
expect_success "release the source" \
    release --os-region-name RegionOne --conf "$CEPH1_CONF" "$src"
expect_equal "it was not a copy" False "$(json_event "$LAST_OUTPUT" released copy)"
expect_equal "no rbdmove snapshot left on the source" 0 \
    "$(rbdmove_snaps 1 "volumes/volume-$src")"
