"""Claude Sonnet 4's long-context price through the real gateway and recorder processes (bug29c variants
06-sonnet4-long-context-*): Anthropic's pricing page ("Long context pricing") bills every token of a Sonnet 4 or 4.5
request whose prompt (input + cache reads + cache writes) passes 200K at $6 input and $22.50 output, cache prices
their multiples of input ($0.60 reads, $7.50 5-minute and $12 1-hour writes). genai-prices lists the step for Sonnet
4.5 only, so a Sonnet 4 row was priced at half its bill."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

ANTHROPIC = "/anthropic/v1/messages"
MODEL = "claude-sonnet-4-20250514"


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("long-context", {"anthropic": "/anthropic"}) as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


def events(usage: dict[str, Any], output_tokens: int) -> list[bytes]:
    start = {"id": "msg_lc", "type": "message", "role": "assistant", "model": MODEL, "content": []}
    evs = [
        {
            "type": "message_start",
            "message": {**start, "stop_reason": None, "stop_sequence": None, "usage": usage},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done."}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in evs]


def test_claude_code_stream_past_200k_by_its_cache_reads_is_priced_long_context(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """1000 input + 199,500 cache reads = 200,500 > 200K (reads count toward the step), 50 out:
    1000 × $6 + 199,500 × $0.60 + 50 × $22.50 = $0.126825 (was $0.0636 at the standard rates)."""
    usage = {"input_tokens": 1000, "cache_read_input_tokens": 199_500, "cache_creation_input_tokens": 0}
    up.script(ANTHROPIC, sse(events({**usage, "output_tokens": 1}, 50)))
    ant = anthropic.Anthropic(base_url=gw.gateway_url, api_key="client", max_retries=0)
    with ant.beta.messages.stream(
        model=MODEL,
        max_tokens=1024,
        betas=["context-1m-2025-08-07"],
        messages=[{"role": "user", "content": "Review the repository."}],
        extra_headers={"x-request-id": "lc-reads"},
    ) as s:
        assert s.get_final_message().usage.cache_read_input_tokens == 199_500
    assert gw.row_for("lc-reads")["cost_usd"] == pytest.approx(0.126825, abs=1e-9)


def test_chat_client_past_200k_by_1h_writes_is_priced_long_context(gw: Stack, up: ScriptedUpstream) -> None:
    """5000 input + 196,000 1-hour writes, 100 out, not streamed, translated for an OpenAI chat client:
    5000 × $6 + 196,000 × $12 + 100 × $22.50 = $2.38425 (was $1.1925)."""
    usage = {
        "input_tokens": 5000,
        "cache_creation_input_tokens": 196_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 196_000},
        "cache_read_input_tokens": 0,
        "output_tokens": 100,
    }
    answer = {
        "id": "msg_lc2",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "Done."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    up.script(ANTHROPIC, json_answer(answer))
    chat = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="client", max_retries=0)
    reply = chat.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Review the repository."}],
        extra_headers={"x-request-id": "lc-writes"},
    )
    assert reply.usage is not None and reply.usage.prompt_tokens == 201_000
    row = gw.row_for("lc-writes")
    assert row["cache_write_1h_tokens"] == 196_000
    assert row["cost_usd"] == pytest.approx(2.38425, abs=1e-9)
