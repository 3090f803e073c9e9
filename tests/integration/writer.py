#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A live writer for tests: random 64 KiB writes into an RBD image through
librbd, at about RATE bytes per second, until killed or SECONDS pass. The
writes go to random offsets within [0, SPAN) of the image.

usage: writer.py CONF POOL/IMAGE RATE SECONDS [SPAN]
"""
import os
import random
import signal
import sys
import time

import rados
import rbd

# Stopped with SIGTERM, it closes the image (its lock released, its watch
# gone) as a guest shut down would, instead of leaving them to a dead
# client for the watch's 30 s; kill -9 is there for a crash.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

conf, spec, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    float(sys.argv[4])
pool, _, name = spec.rpartition("/")
io = 64 * 1024
with rados.Rados(conffile=conf) as cluster:
    with cluster.open_ioctx(pool) as ioctx:
        with rbd.Image(ioctx, name) as image:
            span = int(sys.argv[5]) if len(sys.argv) > 5 else image.size()
            blocks = span // io
            start = time.monotonic()
            written = 0
            while time.monotonic() - start < seconds:
                image.write(os.urandom(io), random.randrange(blocks) * io)
                written += io
                ahead = written / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
                    image.flush()
