"""An upstream that answers after a delay: a provider that takes its time, in front of nginx's canned answers.

Each request waits ``--delay-ms`` and is then passed on to ``--upstream`` (method, path, query, body,
content type) and its answer returned whole (status, content type, body). With it, ``crit_clock.py
--upstream-delay-ms`` measures where the gateway's work runs when the upstream wait is long, as a real
provider's is (hundreds of ms), rather than nginx's 10-60 µs.

    python -m bench.slow_upstream --port P --upstream http://127.0.0.1:N --delay-ms 20
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from bench.floor import proxy_arguments, serve


def make_app(upstream: str, delay_s: float) -> web.Application:
    app = web.Application()

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = aiohttp.ClientSession(auto_decompress=False)
        yield
        await app["session"].close()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(delay_s)
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with app["session"].request(
            request.method, upstream + request.path_qs, data=body, headers=headers
        ) as resp:
            raw = await resp.read()
            return web.Response(
                body=raw, status=resp.status, headers={"Content-Type": resp.headers.get("Content-Type", "")}
            )

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    ap = proxy_arguments(__doc__)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    args = ap.parse_args()
    serve(make_app(args.upstream.rstrip("/"), args.delay_ms / 1000), args.port)


if __name__ == "__main__":
    main()
