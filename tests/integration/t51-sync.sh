#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 300
#
# t51-sync: rbdmove sync keeps a DR copy of a volume in the other region:
# the first run creates and seeds it, later runs move only the delta, a
# copy written to behind rbdmove's back is refused, and the same works
# through an rbdmove receiver over SSH.
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

# Through an rbdmove receiver over SSH.
write_random 1 "volumes/volume-$src" 500M 2M
expect_success "sync through an SSH receiver" \
    sync --ssh "$SSH_TARGET" -i "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" \
    --remote-rbdmove "$RBDMOVE" --verify "$src"
expect_equal "verified over SSH" True "$(json_event "$LAST_OUTPUT" done verified)"

# A copy written to behind rbdmove's back is refused.
write_random 2 "volumes/volume-$dst" 0 64K
write_random 1 "volumes/volume-$src" 0 64K
expect_failure "a modified copy is refused" sync "$src"
grep -q "modified after its base snapshot" "$LAST_OUTPUT" &&
    pass "says the copy was modified" || fail "message"
