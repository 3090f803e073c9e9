#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write random data at scattered offsets of an RBD image (benchmark helper).

    rbd_write.py CONF POOL/IMAGE --count N --size SIZE [--align SIZE]
                 [--seed N] [--window N] [--allocated] [--json]

Picks COUNT distinct ALIGN-aligned slots (default ALIGN = SIZE) uniformly
over the whole image (with --allocated: over the extents that hold data
already, so that an overwrite costs the same on a 2 GiB image as on a
1 TiB one) and writes SIZE bytes of fresh random data into each,
with WINDOW asynchronous writes in flight. Distinct slots mean no write
overlaps another, so exactly COUNT * SIZE bytes change. Data is random
(numpy's PCG64 when numpy is there, else random.randbytes): nothing in it
is zero at 4 KiB granularity and nothing compresses.

Needs Debian's python3-rbd: run it with /usr/bin/python3, not a pyenv one.
Prints one line (or one JSON object with --json): bytes written, writes,
seconds, MiB/s.
"""
import argparse
import json
import random
import sys
import time
from collections import deque

import rados
import rbd

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def size(text):
    t = text.upper().removesuffix("IB").removesuffix("B")
    unit = t[-1] if t and t[-1] in UNITS else ""
    return int(t[: len(t) - len(unit)]) * UNITS[unit]


def data_source(seed):
    try:
        import numpy

        gen = numpy.random.default_rng(seed)
        return gen.bytes
    except ImportError:
        gen = random.Random(seed)
        return gen.randbytes


def allocated_slots(image, size, align):
    """The ALIGN-aligned slots of SIZE bytes inside extents holding data."""
    extents = []
    image.diff_iterate(
        0, image.size(), None,
        lambda off, length, exists: extents.append((off, length)) if exists else None,
    )
    slots = []
    for off, length in extents:
        first = -(-off // align)
        while first * align + size <= off + length:
            slots.append(first)
            first += 1
    return slots


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("conf")
    ap.add_argument("spec", metavar="POOL/IMAGE")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=size, required=True)
    ap.add_argument("--align", type=size, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--allocated", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    align = a.align or a.size
    if a.size <= 0 or align <= 0 or a.count < 0 or a.window < 1:
        sys.exit("rbd_write: bad --count/--size/--align/--window")
    seed = a.seed if a.seed is not None else random.SystemRandom().getrandbits(63)
    pool, _, name = a.spec.rpartition("/")
    rng = random.Random(seed)
    data = data_source(seed + 1)

    with rados.Rados(conffile=a.conf) as cluster:
        with cluster.open_ioctx(pool) as ioctx:
            with rbd.Image(ioctx, name) as image:
                if a.allocated:
                    slots = allocated_slots(image, a.size, align)
                else:
                    slots = range((image.size() - a.size) // align + 1)
                if a.size > image.size() or a.count > len(slots):
                    sys.exit(
                        f"rbd_write: {a.count} writes of {a.size} bytes do "
                        f"not fit into {a.spec} ({image.size()} bytes"
                        f"{', where it holds data' if a.allocated else ''})"
                    )
                offsets = sorted(o * align for o in rng.sample(slots, a.count))
                rng.shuffle(offsets)  # scattered in time as well as in space
                failed = []
                inflight = deque()

                def done(completion):
                    r = completion.get_return_value()
                    if r < 0:
                        failed.append(r)

                t0 = time.monotonic()
                for off in offsets:
                    while len(inflight) >= a.window:
                        inflight.popleft().wait_for_complete_and_cb()
                    inflight.append(image.aio_write(data(a.size), off, done))
                while inflight:
                    inflight.popleft().wait_for_complete_and_cb()
                image.flush()
                secs = time.monotonic() - t0
                if failed:
                    sys.exit(f"rbd_write: {len(failed)} writes failed ({failed[0]})")

    total = a.count * a.size
    res = {
        "bytes": total,
        "writes": a.count,
        "seconds": round(secs, 3),
        "mib_s": round(total / (1 << 20) / secs, 1) if secs > 0 else 0,
        "seed": seed,
    }
    if a.json:
        print(json.dumps(res))
    else:
        print(
            f"wrote {total} bytes in {a.count} writes of {a.size} at random "
            f"{align}-aligned offsets in {secs:.2f} s "
            f"({res['mib_s']} MiB/s, seed {seed})"
        )


if __name__ == "__main__":
    main()
