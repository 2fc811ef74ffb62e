"""The floor: the least an HTTP pass-through proxy in Python can do, for the benchmark table to compare with.

A bare aiohttp server that forwards every request (method, path and query, body, the headers a provider
needs) to one upstream and streams the upstream's answer back chunk by chunk. It parses nothing, records
nothing, checks no key: whatever the gateway costs above this is the price of its features.

    python -m bench.floor --port 8900 --upstream http://127.0.0.1:8901
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

# request headers a provider needs; everything else (host, content-length, hop-by-hop) is aiohttp's business
FORWARD = ("content-type", "accept", "authorization", "x-api-key", "anthropic-version", "anthropic-beta")
UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.StreamResponse:
    headers = {name: request.headers[name] for name in FORWARD if name in request.headers}
    session = request.app[SESSION]
    url = request.app[UPSTREAM] + request.path_qs
    async with session.request(request.method, url, data=await request.read(), headers=headers) as up:
        resp = web.StreamResponse(status=up.status)
        if "content-type" in up.headers:
            resp.content_type = up.content_type
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def _session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
    )
    yield
    await app[SESSION].close()


def app(upstream: str) -> web.Application:
    """The floor proxy for ``upstream`` (scheme://host:port, no trailing slash)."""
    application = web.Application()
    application[UPSTREAM] = upstream.rstrip("/")
    application.cleanup_ctx.append(_session)
    application.router.add_route("*", "/{tail:.*}", forward)
    return application


def proxy_arguments(doc: str) -> argparse.ArgumentParser:
    """A command line for a bench server in front of an upstream: ``--port`` (to listen on, 127.0.0.1) and
    ``--upstream`` (scheme://host:port), both required; the description is ``doc``'s first paragraph."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    return parser


def serve(application: web.Application, port: int) -> None:
    """Serve ``application`` on 127.0.0.1:``port`` until stopped, with no access log and no banner."""
    web.run_app(application, host="127.0.0.1", port=port, access_log=None, print=None)


def main() -> None:
    args = proxy_arguments(__doc__).parse_args()
    try:  # the same event loop as the gateway's, so the comparison is about the code, not the loop
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    serve(app(args.upstream), args.port)


if __name__ == "__main__":
    main()
