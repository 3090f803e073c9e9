#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 120
# The receiver's requests sent in one batch (protocol 6), spoken directly
# to a real `rbdmove receive --serve` on ceph2 by
# tests/integration/receiver_chain.py:
#   - "&& REQUEST" is done only if the request before it succeeded: a
#     seed's mark never lands on an image its create did not make (one
#     that appeared between the probe and the create);
#   - a refused or failed apply closes the data sessions the client may be
#     writing already (streams sent before apply's ok), so that a client
#     hears of it at once instead of waiting on a full window; the commit
#     a client sends right behind its streams is not done after it.
. "$(dirname "$0")/lib.sh"
lab_require ceph

HERE=$(cd "$(dirname "$0")" && pwd)

foreign=volumes/$(unique_name foreign)
make_image 2 "$foreign" 8M
write_random 2 "$foreign" 0 1M
sum=$(image_checksum 2 "$foreign")

expect_success "a batch stops at its first failure; apply's streams close" \
    python3 "$HERE/receiver_chain.py" "$RBDMOVE" "$CEPH2_CONF" "$foreign"
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
