"""Demo traffic: a steady mix of requests through the gateway, so the dashboard fills without keys.

Both client formats, plain and streamed, several models (each routed to a fake provider), and now and
then a provider fault (via the fake's control route) so errors and fallbacks show up too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal

import aiohttp

from shared.settings import load_settings

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


async def until_sigterm() -> None:
    """Run ``main`` until SIGTERM (honcho's stop), then return: the process exits 0, as the gateway and
    recorder do, instead of dying of the signal (``traffic.1 stopped (rc=-15)``)."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await main()


if __name__ == "__main__":
    asyncio.run(until_sigterm())
