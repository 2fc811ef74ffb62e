"""Demo traffic: a steady mix of requests through the gateway, so the dashboard fills without keys.

Both client formats, plain and streamed, several models (each routed to a fake provider), and now and
then a provider fault (via the fake's control route) so errors and fallbacks show up too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random

import aiohttp

from shared.settings import load_settings
from shared.stopping import StopOnce, exit_now

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "claude-sonnet-4-5", "grok-4", "openai/gpt-4o-mini"]
FAULTS = ["status:500", "status:503", "status:429:retry-after=1", "break-before-first-byte"]


def request_for(rng: random.Random) -> tuple[str, dict[str, object]]:
    model = rng.choice(MODELS)
    stream = rng.random() < 0.5
    text = rng.choice(["summarise this", "say hi", "what is 2+2", "write a haiku about gateways"])
    if rng.random() < 0.5:
        return "/v1/messages", {
            "model": model,
            "max_tokens": 256,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        }
    return "/v1/chat/completions", {
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


async def inject_fault(session: aiohttp.ClientSession, rng: random.Random) -> None:
    settings = load_settings()
    provider = rng.choice([p for p in settings.providers.values() if p.configured])
    root = provider.base_url.removesuffix("/api/v1").removesuffix("/v1")
    try:
        await session.post(
            f"{root}/_fake/fault", json={"fault": rng.choice(FAULTS), "times": rng.randint(1, 3)}
        )
    except aiohttp.ClientError:
        pass


async def main() -> None:
    settings = load_settings()
    rate = float(os.environ.get("DEMO_RATE", "4"))
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}"
    rng = random.Random()
    headers = {"authorization": "Bearer demo", "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            if rng.random() < 0.05:
                await inject_fault(session, rng)
            path, body = request_for(rng)
            try:
                async with session.post(gateway + path, json=body) as resp:
                    await resp.read()
            except aiohttp.ClientError:
                await asyncio.sleep(1)  # the gateway is still starting
            await asyncio.sleep(rng.expovariate(rate))


async def until_stopped(stop: StopOnce) -> None:
    """Run ``main`` until the first SIGTERM or SIGINT (honcho's stop, ``make demo``'s Ctrl-C: both, at any
    gap), then return: the process exits 0, as the gateway and recorder do. Before: it died of the signal
    (``traffic.1 stopped (rc=-15)``); with the loop's SIGTERM handler and asyncio's SIGINT one, a copy after
    the loop closed killed it, and a SIGINT after SIGTERM raised KeyboardInterrupt (shared/stopping.py)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    stop.on_stop = lambda name: loop.call_soon_threadsafe(task.cancel)
    if stop.stopping is not None:  # it came while starting
        return
    with contextlib.suppress(asyncio.CancelledError):
        await main()


if __name__ == "__main__":
    # Installed before asyncio.run: it then leaves SIGINT alone (no KeyboardInterrupt of its own).
    stop = StopOnce(lambda name: None).install()
    asyncio.run(until_stopped(stop))
    exit_now(0)
