#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 300
# rbdmove export-diff / import-diff against the rbd CLI, both ways, on two
# real clusters: full and incremental streams, clones, growth, discards,
# object sizes other than 4 MiB, and every refusal.
. "$(dirname "$0")/lib.sh"
lab_require ceph

T=$TEST_TMP

# roundtrip CLUSTER SRC@SNAP [FROM] -> compares rbdmove->rbd and rbd->rbdmove
src=volumes/$(unique_name src)
make_image 1 "$src" 64M --object-size 1M
write_random 1 "$src" 0 3M
write_random 1 "$src" 10M 512K
write_random 1 "$src" 40M 5M
write_zeros 1 "$src" 41M 1M
rbd1 snap create "$src@s1" >/dev/null 2>&1
sum1=$(image_checksum 1 "$src@s1")

a=volumes/$(unique_name a)
b=volumes/$(unique_name b)
make_image 2 "$a" 1M
make_image 2 "$b" 1M
expect_success "export-diff of a full snapshot" \
    rbdmove export-diff -c "$CEPH1_CONF" "$src@s1" "$T/full.diff"
expect_success "rbd import-diff accepts it" \
    rbd2 import-diff --no-progress "$T/full.diff" "$a"
expect_equal "content equal after rbd import-diff" "$sum1" \
    "$(image_checksum 2 "$a@s1")"
rbd1 export-diff --no-progress "$src@s1" "$T/full.rbd.diff" >/dev/null 2>&1
expect_success "import-diff of an rbd export-diff stream" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/full.rbd.diff" "$b"
expect_equal "content equal after rbdmove import-diff" "$sum1" \
    "$(image_checksum 2 "$b@s1")"
zero_bytes=$(python3 - "$T/full.diff" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:12] == b"rbd diff v1\n"
i, data, zero = 12, 0, 0
while True:
    t = d[i:i+1]; i += 1
    if t in (b"f", b"t"):
        n = struct.unpack("<I", d[i:i+4])[0]; i += 4 + n
    elif t == b"s":
        i += 8
    elif t == b"w":
        off, n = struct.unpack("<QQ", d[i:i+16]); i += 16 + n; data += n
    elif t == b"z":
        off, n = struct.unpack("<QQ", d[i:i+16]); i += 16; zero += n
    elif t == b"e":
        break
    else:
        sys.exit("bad tag %r" % t)
print(data)
PY
)
expect_equal "only allocated non-zero data travels" "$(( (3 + 5 - 1) * 1048576 + 524288 ))" "$zero_bytes"

# Incremental, with growth and a discard, both ways.
rbd1 resize --no-progress --size 96M "$src" >/dev/null 2>&1
write_random 1 "$src" 70M 2M
write_random 1 "$src" 1M 64K
discard_range 1 "$src" 40M 1M
rbd1 snap create "$src@s2" >/dev/null 2>&1
sum2=$(image_checksum 1 "$src@s2")
expect_success "incremental export-diff" \
    rbdmove export-diff -c "$CEPH1_CONF" --from-snap s1 "$src@s2" "$T/inc.diff"
expect_success "rbd import-diff applies the incremental stream" \
    rbd2 import-diff --no-progress "$T/inc.diff" "$a"
expect_equal "incremental content equal (rbd import)" "$sum2" \
    "$(image_checksum 2 "$a@s2")"
rbd1 export-diff --no-progress --from-snap s1 "$src@s2" "$T/inc.rbd.diff" \
    >/dev/null 2>&1
expect_success "import-diff of an incremental rbd stream" \
    rbdmove import-diff -c "$CEPH2_CONF" - "$b" <"$T/inc.rbd.diff"
expect_equal "incremental content equal (rbdmove import)" "$sum2" \
    "$(image_checksum 2 "$b@s2")"
expect_equal "image grew with the stream" "100663296" \
    "$(rbd2 info --format json "$b" | json_get size)"

# Refusals: nothing is snapshotted unless everything arrived.
c=volumes/$(unique_name c)
make_image 2 "$c" 1M
expect_failure "from-snap missing on the destination" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/inc.diff" "$c"
grep -q "start snapshot 's1' does not exist" "$LAST_OUTPUT" &&
    pass "says the start snapshot is missing" || fail "message names s1"
expect_failure "to-snap already present" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/inc.diff" "$a"
grep -q "already exists" "$LAST_OUTPUT" && pass "says it exists" ||
    fail "message says the snapshot exists"
head -c $(($(stat -c %s "$T/full.diff") - 1)) "$T/full.diff" >"$T/trunc.diff"
expect_failure "truncated stream is refused" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/trunc.diff" "$c"
snap_exists 2 "$c@s1" && fail "no to-snap after a truncated stream" ||
    pass "no to-snap after a truncated stream"
head -c 5000000 "$T/full.diff" | rbdmove import-diff -c "$CEPH2_CONF" - "$c" \
    >/dev/null 2>&1
snap_exists 2 "$c@s1" && fail "no to-snap after a stream cut mid-data" ||
    pass "no to-snap after a stream cut mid-data"
printf 'rbd diff v1\nQ' >"$T/badtag.diff"
expect_failure "unknown record tag is refused" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/badtag.diff" "$c"
printf 'rbd diff v2\n' >"$T/v2.diff"
expect_failure "v2 stream is refused" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/v2.diff" "$c"
head -c 100000 /dev/urandom >"$T/garbage"
expect_failure "garbage is refused" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/garbage" "$c"

# Shrinking needs --allow-shrink.
rbd1 resize --no-progress --allow-shrink --size 32M "$src" >/dev/null 2>&1
rbd1 snap create "$src@s3" >/dev/null 2>&1
rbdmove export-diff -c "$CEPH1_CONF" --from-snap s2 "$src@s3" "$T/shrink.diff"
expect_failure "shrink refused without --allow-shrink" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/shrink.diff" "$b"
expect_success "shrink accepted with --allow-shrink" \
    rbdmove import-diff -c "$CEPH2_CONF" --allow-shrink "$T/shrink.diff" "$b"
expect_equal "shrunk content equal" "$(image_checksum 1 "$src@s3")" \
    "$(image_checksum 2 "$b@s3")"

# A clone carries its parent's data.
parent=volumes/$(unique_name parent)
make_image 1 "$parent" 32M
write_random 1 "$parent" 0 8M
rbd1 snap create "$parent@base" >/dev/null 2>&1
rbd1 snap protect "$parent@base" >/dev/null 2>&1
clone=volumes/$(unique_name clone)
track_image 1 "$clone"
rbd1 clone "$parent@base" "$clone" >/dev/null 2>&1
write_random 1 "$clone" 4M 1M
rbd1 snap create "$clone@c1" >/dev/null 2>&1
d=volumes/$(unique_name d)
make_image 2 "$d" 1M
expect_success "clone export-diff | rbd import-diff" \
    bash -c "'$RBDMOVE' export-diff -c '$CEPH1_CONF' '$clone@c1' - | rbd -c '$CEPH2_CONF' import-diff --no-progress - '$d'"
expect_equal "clone content (with parent data) equal" \
    "$(image_checksum 1 "$clone@c1")" "$(image_checksum 2 "$d@c1")"

# Object sizes other than 4 MiB on the destination side.
big=volumes/$(unique_name big)
make_image 2 "$big" 1M --object-size 8M
expect_success "import into an image with 8 MiB objects" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/full.diff" "$big"
expect_equal "content equal with 8 MiB objects" "$sum1" \
    "$(image_checksum 2 "$big@s1")"

# Bad names and places.
expect_exit 2 "malformed image spec is a usage error" \
    rbdmove export-diff -c "$CEPH1_CONF" "nopool@s1" "$T/x"
expect_exit 2 "snapshot required" \
    rbdmove export-diff -c "$CEPH1_CONF" "$src" "$T/x"
expect_failure "unknown pool" \
    rbdmove export-diff -c "$CEPH1_CONF" "nosuchpool/x@s1" "$T/x"
grep -q "cannot open pool 'nosuchpool'" "$LAST_OUTPUT" &&
    pass "names the pool" || fail "message names the pool"
[ -e "$T/x" ] && fail "no partial output file left" ||
    pass "no partial output file left"
expect_failure "unknown image" \
    rbdmove import-diff -c "$CEPH2_CONF" "$T/full.diff" volumes/nosuchimage
cat >"$T/dead.conf" <<CONF
[global]
mon host = 127.0.0.1:1
auth client required = none
CONF
start=$(date +%s)
RBDMOVE_CEPH_TIMEOUT=3 expect_failure "dead cluster fails within the timeout" \
    rbdmove export-diff -c "$T/dead.conf" "$src@s1" "$T/y"
[ $(($(date +%s) - start)) -lt 30 ] && pass "no hang on a dead cluster" ||
    fail "took too long on a dead cluster"
