#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What the delay relay's emulated link carries: plain TCP through it.

    relay-check.py [--delay MS] [--rate RATE] [--buffer SIZE]
                   [--streams "1 4"] [--seconds 5] [--summary]

Starts scripts/bench/delay-relay.py (LISTEN_PORT 0, so any free port) in
front of a TCP sink of this process, on loopback, and for each stream
count sends as fast as TCP goes through it: N connections, each writing
256 KiB at a time, for --warmup seconds untimed and then --seconds timed.
Counts what the sink received in the timed part; prints the rate, its
share of --rate, the least and most any stream got (equal shares: 1/N
each), the round trip of a 1-byte ping through the relay with the link
idle and with the streams running (the queue in front of the wire adds
to it), and the relay's CPU use (one Python process: its ceiling).

--rate and --buffer are the relay's (see delay-relay.py --help); without
--rate the relay only delays, and the figures say how fast it copies.
--summary prints one line per stream count, as a sentence for a report.

No socket buffer is set: the relay ends both TCP connections on loopback,
where the round trip is tiny, so the kernel's defaults do; the bytes in
flight over the emulated link wait in the relay's queues.
"""
import argparse
import contextlib
import importlib.util
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCK = 256 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Target:
    """The relay's target: a sink ('S' first) or an echo ('E' first)."""

    def __init__(self):
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.lock = threading.Lock()
        self.sinks = []  # [bytes received], one per sink connection
        self.threads = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            conn, _ = self.srv.accept()
            t = threading.Thread(target=self.serve, args=(conn,), daemon=True)
            with self.lock:
                self.threads.append(t)
            t.start()

    def serve(self, conn):
        # A reset (the streams end so, and the relay at exit) ends it.
        with conn, contextlib.suppress(OSError):
            mode = conn.recv(1)
            if mode == b"E":
                while True:
                    b = conn.recv(64)
                    if not b:
                        return
                    conn.sendall(b)
            if mode != b"S":
                return
            count = [0]
            with self.lock:
                self.sinks.append(count)
            buf = bytearray(1 << 20)
            while True:
                n = conn.recv_into(buf)
                if not n:
                    return
                count[0] += n

    def counts(self):
        with self.lock:
            return [c[0] for c in self.sinks]

    def reset(self):
        """Wait for the previous test's sinks to end; forget them."""
        with self.lock:
            threads, self.threads = self.threads, []
        for t in threads:
            t.join(timeout=15)
        with self.lock:
            self.sinks = []


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class Pinger:
    """A 1-byte echo through the relay every `interval` seconds."""

    def __init__(self, port, interval=0.1):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(b"E")
        self.interval = interval
        self.samples = []
        self.on = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def once(self):
        t0 = time.monotonic()
        self.sock.sendall(b"p")
        if self.sock.recv(64) == b"":
            raise ConnectionError("the echo ended")
        return time.monotonic() - t0

    def run(self):
        while True:
            self.on.wait()
            try:
                rtt = self.once()
            except OSError:  # the relay has gone: the end
                return
            if self.on.is_set():
                self.samples.append(rtt)
            time.sleep(self.interval)

    def measure(self, on):
        if on:
            self.samples = []
            self.on.set()
        else:
            self.on.clear()
            return self.samples


def run_streams(a, port, target, relay_pid, pinger):
    target.reset()
    stop = threading.Event()
    socks = []
    for _ in range(a.n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"S")
        socks.append(s)

    def send(s):
        block = memoryview(bytes(BLOCK))
        try:
            while not stop.is_set():
                s.sendall(block)
        except OSError:
            pass

    threads = [threading.Thread(target=send, args=(s,), daemon=True)
               for s in socks]
    for t in threads:
        t.start()
    time.sleep(a.warmup)
    pinger.measure(True)
    c0, t0, cpu0 = target.counts(), time.monotonic(), cpu_seconds(relay_pid)
    time.sleep(a.seconds)
    c1, t1, cpu1 = target.counts(), time.monotonic(), cpu_seconds(relay_pid)
    rtts = pinger.measure(False)
    stop.set()
    for s in socks:
        # Reset rather than close: nothing left in the senders' buffers
        # goes through the relay, so the next test starts on an idle link.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    for t in threads:
        t.join(timeout=5)
    if len(c0) != a.n or len(c1) != a.n:
        sys.exit(f"relay-check: {len(c1)} of {a.n} streams reached the sink")
    dt = t1 - t0
    per = [(y - x) * 8 / dt for x, y in zip(c0, c1)]
    return {
        "bps": sum(per), "per": per, "seconds": dt,
        "cpu": (cpu1 - cpu0) / dt,
        "rtt": statistics.median(rtts) if rtts else float("nan"),
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=float, default=40.0, metavar="MS",
                    help="one-way delay (default 40)")
    ap.add_argument("--rate", metavar="RATE",
                    help="line rate per direction, bits/s: 400M, 1G "
                    "(default: none)")
    ap.add_argument("--buffer", metavar="SIZE",
                    help="the relay's shared queue (default: its own)")
    ap.add_argument("--streams", default="1 4",
                    help='stream counts to try (default "1 4")')
    ap.add_argument("--seconds", type=float, default=5.0,
                    help="timed seconds per stream count (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="untimed seconds first (default 1)")
    ap.add_argument("--relay", default=os.path.join(HERE, "delay-relay.py"))
    ap.add_argument("--summary", action="store_true",
                    help="one sentence per stream count")
    a = ap.parse_args()
    counts = [int(n) for n in a.streams.split()]
    if not counts or min(counts) < 1:
        sys.exit("relay-check: --streams wants counts of at least 1")
    # The relay's own parser and format, so that both read RATE alike
    # (no __pycache__ left in the source tree).
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location("relay", a.relay)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fmt_rate = mod.format_rate
    rate = None
    if a.rate:
        try:
            rate = mod.parse_rate(a.rate)
        except argparse.ArgumentTypeError as e:
            sys.exit(f"relay-check: --rate {e}")

    # A TERM (bench-ssh.sh's exit) must still stop the relay: finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    target = Target()
    cmd = [sys.executable, a.relay, "0", str(target.port), str(a.delay)]
    if a.rate:
        cmd += ["--rate", a.rate]
    if a.buffer:
        cmd += ["--buffer", a.buffer]
    relay = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = relay.stdout.readline()
        if not line.startswith("listening on "):
            sys.exit(f"relay-check: the relay did not start: {line!r}")
        port = int(line.rsplit(":", 1)[1])
        pinger = Pinger(port)
        idle = statistics.median(pinger.once() for _ in range(5))
        link = f"+{a.delay:g} ms each way"
        if rate:
            link += f", {fmt_rate(rate)}"
            if a.buffer:
                link += f", buffer {a.buffer}"
        else:
            link += ", no rate limit"
        if not a.summary:
            print(f"relay {link}; 1-byte ping idle: {idle * 1000:.1f} ms")
        for n in counts:
            a.n = n
            r = run_streams(a, port, target, relay.pid, pinger)
            share = f" = {r['bps'] / rate * 100:.1f}% of the line" \
                if rate else ""
            fair = ""
            if n > 1:
                lo, hi = min(r["per"]), max(r["per"])
                fair = (f" (per stream {lo / r['bps'] * 100:.1f}"
                        f"-{hi / r['bps'] * 100:.1f}%)")
            rtt = f"ping {r['rtt'] * 1000:.1f} ms"
            if a.summary:
                print(f"Plain TCP through the relay ({link}), {n} stream"
                      f"{'s' if n > 1 else ''}, {r['seconds']:.1f} s: "
                      f"{fmt_rate(r['bps'])}{share}{fair}; {rtt} loaded, "
                      f"{idle * 1000:.1f} ms idle; relay CPU "
                      f"{r['cpu'] * 100:.0f}% of a core.", flush=True)
            else:
                print(f"{n} stream{'s' if n > 1 else ' '}: "
                      f"{fmt_rate(r['bps'])}{share}{fair}; {rtt}; "
                      f"relay CPU {r['cpu'] * 100:.0f}%", flush=True)
    finally:
        relay.terminate()
        relay.wait()


if __name__ == "__main__":
    main()
