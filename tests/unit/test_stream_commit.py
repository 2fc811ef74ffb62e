"""A stream commits to a provider only at its first token: failures before that can fall back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.gateway.errors import UpstreamError
from services.gateway.proxy import Proxy
from services.gateway.relay import make_relay
from shared.settings import load_settings

KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
ROLE = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
TEXT = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
ERROR = b'data: {"error":{"message":"upstream overloaded","code":503}}\n\n'


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def proxy() -> Proxy:
    return Proxy(load_settings({}), None, {}, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("client_format", ["openai_chat", "anthropic"])
async def test_keepalives_and_role_chunk_do_not_commit(client_format: str) -> None:
    relay = make_relay(client_format, "openai_chat", "m", include_usage=False)
    out = await proxy()._until_committed(relay, chunks(KEEPALIVE, ROLE, TEXT, TEXT), "p")
    assert relay.started and relay.saw_content
    assert b"Hi" in out  # the first token is in what gets written at commit


@pytest.mark.parametrize("client_format", ["openai_chat", "anthropic"])
async def test_error_before_the_first_token_is_an_upstream_error(client_format: str) -> None:
    relay = make_relay(client_format, "openai_chat", "m", include_usage=False)
    with pytest.raises(UpstreamError) as info:
        await proxy()._until_committed(relay, chunks(KEEPALIVE, ROLE, ERROR), "p")
    assert info.value.upstream_status == 503 and info.value.retryable


async def test_empty_stream_is_retryable() -> None:
    relay = make_relay("openai_chat", "openai_chat", "m", include_usage=False)
    with pytest.raises(UpstreamError) as info:
        await proxy()._until_committed(relay, chunks(KEEPALIVE), "p")
    assert info.value.retryable and info.value.error_type == "empty_stream"
