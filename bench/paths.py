"""The paths of the benchmark table: what a client sends the gateway, and the upstream call it makes for it.

Routes follow docs/catalog.md: a ``gpt-*`` model goes to OpenAI, a ``claude-*`` model to Anthropic, so a
client format and a model name pick a passthrough or a translated path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.upstream import MESSAGES


@dataclass(frozen=True)
class PathCase:
    name: str
    path: str
    body: dict[str, Any]
    fmt: str  # the client's wire format (bench/answers.py)
    upstream_path: str  # the upstream call the gateway makes: what "direct" and the floor send
    upstream_body: dict[str, Any]
    upstream_fmt: str
    translated: bool = False

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


GPT, CLAUDE = "gpt-4o-mini", "claude-haiku-4-5"
CHAT = {"model": GPT, "messages": MESSAGES}
CHAT_STREAM = {**CHAT, "stream": True}
CHAT_UP_STREAM = {**CHAT_STREAM, "stream_options": {"include_usage": True}}
MSGS = {"model": CLAUDE, "max_tokens": 64, "messages": MESSAGES}
MSGS_STREAM = {**MSGS, "stream": True}
RESP = {"model": GPT, "input": "hello bench"}
RESP_STREAM = {**RESP, "stream": True}

PATHS = [
    PathCase(
        "openai chat, plain", "/v1/chat/completions", CHAT, "openai", "/v1/chat/completions", CHAT, "openai"
    ),
    PathCase(
        "openai chat, stream",
        "/v1/chat/completions",
        CHAT_STREAM,
        "openai-sse",
        "/v1/chat/completions",
        CHAT_UP_STREAM,
        "openai-sse",
    ),
    PathCase("anthropic, plain", "/v1/messages", MSGS, "anthropic", "/v1/messages", MSGS, "anthropic"),
    PathCase(
        "anthropic, stream",
        "/v1/messages",
        MSGS_STREAM,
        "anthropic-sse",
        "/v1/messages",
        MSGS_STREAM,
        "anthropic-sse",
    ),
    PathCase(
        "anthropic → openai, stream",
        "/v1/messages",
        {**MSGS_STREAM, "model": GPT},
        "anthropic-sse",
        "/v1/chat/completions",
        CHAT_UP_STREAM,
        "openai-sse",
        translated=True,
    ),
    PathCase(
        "openai → anthropic, stream",
        "/v1/chat/completions",
        {**CHAT_STREAM, "model": CLAUDE},
        "openai-sse",
        "/v1/messages",
        MSGS_STREAM,
        "anthropic-sse",
        translated=True,
    ),
    PathCase("responses, plain", "/v1/responses", RESP, "responses", "/v1/responses", RESP, "responses"),
    PathCase(
        "responses, stream",
        "/v1/responses",
        RESP_STREAM,
        "responses-sse",
        "/v1/responses",
        RESP_STREAM,
        "responses-sse",
    ),
    PathCase(
        "responses → anthropic, stream",
        "/v1/responses",
        {**RESP_STREAM, "model": CLAUDE},
        "responses-sse",
        "/v1/messages",
        MSGS_STREAM,
        "anthropic-sse",
        translated=True,
    ),
]
