#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A TCP relay on loopback that adds latency but no bandwidth limit.

    delay-relay.py LISTEN_PORT TARGET_PORT DELAY_MS [--host 127.0.0.1]

Accepts connections on HOST:LISTEN_PORT and forwards each to
HOST:TARGET_PORT, holding every chunk DELAY_MS milliseconds in each
direction (so the round trip grows by twice DELAY_MS). This kernel has no
netem; this stands in for it (scripts/bench-ssh.sh).

The delay pipelines: a reader task stamps each chunk with the time it
arrived and queues it, and a writer task sends it when its time has come,
while the reader goes on reading. Delay is therefore not serialisation: a
stream that keeps the pipe full moves as fast as without the relay (up to
what this process can copy), and only a protocol that waits for answers
(TCP's and SSH's windows, handshakes) feels the round trip. Each
direction buffers at most QUEUE_CHUNKS chunks; beyond that the reader
stops and TCP's own flow control pushes back, as a real router's queue
would.

Prints "listening on HOST:PORT" on stdout once ready, then serves until
killed. Loopback only: it refuses any other address.
"""
import argparse
import asyncio
import socket
import sys

CHUNK = 256 * 1024
QUEUE_CHUNKS = 256  # at most 64 MiB in flight per direction


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue(maxsize=QUEUE_CHUNKS)

    async def receive():
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = b""
            await queue.put((loop.time() + delay, data))
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


async def handle(creader, cwriter, host, target, delay):
    try:
        sreader, swriter = await asyncio.open_connection(host, target)
    except OSError:
        cwriter.close()
        return
    nodelay(cwriter)
    nodelay(swriter)
    up = asyncio.ensure_future(pump(creader, swriter, delay))
    down = asyncio.ensure_future(pump(sreader, cwriter, delay))
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("listen_port", type=int)
    ap.add_argument("target_port", type=int)
    ap.add_argument("delay_ms", type=float)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("delay-relay: loopback only")
    delay = a.delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, a.host, a.target_port, delay),
        a.host, a.listen_port, reuse_address=True)
    print(f"listening on {a.host}:{a.listen_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
