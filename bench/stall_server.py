#!/usr/bin/env python3
"""bench/stall_server.py: a tiny HTTP/1.1 server that stalls once.

bench/loadgen's latency-accounting target. It answers every GET with a
3-byte body on keep-alive connections, on 127.0.0.1 only, and
--stall-at seconds after the first request arrives it stops answering
anyone for --stall-s seconds (the whole process sleeps), once. A load tool
that measures from each request's intended send time must then report a
p99 near stall_s * (1 - 0.01 * duration / stall_s) and a max near stall_s;
one that waits for answers before sending (coordinated omission) reports
almost none of it.

Prints the port it listens on, then serves until killed.
"""

import argparse
import asyncio
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"


class State:
    first = None
    stalled = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stall-at", type=float, required=True)
    ap.add_argument("--stall-s", type=float, required=True)
    args = ap.parse_args()
    state = State()

    class Answerer(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.pending = b""

        def data_received(self, data):
            now = time.monotonic()
            if state.first is None:
                state.first = now
            elif not state.stalled and now - state.first >= args.stall_at:
                state.stalled = True
                time.sleep(args.stall_s)  # nobody is answered meanwhile
            self.pending += data
            count = self.pending.count(b"\r\n\r\n")
            if count:
                self.pending = self.pending[self.pending.rfind(b"\r\n\r\n") + 4:]
                self.transport.write(ANSWER * count)

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Answerer, "127.0.0.1", 0, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
