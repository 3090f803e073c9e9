#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stands in for a running VM in the move tests: writes random 64 KiB blocks
into the volume's RBD image (holding it open, as a hypervisor would, so
that it is a watcher) at about RATE bytes per second, until Cinder says the
volume is no longer in use (the detach), then flushes, closes and exits.
Appends each write's offset to LOG, so a test can tell writes happened.

usage: vm_writer.py CONF POOL/IMAGE RATE VOLUME_ID REGION [SECONDS_MAX]
Reads the lab's environment (RBM_AUTH_URL or OS_AUTH_URL, RBM_OS_DEMO_*),
and VM_WRITER_SPAN (bytes): write only the image's first SPAN bytes.
"""
import json
import os
import random
import signal
import sys
import time
import urllib.request

import rados
import rbd

conf, spec, rate, vol, region = sys.argv[1:6]
limit = float(sys.argv[6]) if len(sys.argv) > 6 else 600
rate = int(rate)
E = os.environ
auth_url = E.get("RBM_AUTH_URL") or E["OS_AUTH_URL"]


def call(method, url, token=None, body=None):
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        h["X-Auth-Token"] = token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers, json.loads(r.read() or b"null")


hdr, tok = call("POST", auth_url + "/auth/tokens", body={"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": E["RBM_OS_DEMO_USERNAME"], "domain": {"name": "Default"},
        "password": E["RBM_OS_DEMO_PASSWORD"]}}},
    "scope": {"project": {"name": E["RBM_OS_DEMO_PROJECT_NAME"],
                          "domain": {"name": "Default"}}}}})
token = hdr["X-Subject-Token"]
cinder = None
for s in tok["token"]["catalog"]:
    if s["type"] in ("volumev3", "block-storage"):
        for e in s["endpoints"]:
            if e["region_id"] == region and e["interface"] == "public":
                cinder = e["url"].rstrip("/")


def in_use():
    _, b = call("GET", "%s/volumes/%s" % (cinder, vol), token)
    return b["volume"]["status"] in ("in-use", "detaching")


# Stopped with SIGTERM, it flushes and closes the image (its lock released,
# its watch gone) as a guest shut down would, instead of leaving them to a
# dead client for the watch's 30 s; kill -9 is there for a crash.
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
pool, _, name = spec.rpartition("/")
io = 64 * 1024
with rados.Rados(conffile=conf) as cluster:
    with cluster.open_ioctx(pool) as ioctx:
        with rbd.Image(ioctx, name) as image:
            # VM_WRITER_SPAN: write only the first SPAN bytes (a hot
            # region, as a database's); default the whole image.
            span = int(os.environ.get("VM_WRITER_SPAN", "0")) or image.size()
            blocks = min(span, image.size()) // io
            start = last_check = time.monotonic()
            written = 0
            while not stopping and time.monotonic() - start < limit:
                image.write(os.urandom(io), random.randrange(blocks) * io)
                written += io
                now = time.monotonic()
                if now - last_check > 0.1:
                    last_check = now
                    image.flush()
                    if not in_use():
                        break
                ahead = written / rate - (now - start)
                if ahead > 0:
                    time.sleep(min(ahead, 0.1))
            image.flush()
print(written)
