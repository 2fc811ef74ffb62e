"""Function calls per request in ``UpstreamPool`` (a deterministic count, not a timing).

An origin in a thread of its own answers each POST on a kept connection (a 200 with a small JSON body);
in the main thread, after a warm-up, ``--requests`` sequential ``post`` + ``read`` + ``release`` are counted
with ``sys.setprofile`` (per thread: the origin's calls are not counted): Python calls and C calls per
request. ``--keep-alive`` adds ``Keep-Alive: timeout=N`` to the answers.

    python -m bench.pool_call_counts [--requests 2000] [--keep-alive]    # from the tree to measure
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections import Counter
from types import FrameType
from typing import Any

from services.gateway.upstream_pool import UpstreamPool

BODY = b'{"id":"x","choices":[{"message":{"content":"hi"}}]}'


def origin(keep_alive: bool) -> int:
    """Start the origin's thread; its port."""
    extra = b"Keep-Alive: timeout=60\r\n" if keep_alive else b""
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (
        extra,
        len(BODY),
        BODY,
    )
    ready = threading.Event()
    port: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            length = next(
                int(v.split(b":")[1]) for v in head.split(b"\r\n") if v.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(answer)

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait(10)
    return port[0]


async def run(port: int, requests: int) -> Counter[str]:
    pool = UpstreamPool(5)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-x"}
    body = b'{"model":"m","messages":[{"role":"user","content":"hello"}]}'

    async def one() -> None:
        resp = await pool.post(url, data=body, headers=headers)
        await resp.read()
        resp.release()

    for _ in range(50):
        await one()
    counts: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            counts[event] += 1

    sys.setprofile(profile)
    try:
        for _ in range(requests):
            await one()
    finally:
        sys.setprofile(None)
    await pool.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--keep-alive", action="store_true")
    args = parser.parse_args()
    counts = asyncio.run(run(origin(args.keep_alive), args.requests))
    n = args.requests
    print(f"per request: {counts['call'] / n:.2f} Python calls, {counts['c_call'] / n:.2f} C calls")


if __name__ == "__main__":
    main()
