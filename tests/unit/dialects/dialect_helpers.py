"""Shared helpers for the dialect tests: fixture loading, replaying transcripts, parsing encoded output."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import anthropic
import httpx2
import openai
import orjson

from services.gateway.dialects.anthropic import MessagesStreamDecoder, MessagesStreamEncoder
from services.gateway.dialects.ir import Delta
from services.gateway.dialects.openai_chat import ChatStreamDecoder, ChatStreamEncoder
from shared.sse import SSEDecoder, SSEEvent

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SSE_DIR = FIXTURES / "sse"
GOLDEN_DIR = SSE_DIR / "expected"
CLIENT_MODEL = "client-model"


class Decoder(Protocol):
    def feed(self, ev: SSEEvent) -> list[Delta]: ...
    def finish(self) -> list[Delta]: ...


class Encoder(Protocol):
    def feed(self, d: Delta) -> bytes: ...
    def finish(self) -> bytes: ...


def sse_fixture(name: str) -> bytes:
    return (SSE_DIR / f"{name}.sse").read_bytes()


def request_fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / "requests" / f"{name}.json").read_bytes())["body"]
    return body


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def upstream_events(chunks: Iterable[bytes]) -> list[SSEEvent]:
    sse = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += sse.feed(chunk)
    return events + sse.flush()


def decode(chunks: Iterable[bytes], decoder: Decoder) -> list[Delta]:
    deltas: list[Delta] = []
    for ev in upstream_events(chunks):
        deltas += decoder.feed(ev)
    return deltas + decoder.finish()


def encode(deltas: Iterable[Delta], encoder: Encoder) -> bytes:
    return b"".join(encoder.feed(d) for d in deltas) + encoder.finish()


def decoder_for(fixture: str) -> ChatStreamDecoder | MessagesStreamDecoder:
    return MessagesStreamDecoder() if fixture.startswith("anthropic") else ChatStreamDecoder()


def chat_encoder(include_usage: bool = True, **kwargs: Any) -> ChatStreamEncoder:
    enc = ChatStreamEncoder(CLIENT_MODEL, include_usage, **{"completion_id": "chatcmpl-gw-test", **kwargs})
    enc.created = 1764230400  # pinned so golden files are stable
    return enc


def messages_encoder(**kwargs: Any) -> MessagesStreamEncoder:
    return MessagesStreamEncoder(CLIENT_MODEL, **{"message_id": "msg_gw_test", **kwargs})


def translate(fixture: str, chunk_size: int | None = None) -> bytes:
    """Replay an upstream transcript through SSEDecoder → upstream decoder → the other format's encoder."""
    raw = sse_fixture(fixture)
    chunks = split(raw, chunk_size) if chunk_size else [raw]
    encoder: Encoder = messages_encoder() if not fixture.startswith("anthropic") else chat_encoder()
    return encode(decode(chunks, decoder_for(fixture)), encoder)


def frames(data: bytes) -> list[SSEEvent]:
    return upstream_events([data])


def json_frames(data: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of the data frames (comments and ``[DONE]`` left out)."""
    return [orjson.loads(f.data) for f in frames(data) if not f.comment and f.data != "[DONE]"]


def _transport(body: bytes) -> httpx2.Client:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def openai_client(body: bytes) -> openai.OpenAI:
    """The official openai client, answered with ``body`` as the SSE stream."""
    return openai.OpenAI(
        api_key="sk-test", base_url="http://gw.test/v1", http_client=_transport(body), max_retries=0
    )


def anthropic_client(body: bytes) -> anthropic.Anthropic:
    """The official anthropic client, answered with ``body`` as the SSE stream."""
    return anthropic.Anthropic(
        api_key="sk-ant-test", base_url="http://gw.test", http_client=_transport(body), max_retries=0
    )
