"""Bytes allocated while ``UpstreamPool.post`` sends a big request body (issue: head + body copied).

A deterministic count, not a timing: ``tracemalloc``'s peak of traced memory from the post's start until
the origin has the request's head, the origin not reading the body yet (so what the socket did not take
stays in the transport's buffer, and every copy made to send it is still counted at its peak). Printed
per event loop (asyncio's default and uvloop, the gateway's) and body size:

    python -m bench.pool_body_copies             # from the tree to measure
"""

from __future__ import annotations

import asyncio
import sys
import tracemalloc

from services.gateway.upstream_pool import UpstreamPool

SIZES = (1 << 20, 10 << 20)


async def one(size: int) -> tuple[int, int]:
    """(peak bytes allocated while sending, bytes the transport buffered then); the body arrives whole."""
    head_seen, gate = asyncio.Event(), asyncio.Event()
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        head_seen.set()
        await gate.wait()
        got.append(await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = UpstreamPool(5)
    body = b"b" * size
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    task = asyncio.ensure_future(pool.post(f"http://127.0.0.1:{port}/v1", data=body, headers={}))
    await head_seen.wait()
    now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gate.set()
    resp = await task
    await resp.read()
    assert got == [body]
    await pool.close()
    server.close()
    return peak - base, now - base


def main() -> None:
    loops: list[tuple[str, object]] = [("asyncio", asyncio.new_event_loop)]
    try:
        import uvloop

        loops.append(("uvloop", uvloop.new_event_loop))
    except ImportError:
        pass
    for name, factory in loops:
        for size in SIZES:
            loop = factory()  # type: ignore[operator]
            try:
                peak, held = loop.run_until_complete(one(size))
            finally:
                loop.close()
            print(
                f"{name:8} body {size:>9} B: peak allocated while sending {peak:>9} B ({peak / size:.2f}x the body); still held {held:>9} B"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
