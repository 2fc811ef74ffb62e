"""The official OpenAI SDK on a gateway under test, the ways several gateway test modules use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import openai

from tests.procs import Stack


def spread_openai(gw: Stack, api_key: str, **headers: str) -> openai.OpenAI:
    """The SDK on ``gw``'s ``/v1`` with ``api_key``, no retries of its own, ``headers`` on every request, and a
    fresh connection per request (no keep-alive): with ``GATEWAY_WORKERS`` > 1 the workers share the port, so
    the calls spread over them."""
    http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
    return openai.OpenAI(
        base_url=gw.gateway_url + "/v1",
        api_key=api_key,
        max_retries=0,
        http_client=http,
        default_headers=headers or None,
    )


@dataclass(frozen=True)
class ChatRead:
    """What a streamed chat completion gave: the text of its deltas, each usage chunk's (prompt, completion)
    tokens, and the request's ledger row."""

    text: str
    usage: list[tuple[int, int]]
    row: dict[str, Any]


def read_chat_stream(gw: Stack, model: str, include_usage: bool) -> ChatRead:
    """Stream a one-message chat completion for ``model`` through ``gw`` (``stream_options.include_usage``
    when ``include_usage``), read it whole with the SDK, and read its ledger row (by ``x-request-id``)."""
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0, timeout=30.0)
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True, **options
    )
    rid = raw.headers["x-request-id"]
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage is not None]
    return ChatRead(text, usage, gw.row_for(rid))
