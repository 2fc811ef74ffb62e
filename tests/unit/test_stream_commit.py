"""A stream commits to a provider only at its first token: failures before that can fall back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.gateway.dialects import registry
from services.gateway.dialects.view import View
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Provider
from services.gateway.proxy import FailedAfterOpening, Proxy
from services.gateway.relay import Relay, make_relay
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Limits
from services.gateway.upstream import UpstreamClient

KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
ROLE = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
TEXT = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
ERROR = b'data: {"error":{"message":"upstream overloaded","code":503}}\n\n'


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


PROVIDER = Provider("p", "http://127.0.0.1:9", None)


def proxy() -> Proxy:
    upstream = UpstreamClient(None, first_byte_timeout_s=5, chunk_timeout_s=5)  # type: ignore[arg-type]
    return Proxy(upstream, {}, ProviderHealth(BreakerConfig()), Limits(4, 5))


def make_relay_for(client_format: str) -> Relay:
    pair = registry.pairing(client_format, "openai_chat")  # type: ignore[arg-type]
    return make_relay(pair, View(model="m"))


@pytest.mark.parametrize("client_format", ["openai_chat", "anthropic"])
async def test_keepalives_and_role_chunk_do_not_commit(client_format: str) -> None:
    relay = make_relay_for(client_format)
    out = await proxy().until_committed(relay, chunks(KEEPALIVE, ROLE, TEXT, TEXT), PROVIDER)
    assert relay.started and relay.saw_content
    assert b"Hi" in out  # the first token is in what gets written at commit


@pytest.mark.parametrize("client_format", ["openai_chat", "anthropic"])
async def test_error_before_the_first_token_is_an_upstream_error(client_format: str) -> None:
    relay = make_relay_for(client_format)
    with pytest.raises(UpstreamError) as info:
        await proxy().until_committed(relay, chunks(KEEPALIVE, ROLE, ERROR), PROVIDER)
    assert info.value.upstream_status == 503 and info.value.retryable


async def test_empty_stream_is_retryable() -> None:
    relay = make_relay_for("openai_chat")
    with pytest.raises(UpstreamError) as info:
        await proxy().until_committed(relay, chunks(KEEPALIVE), PROVIDER)
    assert info.value.retryable and info.value.error_type == "empty_stream"


# ---- silence before the first token: the client's answer starts (bugcase 19, its other instance) ----------

SILENCE = object()  # in ``paced``: the upstream says nothing for a while (several keep-alive periods)


async def paced(*parts: bytes | object) -> AsyncIterator[bytes]:
    for p in parts:
        if p is SILENCE:
            await asyncio.sleep(0.3)
        else:
            assert isinstance(p, bytes)
            yield p


def keepalive_proxy() -> Proxy:
    upstream = UpstreamClient(None, first_byte_timeout_s=5, chunk_timeout_s=5, keepalive_s=0.05)  # type: ignore[arg-type]
    return Proxy(upstream, {}, ProviderHealth(BreakerConfig()), Limits(4, 5))


@pytest.mark.parametrize("client_format", ["openai_chat", "anthropic"])
async def test_silence_before_the_first_token_calls_on_idle_and_still_commits(client_format: str) -> None:
    relay = make_relay_for(client_format)
    idles: list[bytes] = []

    async def on_idle(held: bytes) -> None:
        idles.append(held + relay.keepalive())

    out = await keepalive_proxy().until_committed(relay, paced(ROLE, SILENCE, TEXT), PROVIDER, on_idle)
    assert len(idles) >= 2 and all(idles)  # a keep-alive of the client's format at every silent period
    assert relay.started and b"Hi" in out
    # what was read before the silence (the role chunk, or message_start) reached the client first
    assert b"Hi" not in b"".join(idles) and (b"assistant" in idles[0] or b"message_start" in idles[0])


@pytest.mark.parametrize("client_format", ["openai_chat", "anthropic"])
async def test_an_error_after_the_answer_started_is_raised_with_what_was_held(client_format: str) -> None:
    """The client has its answer's headers (and its opening): the error is raised all the same, with the
    bytes read since the keep-alive (the error event as relayed), so the caller may still fall back
    (variant 19-a) or tell it in the stream as the upstream said it."""
    relay = make_relay_for(client_format)
    idles: list[int] = []

    async def on_idle(held: bytes) -> None:
        idles.append(1)

    with pytest.raises(FailedAfterOpening) as raised:
        await keepalive_proxy().until_committed(relay, paced(ROLE, SILENCE, ERROR), PROVIDER, on_idle)
    assert idles
    assert raised.value.error.upstream_status == 503 and raised.value.error.retryable
    assert (
        relay.error is not None and relay.error.status == 503 and b"upstream overloaded" in raised.value.held
    )


async def test_without_silence_an_error_still_falls_back() -> None:
    relay = make_relay_for("anthropic")
    calls: list[int] = []

    async def on_idle(held: bytes) -> None:
        calls.append(1)

    with pytest.raises(UpstreamError):
        await keepalive_proxy().until_committed(relay, paced(ROLE, ERROR), PROVIDER, on_idle)
    assert calls == []


async def test_upstream_keepalives_are_silence_for_the_client() -> None:
    """OpenRouter's ': OPENROUTER PROCESSING' comments arrive often, so no read waits long; the client has
    still received nothing: its answer starts all the same (review of bugcase 19's other instance)."""
    relay = make_relay_for("anthropic")
    idles: list[bytes] = []

    async def on_idle(held: bytes) -> None:
        idles.append(held)

    async def commented() -> AsyncIterator[bytes]:
        yield ROLE
        for _ in range(12):
            await asyncio.sleep(0.03)
            yield KEEPALIVE
        yield TEXT

    out = await keepalive_proxy().until_committed(relay, commented(), PROVIDER, on_idle)
    assert idles and relay.started and b"Hi" in out
