#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the small sample "rbd diff v1" streams in tests/data/.

The layout follows what `rbd export-diff` writes (Ceph's
src/tools/rbd/action/Export.cc, format 1): banner, 'f' (only with a
from-snap), 't' (only when exporting a snapshot), 's' (always), 'w'/'z'
records in ascending offset order, 'e'. Integers are little-endian; names
are a le32 length and the bytes. The output is deterministic, so running
this again must leave git with nothing to commit. The unit tests decode
every file, and scripts/fuzz.sh uses them as the seed corpus.

Usage: tests/data/make-streams.py [OUTDIR]   (default: this directory)
"""
import os
import struct
import sys

BANNER = b"rbd diff v1\n"


def name(tag, s):
    b = s.encode()
    return tag + struct.pack("<I", len(b)) + b


def size(n):
    return b"s" + struct.pack("<Q", n)


def write(off, data):
    return b"w" + struct.pack("<QQ", off, len(data)) + data


def zero(off, length):
    return b"z" + struct.pack("<QQ", off, length)


def pattern(n, seed):
    """Deterministic bytes that are not all zeros (an LCG, no random)."""
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


MIB = 1 << 20

STREAMS = {
    # `rbd export-diff pool/img@s1` of an image nothing was written to.
    "empty.diff": BANNER + name(b"t", "s1") + size(1 << 30) + b"e",
    # A first, full export: data, a range that reads back as zeros, data.
    "full.diff": BANNER
    + name(b"t", "rbdmove-1")
    + size(4 * MIB)
    + write(0, pattern(4096, 1))
    + zero(4096, 8192)
    + write(1 * MIB, pattern(512, 2))
    + b"e",
    # An incremental round: from-snap, a discard, scattered writes, growth.
    "incremental.diff": BANNER
    + name(b"f", "rbdmove-1")
    + name(b"t", "rbdmove-2")
    + size(8 * MIB)
    + zero(0, 4096)
    + write(64 * 1024, pattern(1000, 3))
    + write(5 * MIB, pattern(4096, 4))
    + zero(6 * MIB, 2 * MIB)
    + b"e",
    # One data record larger than a pipe's buffer.
    "large-write.diff": BANNER
    + name(b"t", "big")
    + size(1 * MIB)
    + write(0, pattern(65536, 5))
    + b"e",
}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    for fname, data in sorted(STREAMS.items()):
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
