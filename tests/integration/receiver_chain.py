#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Speak the receiver's protocol (rbdmove/core/receiver.c) to a real
`rbdmove receive --serve` on POOL/IMAGE, an image that exists already,
and check that

  - a batch of requests sent at once stops at its first failure: after
    a "create" that fails (the image exists), "&& meta" is refused and
    sets nothing; after a success, "&& meta" is done;
  - a refused "&& apply", and an apply that fails by itself, close the
    data sessions a client may be writing before apply's ok: a session
    connected to the receiver's socket reads its end, and the socket is
    gone; the "&& commit" sent behind a transfer that failed is not
    done.

Each step has a deadline (a receiver that hangs fails the check, it
never hangs the test). Prints one line per check; exits 1 on the first
failed one.

usage: receiver_chain.py RBDMOVE CONF POOL/IMAGE [DEAD_CONF]
"""
import os
import select
import socket
import subprocess
import sys
import time
import urllib.parse

rbdmove, conf, spec = sys.argv[1], sys.argv[2], sys.argv[3]
DEADLINE = 30.0


def check(ok, what):
    print(("ok: " if ok else "FAILED: ") + what, flush=True)
    if not ok:
        sys.exit(1)


def must(ok, what):
    """A check said only when it fails."""
    if not ok:
        check(ok, what)


class Receiver:
    def __init__(self, greet=None, conf=conf):
        extra = ["--greet", greet] if greet else []
        self.p = subprocess.Popen(
            [rbdmove, "receive", "--serve"] + extra + ["-c", conf, spec],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""

    def send(self, *lines):
        """All the lines in one write: one batch, as the client sends."""
        self.p.stdin.write(("\n".join(lines) + "\n").encode())
        self.p.stdin.flush()

    def answer(self):
        end = time.monotonic() + DEADLINE
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            must(left > 0, "the receiver answered within %.0f s" % DEADLINE)
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                must(chunk != b"", "the receiver is still there")
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return [urllib.parse.unquote(t) for t in line.decode().split(" ")]

    def quit(self):
        self.send("quit")
        try:
            rc = self.p.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = "hung"
        check(rc == 0, "the receiver quits with status 0 (%s)" % rc)


def hello(r):
    r.send("hello")
    a = r.answer()
    check(a[0] == "ok" and "version=7" in a, "hello: %s" % " ".join(a))


def greeting(r, what):
    """The two answers a --greet receiver sends unasked: hello's and the
    socket of "streams" (returned)."""
    a = r.answer()
    check(a[0] == "ok" and "version=7" in a,
          "%s, greeting: %s" % (what, " ".join(a)))
    a = r.answer()
    check(a[0] == "ok" and a[1].startswith("socket="),
          "%s, streams: %s" % (what, " ".join(a)))
    return a[1][len("socket="):]


def open_streams(r):
    """"streams 1 0", then one data session connected to its socket and
    writing: not accepted yet, as when a client writes ahead of apply."""
    r.send("streams 1 0")
    a = r.answer()
    check(a[0] == "ok" and a[1].startswith("socket="), "streams: %s" % a)
    path = a[1][len("socket="):]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"\0" * 65536)
    return s, path


def closed_soon(s, path, what):
    s.settimeout(DEADLINE)
    try:
        got = s.recv(1)
    except ConnectionResetError:
        got = b""
    except socket.timeout:
        got = None
    check(got == b"", "%s: the data session is closed" % what)
    check(not os.path.exists(path), "%s: its socket is gone" % what)


# 1. A seed's create and mark in one batch, the create failing.
r = Receiver()
hello(r)
r.send("create 8388608 22", "%26%26 meta rbdmove.seed m%201",
       "%26%26 meta rbdmove.base b%201")
a = r.answer()
check(a[0] == "err", "create of an image that exists fails: %s" % " ".join(a))
for key in ("rbdmove.seed", "rbdmove.base"):
    a = r.answer()
    check(a[0] == "err" and "not done" in " ".join(a),
          "&& meta %s after it is not done: %s" % (key, " ".join(a)))
# A chain whose first request succeeds goes on.
r.send("meta rbdmove.chain_ok1 yes", "%26%26 meta rbdmove.chain_ok2 yes")
check(r.answer() == ["ok"], "meta: ok")
check(r.answer() == ["ok"], "&& meta after it: ok")
r.quit()

# 2. Streams written before apply's ok; the create before apply fails.
r = Receiver()
hello(r)
s, path = open_streams(r)
r.send("create 8388608 22", "%26%26 apply 1 0 2 4194304 1")
check(r.answer()[0] == "err", "create fails")
a = r.answer()
check(a[0] == "err" and "not done" in " ".join(a),
      "&& apply after it is not done: %s" % " ".join(a))
closed_soon(s, path, "refused apply")
r.quit()

# 3. An apply that fails by itself (more streams than announced), with the
# commit that a sender sends right behind its streams (the round's
# snapshot and base mark): not done.
r = Receiver()
hello(r)
s, path = open_streams(r)
r.send("apply 2 0 2 4194304 1",
       "%26%26 commit chain-snap rbdmove.base b%201 rbdmove.pending")
a = r.answer()
check(a[0] == "err", "apply of 2 streams after streams 1 fails: %s"
      % " ".join(a))
a = r.answer()
check(a[0] == "err" and "not done" in " ".join(a),
      "&& commit after it is not done: %s" % " ".join(a))
closed_soon(s, path, "failed apply")
r.quit()

# 4. A greeting receiver (protocol 7, --greet STREAMS,LEVEL) answers hello
# and "streams" before it is asked anything; requests follow as usual.
r = Receiver(greet="1,0")
path = greeting(r, "live cluster")
r.send("probe")
a = r.answer()
check(a[0] == "ok" and "exists=1" in a, "then a probe: %s" % " ".join(a)[:60])
for _ in range(int(a[-1].split("=")[1])):
    r.answer()  # its snapshots
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
check(True, "the greeted socket takes a data session")
s.close()
r.quit()

# 5. The greeting goes out before the cluster connect: with a cluster that
# never answers, hello and streams are answered, then the connect's
# failure in place of the first request's answer.
if len(sys.argv) > 4:
    r = Receiver(greet="2,0", conf=sys.argv[4])
    path = greeting(r, "dead cluster")
    r.send("probe")
    a = r.answer()
    check(a[0] == "err", "dead cluster, the probe's answer is the connect's "
          "failure: %s" % " ".join(a))
    rc = r.p.wait(DEADLINE)
    check(rc != 0, "the receiver exits with status %d" % rc)
    check(not os.path.exists(path), "its socket is gone")
