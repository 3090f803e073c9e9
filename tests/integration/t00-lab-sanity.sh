#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 120
#
# t00-lab-sanity: the two lab clusters answer, are two different clusters,
# have the pools the tests use, and the helpers of lib.sh work: images are
# created with the lab's default features, written at offsets, checksummed
# (equal content gives equal sums across clusters, different content not)
# and removed.
. "$(dirname "$0")/lib.sh"

lab_require ceph

for c in 1 2; do
    expect_success "ceph$c answers" cephc "$c" osd pool ls
    cp "$LAST_OUTPUT" "$TEST_TMP/pools"
    expect_success "ceph$c has the pool volumes" grep -qx volumes "$TEST_TMP/pools"
    expect_success "ceph$c has the pool other" grep -qx other "$TEST_TMP/pools"
    expect_success "ceph$c is healthy" cephc "$c" health
    expect_success "ceph$c: HEALTH_OK" grep -q HEALTH_OK "$LAST_OUTPUT"
done

fsid1=$(ceph1 fsid)
fsid2=$(ceph2 fsid)
expect_success "the two clusters have fsids" test -n "$fsid1" -a -n "$fsid2"
expect_success "the two clusters are distinct ($fsid1, $fsid2)" \
    test "$fsid1" != "$fsid2"

img=$(unique_name sanity)
expect_success "create volumes/$img on ceph1" make_image 1 "volumes/$img" 64M
expect_success "new images get the lab's default features" \
    rbd1 info "volumes/$img"
for f in layering exclusive-lock object-map fast-diff deep-flatten; do
    grep -q "features:.*$f" "$LAST_OUTPUT" ||
        fail "feature $f missing on volumes/$img"
done
expect_success "write 8 MiB of random data at 0" \
    write_random 1 "volumes/$img" 0 8M
expect_success "write 1 MiB at 40 MiB" write_random 1 "volumes/$img" 40M 1M
expect_success "snapshot volumes/$img@s1" rbd1 snap create "volumes/$img@s1"
expect_success "snap_exists sees s1" snap_exists 1 "volumes/$img@s1"
expect_failure "snap_exists does not see s2" snap_exists 1 "volumes/$img@s2"

# The same content on the other cluster, through the rbd CLI.
track_image 2 "other/$img"
expect_success "copy volumes/$img@s1 from ceph1 to ceph2 other/$img" \
    bash -c 'rbd -c "$CEPH1_CONF" export --no-progress "$1" - |
             rbd -c "$CEPH2_CONF" import --no-progress - "$2"' \
    _ "volumes/$img@s1" "other/$img"
sum1=$(image_checksum 1 "volumes/$img@s1")
sum2=$(image_checksum 2 "other/$img")
expect_success "image_checksum gives a sha256" test "${#sum1}" = 64
expect_equal "equal content, equal checksums across clusters" "$sum1" "$sum2"

expect_success "write zeros over the first MiB on ceph2" \
    write_zeros 2 "other/$img" 0 1M
sum2b=$(image_checksum 2 "other/$img")
expect_success "different content, different checksums" \
    test "$sum1" != "$sum2b"
expect_success "discard a range on ceph2" \
    discard_range 2 "other/$img" 40M 1M
expect_equal "the snapshot on ceph1 did not change" "$sum1" \
    "$(image_checksum 1 "volumes/$img@s1")"

expect_success "purge the snapshots of volumes/$img" \
    rbd1 snap purge --no-progress "volumes/$img"
expect_success "remove volumes/$img from ceph1" \
    rbd1 rm --no-progress "volumes/$img"
expect_failure "volumes/$img is gone" rbd1 info "volumes/$img"

# The helpers are honest: an image that cannot be read never checksums equal
# to another one, and the test that reads it fails even though the
# comparison happened in a $(...) subshell; output without JSON is said as
# such, not a traceback. (Run in a nested test, whose failure is expected.)
cat >"$TEST_TMP/nested.sh" <<'NESTED'
. "$RBDMOVE_SRC/tests/integration/lib.sh"
expect_equal "two unreadable images compare" \
    "$(image_checksum 1 volumes/no-such-image@nosnap)" \
    "$(image_checksum 2 volumes/no-such-image@nosnap)"
v=$(echo "rbd: error opening image" | json_get size)
pass "after the JSON helper (got '$v')"
NESTED
expect_exit 1 "a test that reads an unreadable image fails" \
    env CI=true bash "$TEST_TMP/nested.sh"
N=$TEST_TMP/nested.out
cp "$LAST_OUTPUT" "$N"
expect_success "... the comparison itself fails" \
    grep -q "^not ok 1 - two unreadable images compare" "$N"
expect_success "... each unreadable side is a failed check" \
    test "$(grep -c '^not ok .* - helper: image_checksum ceph[12] volumes/no-such-image@nosnap: ' "$N")" = 2
expect_success "... output without JSON is said as such" \
    grep -q "^not ok .* - helper: json_get: no JSON in its input" "$N"
expect_failure "... with no traceback" grep -q Traceback "$N"
