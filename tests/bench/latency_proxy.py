#!/usr/bin/python3
"""A TCP proxy on 127.0.0.1 that makes every round trip cost a known time.

The kernel's netem is not available here, so the delay is added in user space: each chunk read
from one side is written to the other side `rtt/2` after it was read, in order, and data from the
client reaches the server no earlier than one full `rtt` after the connection was accepted, which
is what a TCP handshake costs before a real client could send its first byte. So a client sees:
TCP set-up 1 rtt, TLS 1.3 handshake 1 rtt, each HTTP request 1 rtt.

Control, one command per line on stdin, one answer line (JSON) on stdout:
    upstream PORT     where to connect (127.0.0.1 only)
    rtt MS            round-trip time for connections accepted from now on
    idle_close S      close a connection both ways after S seconds without traffic (0: never),
                      as a server closes an idle keep-alive connection
    stats             {"connections": n, "chunks": n, "bytes": n, "late_max_us": n, ...}
    reset             zero the counters
    quit
The first line printed is {"port": N}. The proxy stops by itself when stdin closes (its parent
is gone) or after --lifetime seconds, whichever comes first.

Usage: latency_proxy.py [--lifetime SECONDS] [--max-connections N]
"""

import argparse
import asyncio
import json
import socket
import sys
import time

CHUNK = 65536
QUEUE_CHUNKS = 16          # per direction: at most 1 MiB in flight, then the reader waits
# asyncio timers wake up to 1 ms late (epoll's timeout is in ms); over the ~10 one-way trips of
# a login that alone would add 5% to a 20 ms floor. So sleep until shortly before the deadline
# and spin the rest. Spinning blocks the loop for at most this long, which also keeps it
# harmless when the proxy runs as a real-time task (bench.py does that, so that deliveries do
# not wait behind the CPU-bound client and tenant).
SPIN = 0.002


class Counters:
    def __init__(self):
        self.active = 0     # open connections: not a counter, survives reset
        self.reset()

    def reset(self):
        self.connections = 0
        self.refused = 0
        self.idle_closed = 0
        self.chunks = 0
        self.bytes = 0
        self.late_max = 0.0
        self.late_sum = 0.0

    def as_dict(self):
        return {"connections": self.connections, "active": self.active, "refused": self.refused,
                "idle_closed": self.idle_closed, "chunks": self.chunks, "bytes": self.bytes,
                "late_max_us": int(self.late_max * 1e6),
                "late_mean_us": int(self.late_sum / self.chunks * 1e6) if self.chunks else 0}


class Proxy:
    def __init__(self, max_connections):
        self.upstream = None
        self.rtt = 0.0
        self.idle_close = 0.0
        self.max_connections = max_connections
        self.count = Counters()
        self.tasks = set()

    async def wait_until(self, deadline):
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining > SPIN:
            await asyncio.sleep(remaining - SPIN)
        while loop.time() < deadline:
            pass
        late = loop.time() - deadline
        self.count.late_max = max(self.count.late_max, late)
        self.count.late_sum += late

    async def pump(self, src, dst, delay, not_before, activity):
        """Copies src to dst, each chunk `delay` after it was read; EOF is passed on as a
        half-close after the same delay."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue(QUEUE_CHUNKS)

        async def read():
            try:
                while True:
                    data = await src.read(CHUNK)
                    activity[0] = loop.time()
                    await queue.put((loop.time(), data))
                    if not data:
                        return
            except (ConnectionError, OSError):
                await queue.put((loop.time(), b""))

        reader = asyncio.ensure_future(read())
        try:
            while True:
                stamp, data = await queue.get()
                if delay > 0:
                    await self.wait_until(max(stamp + delay, not_before))
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                self.count.chunks += 1
                self.count.bytes += len(data)
                dst.write(data)
                await dst.drain()
                activity[0] = loop.time()
        except (ConnectionError, OSError):
            return  # the other side is gone; handle() closes both
        finally:
            reader.cancel()

    async def watch_idle(self, activity, writers):
        loop = asyncio.get_running_loop()
        while True:
            limit = self.idle_close
            if limit <= 0:
                await asyncio.sleep(0.1)
                continue
            idle = loop.time() - activity[0]
            if idle >= limit:
                self.count.idle_closed += 1
                for w in writers:
                    w.close()
                return
            await asyncio.sleep(min(0.05, limit - idle))

    async def handle(self, creader, cwriter):
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        if self.upstream is None or self.count.active >= self.max_connections:
            self.count.refused += 1
            cwriter.close()
            return
        self.count.connections += 1
        self.count.active += 1
        rtt, delay = self.rtt, self.rtt / 2
        uwriter = None
        tasks = []
        try:
            sock = cwriter.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", self.upstream)
            uwriter.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                        socket.TCP_NODELAY, 1)
            activity = [loop.time()]
            # The client's first byte could not have left before its SYN-ACK came back (1 rtt),
            # and it then takes a one-way trip to the server.
            up = asyncio.ensure_future(self.pump(creader, uwriter, delay, accepted + rtt + delay,
                                                 activity))
            down = asyncio.ensure_future(self.pump(ureader, cwriter, delay, accepted + rtt,
                                                   activity))
            idle = asyncio.ensure_future(self.watch_idle(activity, (cwriter, uwriter)))
            tasks = [up, down, idle]
            await asyncio.wait([up, down], return_when=asyncio.ALL_COMPLETED)
        except (ConnectionError, OSError):
            pass
        finally:
            for t in tasks:
                t.cancel()
            for w in (cwriter, uwriter):
                if w is not None:
                    w.close()
            self.count.active -= 1

    def command(self, line):
        words = line.split()
        if not words:
            return None
        cmd, args = words[0], words[1:]
        try:
            if cmd == "upstream" and len(args) == 1:
                port = int(args[0])
                if not 0 < port < 65536:
                    raise ValueError("port out of range")
                self.upstream = port
            elif cmd == "rtt" and len(args) == 1:
                ms = float(args[0])
                if not 0 <= ms <= 10000:
                    raise ValueError("rtt out of range")
                self.rtt = ms / 1000.0
            elif cmd == "idle_close" and len(args) == 1:
                s = float(args[0])
                if not 0 <= s <= 3600:
                    raise ValueError("idle_close out of range")
                self.idle_close = s
            elif cmd == "stats" and not args:
                return dict(self.count.as_dict(), rtt_ms=self.rtt * 1000.0,
                            idle_close=self.idle_close)
            elif cmd == "reset" and not args:
                self.count.reset()
            elif cmd == "quit" and not args:
                return "quit"
            else:
                raise ValueError("unknown command")
        except ValueError as e:
            return {"error": "%s: %s" % (line.strip()[:80], e)}
        return {"ok": True}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main_async(args):
    proxy = Proxy(args.max_connections)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0, backlog=128)
    emit({"port": server.sockets[0].getsockname()[1]})

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=4096)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    deadline = time.monotonic() + args.lifetime
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sys.stderr.write("latency proxy: lifetime over, stopping\n")
                break
            try:
                line = await asyncio.wait_for(stdin.readline(), remaining)
            except asyncio.TimeoutError:
                continue
            if not line:
                break  # parent closed our stdin or died
            answer = proxy.command(line.decode("utf-8", "replace"))
            if answer == "quit":
                emit({"ok": True})
                break
            if answer is not None:
                emit(answer)
    finally:
        server.close()
        await server.wait_closed()


def main(argv=None):
    p = argparse.ArgumentParser(description="Latency-adding TCP proxy on 127.0.0.1.")
    p.add_argument("--lifetime", type=float, default=1800.0,
                   help="stop after this many seconds whatever happens (default 1800)")
    p.add_argument("--max-connections", type=int, default=256)
    args = p.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
