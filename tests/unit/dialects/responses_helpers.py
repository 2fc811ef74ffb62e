"""Helpers for the Responses dialect tests: fixtures, golden cases, strict validation with the openai SDK."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pydantic
from dialect_helpers import (
    FIXTURES,
    SSE_DIR,
    Decoder,
    decode,
    frames,
    messages_encoder,
    split,
)
from openai.types.responses import ResponseStreamEvent

from services.gateway.dialects.anthropic import MessagesStreamDecoder
from services.gateway.dialects.ir import Delta
from services.gateway.dialects.openai_chat import ChatStreamDecoder
from services.gateway.dialects.openai_responses import ResponsesStreamDecoder, ResponsesStreamEncoder
from services.gateway.dialects.view import View

RESPONSES_DIR = FIXTURES / "responses"
RESPONSES_GOLDEN = RESPONSES_DIR / "expected"
CLIENT_MODEL = "client-model"
RESPONSE_ID = "resp_gwtest"
CREATED_AT = 1764230400
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)


def fixture_path(name: str) -> Path:
    """Responses-specific transcripts live in ``fixtures/responses``; the shared ones in ``fixtures/sse``."""
    local = RESPONSES_DIR / f"{name}.sse"
    return local if local.exists() else SSE_DIR / f"{name}.sse"


def raw_fixture(name: str) -> bytes:
    return fixture_path(name).read_bytes()


def decoder_for(name: str) -> Decoder:
    if name.startswith("openai_responses"):
        return ResponsesStreamDecoder()
    if name.startswith("anthropic"):
        return MessagesStreamDecoder()
    return ChatStreamDecoder()


def responses_encoder(view: View | None = None) -> ResponsesStreamEncoder:
    enc = ResponsesStreamEncoder(view or View(model=CLIENT_MODEL), response_id=RESPONSE_ID)
    enc.created_at = CREATED_AT  # pinned so golden files are stable
    return enc


def deltas_of(name: str, chunk_size: int | None = None) -> list[Delta]:
    raw = raw_fixture(name)
    return decode(split(raw, chunk_size) if chunk_size else [raw], decoder_for(name))


def encode_responses(deltas: Iterable[Delta], view: View | None = None) -> bytes:
    enc = responses_encoder(view)
    return b"".join(enc.feed(d) for d in deltas) + enc.finish()


@dataclass(frozen=True)
class Case:
    """One golden replay: an upstream transcript, decoded, encoded for a client format under a view."""

    fixture: str
    target: str = "responses"  # responses | anthropic
    variant: str = ""
    view: View = View(model=CLIENT_MODEL)

    @property
    def id(self) -> str:
        return f"{self.fixture}{'.' + self.variant if self.variant else ''}.to_{self.target}"

    def golden(self) -> Path:
        return RESPONSES_GOLDEN / f"{self.id}.sse"

    def run(self, chunk_size: int | None = None) -> bytes:
        deltas = deltas_of(self.fixture, chunk_size)
        if self.target == "anthropic":
            enc = messages_encoder()
            return b"".join(enc.feed(d) for d in deltas) + enc.finish()
        return encode_responses(deltas, self.view)


APPLY_PATCH_VIEW = View(model=CLIENT_MODEL, custom_tools=frozenset({"apply_patch"}))
CASES = [
    # the encoder, from every kind of upstream
    Case("openai_text_usage"),  # text, cached and reasoning usage
    Case("anthropic_thinking_text_tools"),  # reasoning with a signature + text + two tool calls
    Case(
        "anthropic_thinking_text_tools",
        variant="no_reasoning",
        view=View(model=CLIENT_MODEL, reasoning=False),
    ),
    Case("openai_parallel_tools"),  # two function calls
    Case("openai_error_midstream"),  # failure mid-stream
    Case("anthropic_error_midstream"),
    Case("openrouter_reasoning_keepalive"),  # keep-alives, reasoning without a signature
    Case("chat_apply_patch", view=APPLY_PATCH_VIEW),  # custom tool call, arguments cut inside escapes
    Case("chat_max_tokens"),  # finish_reason length → response.incomplete
    Case("openai_text_usage", variant="compaction", view=View(model=CLIENT_MODEL, compaction=True)),
    # the decoder, replayed to both client formats
    Case("openai_responses_reasoning_text_tools"),
    Case("openai_responses_reasoning_text_tools", target="anthropic"),
    Case("openai_responses_apply_patch", view=APPLY_PATCH_VIEW),
    Case("openai_responses_apply_patch", target="anthropic"),
    Case("openai_responses_incomplete"),
    Case("openai_responses_incomplete", target="anthropic"),
    Case("openai_responses_failed"),
    Case("openai_responses_failed", target="anthropic"),
    Case("openai_responses_whole_items"),
    Case("openai_responses_whole_items", target="anthropic"),
    Case("openai_responses_error_event"),
    Case("openai_responses_error_event", target="anthropic"),
]
CASE = {c.id: c for c in CASES}
RESPONSES_FIXTURES = sorted(p.stem for p in RESPONSES_DIR.glob("openai_responses_*.sse"))


def events(data: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an encoded Responses stream (comments left out)."""
    return [orjson.loads(f.data) for f in frames(data) if not f.comment]


def assert_no_extra(value: Any, path: str = "$") -> None:
    """Fail on any field the SDK's model does not declare (the SDK keeps unknown keys silently)."""
    if isinstance(value, pydantic.BaseModel):
        extra = value.model_extra or {}
        assert not extra, f"{path}: fields the openai SDK does not know: {sorted(extra)}"
        for name in type(value).model_fields:
            assert_no_extra(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            assert_no_extra(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_no_extra(v, f"{path}.{k}")


def strict_event(payload: dict[str, Any]) -> Any:
    """An encoded event parsed by the SDK's ``ResponseStreamEvent`` union, with no unknown fields and no
    field lost (what the SDK dumps back equals what was sent). A ``keepalive`` event (OpenAI's transport
    heartbeat on long streams, openai-java #776; not in this SDK's union, which constructs it loosely) must be
    exactly ``{"type": "keepalive", "sequence_number": n}``."""
    if payload.get("type") == "keepalive":
        assert set(payload) == {"type", "sequence_number"} and type(payload["sequence_number"]) is int
        return payload
    model = EVENT_ADAPTER.validate_python(payload)
    assert type(model).__name__ != "object"
    assert_no_extra(model)
    assert model.model_dump(mode="json", exclude_unset=True) == payload
    return model
