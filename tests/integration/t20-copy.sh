#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 600
# rbdmove copy between two real clusters: seed and rounds under a live
# writer, a second run that moves only the delta, verify, refusals of
# destinations that do not match, resumption after kill -9, clones.
. "$(dirname "$0")/lib.sh"
lab_require ceph

T=$TEST_TMP
WRITER=$RBDMOVE_SRC/tests/integration/writer.py
copy() {
    rbdmove copy --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" "$@"
}
# wait_meta IMAGE KEY: until ceph2's IMAGE carries metadata KEY (at most
# 10 s): a running copy has reached the point that sets it.
wait_meta() {
    for _ in $(seq 200); do
        rbd2 image-meta get "$1" "$2" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# ---- seed and rounds under a live writer -------------------------------------
src=volumes/$(unique_name src)
dst=volumes/$(unique_name dst)
make_image 1 "$src" 256M
track_image 2 "$dst"
write_random 1 "$src" 0 24M
write_random 1 "$src" 100M 8M
/usr/bin/python3 "$WRITER" "$CEPH1_CONF" "$src" 4000000 600 &
wpid=$!
wait_watched 1 "$src"
expect_success "copy while a writer keeps writing" \
    copy --converge 1M --max-rounds 3 --json "$src" "$dst"
cp "$LAST_OUTPUT" "$T/first.json"
kill $wpid 2>/dev/null
wait $wpid 2>/dev/null
base=$(base_of 2 "$dst")
expect_equal "one base snapshot on the destination" 1 "$(echo $base | wc -w)"
expect_equal "the same snapshot is the base on the source" "$base" \
    "$(base_of 1 "$src")"
expect_equal "destination equals the source at the base" \
    "$(image_checksum 1 "$src@$base")" "$(image_checksum 2 "$dst@$base")"
rounds=$(json_event "$T/first.json" done rounds)
[ "$rounds" -ge 1 ] && pass "incremental rounds ran under the writer ($rounds)" ||
    fail "expected incremental rounds under a live writer, got $rounds"

# ---- a second copy moves only what changed -----------------------------------
expect_success "catch up with the writer's last writes" copy "$src" "$dst"
write_random 1 "$src" 200M 2M
expect_success "second copy" copy --json "$src" "$dst"
moved=$(json_event "$LAST_OUTPUT" round_done data_bytes)
[ "$moved" -ge 2097152 ] && [ "$moved" -le 2306867 ] &&
    pass "second copy moved only the 2 MiB delta ($moved bytes)" ||
    fail "second copy moved $moved bytes for a 2 MiB change"
base2=$(base_of 2 "$dst")
[ "$base2" != "$base" ] && pass "a new base replaced the old one" ||
    fail "base did not move"
expect_equal "old base removed on the source" "$base2" "$(base_of 1 "$src")"
expect_equal "equal after the second copy" \
    "$(image_checksum 1 "$src@$base2")" "$(image_checksum 2 "$dst@$base2")"
expect_success "third copy with nothing changed" copy --json "$src" "$dst"
expect_equal "no round when nothing changed" 0 \
    "$(json_event "$LAST_OUTPUT" done rounds)"
expect_equal "base kept when nothing changed" "$base2" "$(base_of 2 "$dst")"
expect_success "copy --verify" copy --verify "$src" "$dst"

# ---- rounds through the object map, or through the pool's listing ----------
# A round asks which objects changed and only those for their extents:
# with fast-diff the object map says (4 KiB objects: the map is read in
# windows of 65536 objects, four of them here); without it the pool's
# listing says which objects exist (librbd alone would ask all 16384
# objects of 64 KiB in 1 GiB, and the pool holds far fewer; smaller
# objects would make the image's removal, which asks every one, cost
# minutes). Changes it must not miss or widen: a write inside an object,
# one across an object boundary, a discard of whole objects and of part of
# one (without a map, the whole objects deleted while the base keeps them
# stay listed as whiteouts and must reach the copy as zeros), zeros written
# over data, an object first written after the base.
#
# sparse_rounds TAG HOW OBJECT_SIZE FEATURES [MARK]: seed an image with
# FEATURES (named after TAG), change it, copy the change; MARK, when given,
# must be in both runs' -vv output.
sparse_rounds() {
    said() {
        [ -z "$1" ] || { grep -q "$1" "$LAST_OUTPUT" && pass "... said '$1'" ||
            fail "... did not say '$1'"; }
    }
    local tag=$1 how=$2 osize=$3 features=$4 mark=${5:-} src dst base moved
    src=volumes/$(unique_name "$tag-src")
    dst=volumes/$(unique_name "$tag-dst")
    make_image 1 "$src" 1G --object-size "$osize" --image-feature "$features"
    track_image 2 "$dst"
    write_random 1 "$src" 0 16M
    write_random 1 "$src" 600M 8M
    expect_success "seed through $how" copy -vv "$src" "$dst"
    said "$mark"
    write_random 1 "$src" 1M 64K
    write_random 1 "$src" 8188K 8K
    discard_range 1 "$src" 12M 4M
    discard_range 1 "$src" 600M 1M
    write_zeros 1 "$src" 604M 64K
    write_random 1 "$src" 1020M 4K
    expect_success "a round through $how" copy --json -vv "$src" "$dst"
    said "$mark"
    moved=$(json_event "$LAST_OUTPUT" round_done data_bytes)
    [ "$moved" -ge 77824 ] && [ "$moved" -le 1048576 ] &&
        pass "the round moved the changed extents, not whole objects ($moved bytes)" ||
        fail "the round moved $moved bytes for 76 KiB of data written"
    base=$(base_of 2 "$dst")
    expect_equal "equal after a round through $how" \
        "$(image_checksum 1 "$src@$base")" "$(image_checksum 2 "$dst@$base")"
    expect_success "verify after it" copy --verify "$src" "$dst"
}
sparse_rounds map "the object map" 4K layering,exclusive-lock,object-map,fast-diff
sparse_rounds list "the pool's listing" 64K layering "data objects found by listing the pool"

# ---- the source as its own destination -----------------------------------------
sum_before=$(image_checksum 1 "$src")
snaps_before=$(base_of 1 "$src")
expect_exit 1 "copy onto the source itself is refused" \
    rbdmove copy --src-conf "$CEPH1_CONF" --dst-conf "$CEPH1_CONF" "$src" "$src"
grep -q "is the source image itself" "$LAST_OUTPUT" &&
    pass "says the destination is the source" ||
    fail "message: $(tail -2 "$LAST_OUTPUT")"
expect_equal "the source is as it was" "$sum_before" "$(image_checksum 1 "$src")"
expect_equal "no snapshot made on the source" "$snaps_before" \
    "$(base_of 1 "$src")"

# ---- verify --------------------------------------------------------------------
expect_exit 0 "verify: equal snapshots" \
    rbdmove verify --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    "$src@$base2" "$dst@$base2"
planted=volumes/$(unique_name planted)
make_image 2 "$planted" 256M
rbdmove export-diff -c "$CEPH1_CONF" "$src@$base2" - |
    rbdmove import-diff -c "$CEPH2_CONF" - "$planted"
write_random 2 "$planted" 50M 4K
rbd2 snap create "$planted@x" >/dev/null 2>&1
expect_exit 1 "verify: a planted difference is found" \
    rbdmove verify --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    "$src@$base2" "$planted@x"
grep -q "differ in \[50331648, 54525952)" "$LAST_OUTPUT" &&
    pass "verify names the differing range" ||
    fail "verify names the differing range"
expect_exit 2 "verify: missing snapshot is trouble, not a difference" \
    rbdmove verify --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    "$src@nosuch" "$planted@x"

# ---- refusals ------------------------------------------------------------------
write_random 2 "$dst" 10M 64K
write_random 1 "$src" 10M 64K
expect_failure "destination written after its base is refused" \
    copy "$src" "$dst"
grep -q "was modified after its base snapshot" "$LAST_OUTPUT" &&
    pass "says the destination was modified" || fail "message"
expect_equal "nothing changed on the source after the refusal" "$base2" \
    "$(base_of 1 "$src")"
other=volumes/$(unique_name other)
make_image 1 "$other" 64M
write_random 1 "$other" 0 1M
expect_failure "copying another source onto it is refused" \
    copy "$other" "$dst"
grep -q "another source" "$LAST_OUTPUT" && pass "says another source" ||
    fail "message"
unrelated=volumes/$(unique_name unrelated)
make_image 2 "$unrelated" 64M
write_random 2 "$unrelated" 0 64K
expect_failure "an unrelated image with data is never overwritten" \
    copy "$other" "$unrelated"
empty=volumes/$(unique_name empty)
make_image 2 "$empty" 64M
expect_success "an empty unmarked image is adopted" copy "$other" "$empty"
b=$(base_of 2 "$empty")
expect_equal "adopted image equal" "$(image_checksum 1 "$other@$b")" \
    "$(image_checksum 2 "$empty@$b")"

# ---- kill -9 during the seed, then resume --------------------------------------
big=volumes/$(unique_name big)
bigdst=volumes/$(unique_name bigdst)
make_image 1 "$big" 192M
track_image 2 "$bigdst"
write_random 1 "$big" 0 160M
"$RBDMOVE" copy --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    --bwlimit 24M --checkpoint 8M --progress never \
    "$big" "$bigdst" >"$T/killed.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do
    done_=$(rbd2 image-meta get "$bigdst" rbdmove.seed 2>/dev/null |
        sed -n 's/.*done=\([0-9]*\).*/\1/p')
    [ -n "$done_" ] && [ "$done_" -gt 0 ] && break
    sleep 0.1
done
kill -9 $cpid 2>/dev/null
wait $cpid 2>/dev/null
[ -n "$done_" ] && pass "seed checkpointed before the kill ($done_)" ||
    fail "no seed checkpoint seen"
expect_equal "no base snapshot after a killed seed" "" "$(base_of 2 "$bigdst")"
expect_success "copy after the kill resumes" copy -v "$big" "$bigdst"
grep -q "resuming the seed" "$LAST_OUTPUT" && pass "says it resumes" ||
    fail "did not resume the seed"
# The killed run's lock on the destination: broken at once (its run lock
# proves it dead), not waited for until its watch expires.
grep -q "broke the lock a killed run left on $bigdst" "$LAST_OUTPUT" &&
    pass "breaks the killed seed's lock" ||
    fail "did not break the killed seed's lock"
b=$(base_of 2 "$bigdst")
expect_equal "resumed seed equal" "$(image_checksum 1 "$big@$b")" \
    "$(image_checksum 2 "$bigdst@$b")"
expect_equal "one rbdmove snapshot left on the source" "$b" "$(base_of 1 "$big")"

# ---- kill -9 during a round, then resume ---------------------------------------
write_random 1 "$big" 0 96M
"$RBDMOVE" copy --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    --window 1 --chunk-size 128K --progress never "$big" "$bigdst" \
    >"$T/killed2.log" 2>&1 &
cpid=$!
wait_meta "$bigdst" rbdmove.pending
expect_failure "a second copy to the same destination is refused while one runs" \
    copy "$big" "$bigdst"
grep -q "in use by another client" "$LAST_OUTPUT" && pass "says it is in use" ||
    fail "message says the destination is in use"
kill -9 $cpid 2>/dev/null
wait $cpid 2>/dev/null
# librbd took the source's lock for the round's snapshot: given back at
# once, or the source's own writer (its VM) would wait for the killed
# client's watch to expire before its next write (30 s).
expect_equal "a killed copy leaves no lock on its source" "" \
    "$(rbd1 lock ls "$big" 2>&1)"
rbd2 image-meta get "$bigdst" rbdmove.pending >/dev/null 2>&1 &&
    pass "round was interrupted mid-way" ||
    pass "round finished before the kill (nothing to resume)"
expect_success "copy after a killed round" copy -v "$big" "$bigdst"
grep -q "broke the lock a killed run left on $bigdst" "$LAST_OUTPUT" &&
    pass "breaks the killed round's lock" ||
    fail "did not break the killed round's lock"
b=$(base_of 2 "$bigdst")
expect_equal "equal after the interrupted round" \
    "$(image_checksum 1 "$big@$b")" "$(image_checksum 2 "$bigdst@$b")"
expect_equal "one rbdmove snapshot on the destination" 1 \
    "$(echo $(base_of 2 "$bigdst") | wc -w)"

# ---- a clone, and an object size other than 4 MiB ---------------------------
parent=volumes/$(unique_name parent)
make_image 1 "$parent" 32M --object-size 1M
write_random 1 "$parent" 0 6M
rbd1 snap create "$parent@p" >/dev/null 2>&1
rbd1 snap protect "$parent@p" >/dev/null 2>&1
clone=volumes/$(unique_name clone)
track_image 1 "$clone"
rbd1 clone "$parent@p" "$clone" >/dev/null 2>&1
write_random 1 "$clone" 2M 1M
cdst=volumes/$(unique_name cdst)
track_image 2 "$cdst"
expect_success "copy of a clone" copy --verify "$clone" "$cdst"
b=$(base_of 2 "$cdst")
expect_equal "clone copy equal, parent data included" \
    "$(image_checksum 1 "$clone@$b")" "$(image_checksum 2 "$cdst@$b")"
expect_equal "destination keeps the 1 MiB object size" 20 \
    "$(rbd2 info --format json "$cdst" | json_get order)"
expect_equal "the copy is standalone (no parent)" "None" \
    "$(rbd2 info --format json "$cdst" | json_get parent)"

# ---- a destination cluster that stops answering ---------------------------------
# ceph2's OSDs are paused (`ceph osd pause`: clients hold every request, as
# with a cluster that stopped answering; nothing is lost) while a seed
# streams. The copy must fail by itself (Ceph timeout RBDMOVE_CEPH_TIMEOUT=5,
# then the bounded wait for librbd to close), saying so, and leave no base
# snapshot; once the cluster answers again a copy succeeds. (SIGSTOP of the
# OSD left requests "waiting for readable" for good after SIGCONT.)
frz=volumes/$(unique_name frozen)
frzdst=volumes/$(unique_name frozendst)
make_image 1 "$frz" 64M
track_image 2 "$frzdst"
write_random 1 "$frz" 0 48M
# timeout: a watchdog for a copy that would hang, not a measure.
RBDMOVE_CEPH_TIMEOUT=5 timeout 300 "$RBDMOVE" copy --src-conf "$CEPH1_CONF" \
    --dst-conf "$CEPH2_CONF" --bwlimit 16M --progress never "$frz" "$frzdst" \
    >"$T/frozen.log" 2>&1 &
cpid=$!
# The seed's mark is set before its first write: the copy is under way.
wait_meta "$frzdst" rbdmove.seed
ceph2 osd pause >/dev/null 2>&1 || fail "cannot pause ceph2"
t0=$SECONDS
wait $cpid
rc=$?
took=$((SECONDS - t0))
ceph2 osd unpause >/dev/null 2>&1 || fail "cannot unpause ceph2"
cp "$T/frozen.log" "$LAST_OUTPUT"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -lt 128 ] &&
    pass "the copy fails by itself when the destination stops answering ($took s)" ||
    fail "exit status $rc after $took s"
grep -qi "timed out" "$T/frozen.log" && pass "...saying it timed out" ||
    fail "message: $(tail -n 3 "$T/frozen.log")"
expect_equal "no base snapshot after the stalled copy" "" "$(base_of 2 "$frzdst")"
expect_success "copy once the cluster answers again" copy "$frz" "$frzdst"
b=$(base_of 2 "$frzdst")
expect_equal "copy after the stall equal" "$(image_checksum 1 "$frz@$b")" \
    "$(image_checksum 2 "$frzdst@$b")"
