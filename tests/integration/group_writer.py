#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A writer whose images must be snapshotted at one instant: it writes
counter n into the first 4 KiB of image A, then the same n into image B,
each write acknowledged before the next, n = 1, 2, ... until SECONDS pass
or it is killed; between two counters, 64 KiB of random data at a random
offset within the first 16 MiB of each image, and a pause of 2 ms (the
rounds stay small). Any instant then shows A holding n and B n or n-1;
two snapshots taken one after the other show B ahead of A, or A further
ahead. check mode reads block 0 of two images (or snapshots) and says
whether they fit that rule.

usage: group_writer.py write CONF POOL/A POOL/B SECONDS
       group_writer.py check CONF POOL/A[@SNAP] POOL/B[@SNAP]
"""
import os
import random
import signal
import struct
import sys
import time

import rados
import rbd


# Stopped with SIGTERM, it closes the image (its lock released, its watch
# gone) as a guest shut down would, instead of leaving them to a dead
# client for the watch's 30 s; kill -9 is there for a crash.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

def open_image(ioctx, spec):
    name, _, snap = spec.partition("@")
    return rbd.Image(ioctx, name, snapshot=snap or None, read_only=bool(snap))


def main():
    mode, conf = sys.argv[1], sys.argv[2]
    pool_a, _, spec_a = sys.argv[3].partition("/")
    pool_b, _, spec_b = sys.argv[4].partition("/")
    with rados.Rados(conffile=conf) as cluster:
        with cluster.open_ioctx(pool_a) as io_a, \
                cluster.open_ioctx(pool_b) as io_b:
            a, b = open_image(io_a, spec_a), open_image(io_b, spec_b)
            try:
                if mode == "check":
                    na = struct.unpack("<Q", a.read(0, 8))[0]
                    nb = struct.unpack("<Q", b.read(0, 8))[0]
                    ok = na == nb or na == nb + 1
                    print("%s a=%d b=%d" % ("consistent" if ok else
                                            "INCONSISTENT", na, nb))
                    return 0 if ok else 1
                seconds = float(sys.argv[5])
                blocks = min(a.size(), 16 << 20) // 65536
                start, n = time.monotonic(), 0
                while time.monotonic() - start < seconds:
                    n += 1
                    block = struct.pack("<Q", n) + bytes(4088)
                    a.write(block, 0)
                    b.write(block, 0)
                    for img in (a, b):
                        img.write(os.urandom(65536),
                                  random.randrange(1, blocks) * 65536)
                    time.sleep(0.002)
                return 0
            finally:
                a.close()
                b.close()


sys.exit(main())
