#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 120
# The receiver's requests sent in one batch (protocol 6) and its greeting
# (protocol 7), spoken directly to a real `rbdmove receive --serve` on
# ceph2 by
# tests/integration/receiver_chain.py:
#   - "&& REQUEST" is done only if the request before it succeeded: a
#     seed's mark never lands on an image its create did not make (one
#     that appeared between the probe and the create);
#   - a refused or failed apply closes the data sessions the client may be
#     writing already (streams sent before apply's ok), so that a client
#     hears of it at once instead of waiting on a full window; the commit
#     a client sends right behind its streams is not done after it;
#   - a receiver started with --greet (protocol 7) answers hello and
#     streams unasked, before its cluster connect: with a cluster that never
#     answers, the connect's failure comes in place of the first answer;
#     a malformed --greet is refused before anything.
. "$(dirname "$0")/lib.sh"
lab_require ceph

HERE=$(cd "$(dirname "$0")" && pwd)

foreign=volumes/$(unique_name foreign)
make_image 2 "$foreign" 8M
write_random 2 "$foreign" 0 1M
sum=$(image_checksum 2 "$foreign")

printf '[global]\nmon_host = 192.0.2.1\nauth_client_required = none\n' \
    >"$TEST_TMP/dead.conf"
expect_success "a batch stops at its first failure; apply's streams close" \
    env RBDMOVE_CEPH_TIMEOUT=3 python3 "$HERE/receiver_chain.py" "$RBDMOVE" \
    "$CEPH2_CONF" "$foreign" "$TEST_TMP/dead.conf"
sed 's/^/# /' "$LAST_OUTPUT"

expect_equal "the image the create found is untouched" "$sum" \
    "$(image_checksum 2 "$foreign")"
meta=$(rbd2 image-meta list "$foreign" 2>&1)
expect_equal "no mark was set on it" "" \
    "$(grep -o 'rbdmove[.a-z_]*' <<<"$meta" | grep -v '^rbdmove.chain_ok' | sort -u)"
expect_equal "no snapshot was made on it" "" \
    "$(rbd2 snap ls --format json "$foreign" 2>/dev/null | grep -o chain-snap)"
expect_equal "the chain after a success went on" "yes" \
    "$(rbd2 image-meta get "$foreign" rbdmove.chain_ok2 2>/dev/null)"

for bad in "" 8 8, ,0 x,0 8,0x 99999999999999999999,0; do
    expect_exit 2 "--greet '$bad' is refused" \
        rbdmove receive --serve --greet "$bad" -c "$CEPH2_CONF" "$foreign"
    expect_equal "... saying what it takes" 1 \
        "$(grep -c 'STREAMS,LEVEL' "$LAST_OUTPUT")"
done
expect_exit 2 "--greet without --serve is refused" \
    rbdmove receive --greet 1,0 --join /nonexistent
