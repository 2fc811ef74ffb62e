"""The service tier a chat stream's chunks name prices its usage even when the usage chunk leaves it out (s28 bug28c
variant 28-priority-tier-not-on-usage-chunk-chat-vI; pure). OpenAI says ``service_tier`` on every chunk; a relay
that rebuilds the final usage chunk may drop it, and the answer was still served at that tier (OpenAI Priority
processing docs): before, ``Usage.service_tier`` was None and the ledger priced a priority answer at half its cost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dialect_helpers import decode

from services.gateway.dialects.ir import UsageUpdate
from services.gateway.dialects.openai_chat import ChatStreamDecoder

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "prompt_tokens_details": {"cached_tokens": 200}}


def _chunk(tier: str | None, usage: dict[str, Any] | None = None, **delta: Any) -> bytes:
    obj: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5"}
    if tier is not None:
        obj["service_tier"] = tier
    obj["choices"] = [] if usage else [{"index": 0, "delta": delta, "finish_reason": None}]
    if usage:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _tier(pieces: list[bytes]) -> str | None:
    deltas = decode([*pieces, b"data: [DONE]\n\n"], ChatStreamDecoder())
    usages = [d.usage for d in deltas if isinstance(d, UsageUpdate)]
    assert usages, "no usage decoded"
    return usages[-1].service_tier


def test_the_tier_of_the_chunks_when_the_usage_chunk_has_none() -> None:
    assert _tier([_chunk("priority", content="Hi"), _chunk(None, USAGE)]) == "priority"


@pytest.mark.parametrize(
    ("first", "last", "want"), [("priority", "flex", "flex"), (None, "priority", "priority")]
)
def test_the_usage_chunks_own_tier_comes_first(first: str | None, last: str, want: str) -> None:
    assert _tier([_chunk(first, content="Hi"), _chunk(last, USAGE)]) == want


def test_no_tier_anywhere_is_none() -> None:
    assert _tier([_chunk(None, content="Hi"), _chunk(None, USAGE)]) is None
