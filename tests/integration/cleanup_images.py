#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Remove a test's images at its end, all at once, in one process.

Reads "CLUSTER POOL/IMAGE" lines (CLUSTER 1 or 2, newest first) on stdin;
CONF1 and CONF2 are the clusters' configurations. For each image that
exists: the locks dead clients left are broken and the clients that
still watch it are blocklisted (the test is over: its processes are gone,
so they are dead, and each would hold a step below for 30 s), its
snapshots go (unprotected first), then the image. Each image on a thread
of its own: a snapshot's removal waits for its monitor (up to a second),
and side by side they share that wait; one process instead of a dozen
`rbd` runs per image (t20's clean-up took 25-35 s).

Prints "CLUSTER POOL/IMAGE" for each image it could not remove (a parent
whose clones went later, a group's snapshot): the caller tries those
again, newest first, and says why they stay.

usage: cleanup_images.py CONF1 CONF2 TIMEOUT < list
"""
import concurrent.futures
import sys

import rados
import rbd

conf = {"1": sys.argv[1], "2": sys.argv[2]}
timeout = sys.argv[3]
todo = [line.split() for line in sys.stdin if len(line.split()) == 2]
clusters = {}


def connect(c):
    if c not in clusters:
        r = rados.Rados(conffile=conf[c])
        for opt in ("rados_osd_op_timeout", "rados_mon_op_timeout",
                    "client_mount_timeout"):
            r.conf_set(opt, timeout)
        r.connect()
        clusters[c] = r
    return clusters[c]


def blocklist(cl, addr):
    cmd = ('{"prefix": "osd blocklist", "blocklistop": "add", '
           '"addr": "%s", "expire": 600.0}' % addr)
    cl.mon_command(cmd, b"")


def remove(c, spec):
    cl = connect(c)
    pool, _, name = spec.rpartition("/")
    with cl.open_ioctx(pool) as io:
        try:
            img = rbd.Image(io, name)
        except rbd.ImageNotFound:
            return True
        try:
            lockers = img.list_lockers()  # [] when there are none
            for locker in (lockers or {}).get("lockers", []):
                img.break_lock(locker[0], locker[1])
            for w in img.watchers_list():
                if w["id"] != cl.get_instance_id():  # not this very handle
                    blocklist(cl, w["addr"])
            for s in img.list_snaps():
                if s.get("namespace", rbd.RBD_SNAP_NAMESPACE_TYPE_USER) != \
                        rbd.RBD_SNAP_NAMESPACE_TYPE_USER:
                    continue
                if img.is_protected_snap(s["name"]):
                    img.unprotect_snap(s["name"])
                img.remove_snap(s["name"])
        finally:
            img.close()
        rbd.RBD().remove(io, name)
    return True


def attempt(item):
    try:
        return remove(*item)
    except (rados.Error, rbd.Error, OSError):
        return False


# One connection per cluster, made before the threads start.
for c in sorted({c for c, _ in todo}):
    try:
        connect(c)
    except (rados.Error, OSError):
        pass
with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
    done = list(pool.map(attempt, todo))
# A parent fails while its clone is still there: once more, newest first.
for (c, spec), ok in zip(todo, done):
    if not ok and not attempt((c, spec)):
        print(c, spec)
for r in clusters.values():
    r.shutdown()
