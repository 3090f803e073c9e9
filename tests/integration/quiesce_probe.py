#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A client of an RBD image that answers librbd's quiesce requests, as a
hypervisor's (rbd-nbd's fsfreeze hook) does: it holds the image open with
a quiesce watcher (rbd_quiesce_watch, through ctypes: the Python binding
has none) until SIGTERM, and prints one line per request. With
"refuse" it answers every quiesce with EBUSY, as a guest that cannot
freeze would.

usage: quiesce_probe.py CONF POOL/IMAGE accept|refuse
"""
import ctypes
import errno
import signal
import sys
import threading

conf, spec, mode = sys.argv[1], sys.argv[2], sys.argv[3]
pool, _, name = spec.rpartition("/")
rados = ctypes.CDLL("librados.so.2")
rbd = ctypes.CDLL("librbd.so.1")
vp = ctypes.c_void_p
cluster, ioctx, image = vp(), vp(), vp()
handle = ctypes.c_uint64()


def check(r, what):
    if r < 0:
        sys.exit("quiesce_probe: %s: %s" % (what, errno.errorcode.get(-r, r)))


check(rados.rados_create(ctypes.byref(cluster), None), "rados_create")
check(rados.rados_conf_read_file(cluster, conf.encode()), "conf")
check(rados.rados_connect(cluster), "connect")
check(rados.rados_ioctx_create(cluster, pool.encode(), ctypes.byref(ioctx)),
      "ioctx")
check(rbd.rbd_open(ioctx, name.encode(), ctypes.byref(image), None), "open")
CB = ctypes.CFUNCTYPE(None, vp)
rbd.rbd_quiesce_complete.argtypes = [vp, ctypes.c_uint64, ctypes.c_int]


def on_quiesce(_arg):
    r = -errno.EBUSY if mode == "refuse" else 0
    print("quiesce %s" % ("refused" if r else "done"), flush=True)
    rbd.rbd_quiesce_complete(image, handle.value, r)


def on_unquiesce(_arg):
    print("unquiesce", flush=True)


qcb, ucb = CB(on_quiesce), CB(on_unquiesce)
check(rbd.rbd_quiesce_watch(image, qcb, ucb, None, ctypes.byref(handle)),
      "quiesce_watch")
print("watching", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
while not done.wait(0.2):
    pass
rbd.rbd_quiesce_unwatch(image, handle)
rbd.rbd_close(image)
rados.rados_ioctx_destroy(ioctx)
rados.rados_shutdown(cluster)
