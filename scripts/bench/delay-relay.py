#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A TCP relay on loopback that adds latency and, optionally, a line rate.

    delay-relay.py LISTEN_PORT TARGET_PORT DELAY_MS [--rate RATE]
                   [--buffer SIZE] [--host 127.0.0.1]

Accepts connections on HOST:LISTEN_PORT and forwards each to
HOST:TARGET_PORT, holding every chunk DELAY_MS milliseconds in each
direction (so the round trip grows by twice DELAY_MS). This kernel has no
netem; this stands in for it (scripts/bench-ssh.sh). LISTEN_PORT 0 lets
the kernel pick a free port; the line printed when ready names it.

The delay pipelines: a reader task stamps each chunk with the time it
arrived and queues it, and a writer task sends it when its time has come,
while the reader goes on reading. Delay is therefore not serialisation: a
stream that keeps the pipe full moves as fast as without the relay (up to
what this process can copy), and only a protocol that waits for answers
(SSH's channel windows, handshakes; not TCP's, see below) feels the round
trip. Each
direction buffers at most QUEUE_CHUNKS chunks; beyond that the reader
stops and TCP's own flow control pushes back, as a real router's queue
would.

--rate RATE adds a bandwidth limit: RATE is in bits per second, a number
with an optional SI suffix K, M or G (x 1000, x 1000^2, x 1000^3) and an
optional "bit", "bit/s" or "bps": --rate 400M, --rate 400Mbit/s and
--rate 400000000 are all 400 Mbit/s; --rate 1G is 1 Gbit/s. The link is
full duplex: each direction is one wire of RATE, shared by all the
connections going that way. A chunk of n bytes occupies its wire for
n * 8 / RATE seconds; chunks go on the wire in the order they arrived,
whichever connection they came from (first in, first out, so parallel
streams that keep it busy get equal shares), and each is delivered DELAY_MS
after its last bit left the wire (serialisation, then propagation). Chunks
are then at most CHUNK_RATED bytes, so that one connection's chunk holds
the wire for a short time (1.3 ms at 400 Mbit/s).

In front of each wire sits one queue shared by all its connections, like
a router's buffer: --buffer SIZE bytes (suffix K, M or G: KiB, MiB, GiB;
default: 10 ms of RATE, at least 4 chunks; 500 kB at 400 Mbit/s). A chunk
that does not fit waits, its reader with it, until the wire has drained
enough; TCP's flow control then holds the sender back. Nothing is ever
dropped, so senders keep this queue full whenever they offer more than
RATE: under load every chunk waits about SIZE * 8 / RATE seconds on top of
DELAY_MS (10 ms by default), plus up to one chunk per busy connection
whose reader waits to get in. Smaller is kinder to protocols that wait
for answers but lets the wire go idle whenever this process is late by
more than that (with one chunk's room, 64K, plain TCP got 61% of
400 Mbit/s; relay-check.py measures it). On a loaded machine this
process is late by more than 10 ms at times (20 to 200 ms seen here at
a load of 3 to 5 on 2 cores), and the line loses that time: stopped for
40 ms every 250 ms, the relay carried 87% of 400 Mbit/s. A share below
what relay-check shows on a quiet machine may be the relay's, not the
sender's. Without --rate nothing of this applies: chunks are not
serialised and there is no shared queue.

TCP does not cross the relay end to end: each side's connection ends at
the relay, on loopback, so a sender's window, congestion control and
socket buffers never see DELAY_MS; the bytes in flight wait in the relay's
queues instead. Windows kept by the application above TCP (SSH's channel
windows, a request-and-answer protocol) do feel the round trip.

Prints "listening on HOST:PORT" on stdout once ready, then serves until
killed. Loopback only: it refuses any other address.
"""
import argparse
import asyncio
import re
import socket
import sys

CHUNK = 256 * 1024
QUEUE_CHUNKS = 256  # at most 64 MiB in flight per direction
CHUNK_RATED = 64 * 1024  # with --rate: at most 16 MiB per direction


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def parse_rate(text):
    """'400M', '1G', '400Mbit/s', '2.5e8' -> bits per second."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKmMgG]?)"
                     r"\s*(?:bit|bit/s|bps|b/s)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"'{text}': a rate in bits per second, e.g. 400M or 1G")
    bps = float(m.group(1)) * 1000 ** " kmg".index(m.group(2).lower() or " ")
    if bps <= 0:
        raise argparse.ArgumentTypeError(f"'{text}': the rate must be > 0")
    return bps


def format_rate(bps):
    """400e6 -> '400 Mbit/s'."""
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.4g} {unit}"
    return f"{bps:.4g} bit/s"


def parse_size(text):
    """'512K', '4M', '1048576' -> bytes (K, M, G are binary)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)(?:i?B)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"'{text}': a size in bytes, e.g. 512K or 4M")
    n = int(float(m.group(1)) * 1024 ** " kmg".index(m.group(2).lower() or " "))
    if n <= 0:
        raise argparse.ArgumentTypeError(f"'{text}': the size must be > 0")
    return n


class Wire:
    """One direction of the link: a line of `rate` bits per second shared
    by every connection going that way, with a queue of `buffer` bytes in
    front of it and `delay` seconds of propagation behind it.

    The wire keeps a schedule rather than a queue of its own: admitting a
    chunk books the wire from when it is next free, and the chunk's
    delivery time follows. The booked, not yet serialised time is the
    shared queue; admit() waits while it is full. Waiting readers are
    admitted in the order they came (asyncio.Lock wakes its waiters first
    in, first out), one chunk each, so backlogged connections take turns.
    """

    def __init__(self, rate, delay, buffer):
        self.byte_time = 8.0 / rate
        self.delay = delay
        self.capacity = buffer * self.byte_time  # seconds of backlog
        self.free = 0.0  # loop time at which the wire is next idle
        self.lock = asyncio.Lock()

    async def admit(self, n):
        """Book n bytes on the wire; return their delivery time."""
        loop = asyncio.get_running_loop()
        need = n * self.byte_time
        async with self.lock:
            while True:
                now = loop.time()
                backlog = self.free - now
                # A chunk larger than the whole queue still goes, alone.
                if backlog <= 0 or backlog + need <= self.capacity:
                    break
                await asyncio.sleep(backlog + need - self.capacity)
            self.free = max(now, self.free) + need
            return self.free + self.delay


async def pump(reader, writer, delay, wire=None):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    chunk = CHUNK if wire is None else CHUNK_RATED

    async def receive():
        last = 0.0
        while True:
            try:
                data = await reader.read(chunk)
            except (ConnectionError, OSError):
                data = b""
            if wire is None:
                await queue.put((loop.time() + delay, data))
            elif data:
                last = await wire.admit(len(data))
                await queue.put((last, data))
            else:
                # The end takes no wire time, but comes after the data.
                await queue.put((max(last, loop.time() + delay), data))
            if not data:
                return

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    rx = asyncio.ensure_future(receive())
    try:
        await send()
    finally:
        rx.cancel()


async def handle(creader, cwriter, host, target, delay, wires):
    try:
        sreader, swriter = await asyncio.open_connection(host, target)
    except OSError:
        cwriter.close()
        return
    nodelay(cwriter)
    nodelay(swriter)
    up = asyncio.ensure_future(pump(creader, swriter, delay, wires[0]))
    down = asyncio.ensure_future(pump(sreader, cwriter, delay, wires[1]))
    try:
        # Either side failing ends the connection: a reset must reach the
        # other end, not leave it waiting.
        done, _ = await asyncio.wait({up, down},
                                     return_when=asyncio.FIRST_EXCEPTION)
        if not all(t.done() for t in (up, down)):
            await asyncio.wait({up, down})
    except (ConnectionError, OSError):
        pass
    finally:
        for t in (up, down):
            t.cancel()
        for w in (cwriter, swriter):
            w.close()


async def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("listen_port", type=int, help="0: any free port")
    ap.add_argument("target_port", type=int)
    ap.add_argument("delay_ms", type=float, help="one-way delay")
    ap.add_argument("--rate", type=parse_rate, metavar="RATE",
                    help="line rate per direction, in bits per second: "
                    "400M, 1G (default: none)")
    ap.add_argument("--buffer", type=parse_size, metavar="SIZE",
                    help="the shared queue in front of each wire, in bytes: "
                    "512K, 4M (default: 10 ms of RATE, at least 256K)")
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("delay-relay: loopback only")
    if a.buffer is not None and a.rate is None:
        sys.exit("delay-relay: --buffer needs --rate")
    delay = a.delay_ms / 1000.0
    wires = (None, None)
    if a.rate is not None:
        buffer = a.buffer or max(4 * CHUNK_RATED, int(a.rate / 8 * 0.010))
        wires = (Wire(a.rate, delay, buffer), Wire(a.rate, delay, buffer))
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, a.host, a.target_port, delay, wires),
        a.host, a.listen_port, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {a.host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
