"""Session 26 (bug26b) end to end: Moonshot's quota 429 (``exceeded_current_quota_error``) with a short Retry-After is
answered after ONE upstream call with ``x-should-retry: false`` (kind 11); a chat stream of two choices whose body
ends while one choice is still open is a failure to the client and the ledger, not a normal end (kind 13); 1-hour
cache writes that only message_delta counts, under a zero split from message_start, are priced at the 1-hour rate
(kind 06). Real gateway, recorder and scripted upstream; the official SDKs and a raw stream as clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

CATALOG = """
[[providers]]
name = "moonshot"
base_url = "{up}/moonshot/v1"
models = ["kimi-k2-0905-preview"]
price = {{ input = 0.6, output = 2.5 }}

[[providers]]
name = "local"
base_url = "{up}/local/v1"
models = ["local-llama"]
price = {{ input = 0, output = 0 }}
"""
ANTHROPIC = "/anthropic/v1/messages"
MOONSHOT = "/moonshot/v1/chat/completions"
LOCAL = "/local/v1/chat/completions"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("kinds26b")
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(up=up.url))
    # every quota refusal counts toward the breaker: none may open it for the next test
    providers = {"anthropic": f"{up.url}/anthropic"}
    with stack(tmp, providers, CATALOG_PATH=str(catalog), BREAKER_FAILURES="1000") as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


def test_a_moonshot_quota_429_is_not_sent_again_and_the_sdk_is_told_not_to_retry(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """bug26b variant 11-moonshot-quota-vP: four upstream calls (MAX_ATTEMPTS) and no x-should-retry before."""
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details",
            "type": "exceeded_current_quota_error",
        }
    }
    up.script(MOONSHOT, json_answer(quota, 429, headers={"retry-after": "1"}, keep=True))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as told:
        client.chat.completions.create(
            model="kimi-k2-0905-preview", messages=[{"role": "user", "content": "hi"}]
        )
    assert told.value.response.headers.get("x-should-retry") == "false"
    assert len(up.seen(MOONSHOT)) == 1


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    obj = {"id": "c1", "object": "chat.completion.chunk", "created": 1775000000, "model": "local-llama"}
    return b"data: " + json.dumps({**obj, "choices": choices, **extra}).encode() + b"\n\n"


def _two_choices(second_finishes: bool) -> list[bytes]:
    pieces = [
        _chunk([{"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None}]),
        _chunk([{"index": 1, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=USAGE),
    ]
    if second_finishes:
        pieces.append(_chunk([{"index": 1, "delta": {}, "finish_reason": "stop"}]))
    return pieces  # then the body's end, no [DONE]


def _stream_n2(gw: Stack, request_id: str) -> list[dict[str, Any]]:
    body = {
        "model": "local-llama",
        "stream": True,
        "n": 2,
        "messages": [{"role": "user", "content": "Say hello."}],
    }
    with httpx.stream(
        "POST",
        gw.gateway_url + "/v1/chat/completions",
        json=body,
        headers={"x-request-id": request_id},
        timeout=30,
    ) as r:
        text = r.read().decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def test_a_two_choice_stream_cut_with_a_choice_open_is_a_failure(gw: Stack, up: ScriptedUpstream) -> None:
    """bug26b variant 13-n2-one-choice-unfinished-vH: choice 1 never got a finish reason; the client was given the
    stream as if complete and the ledger a 200."""
    up.script(LOCAL, sse(_two_choices(second_finishes=False)))
    frames = _stream_n2(gw, "kinds26b-n2-cut")
    assert any("error" in f for f in frames)  # the client is told the answer broke off
    assert gw.row_for("kinds26b-n2-cut")["status"] != 200


def test_a_two_choice_stream_with_every_choice_finished_ends_normally(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(LOCAL, sse(_two_choices(second_finishes=True)))
    frames = _stream_n2(gw, "kinds26b-n2-whole")
    assert not any("error" in f for f in frames)
    finished = {c["index"] for f in frames for c in f.get("choices", []) if c.get("finish_reason")}
    assert finished == {0, 1}
    row = gw.row_for("kinds26b-n2-whole")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 12, 3)


def _event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def test_1h_writes_counted_only_by_message_delta_are_priced_at_the_1h_rate(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """bug26b variant 06-stale-split-1h-markers-vH: message_start's split is 0/0, message_delta's usage (which
    carries no ``cache_creation``) 5424 writes, Claude Code's only breakpoint asks 1h: the ledger had 0.020949 (the
    5-minute rate), not 3 × 3 + 5424 × 6 + 40 × 15 µ$."""
    start_usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    }
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    up.script(
        ANTHROPIC,
        sse(
            [
                _event("message_start", message=message),
                _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
                _event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hello"}),
                _event("content_block_stop", index=0),
                _event(
                    "message_delta",
                    delta={"stop_reason": "end_turn", "stop_sequence": None},
                    usage={"output_tokens": 40, "cache_creation_input_tokens": 5424},
                ),
                _event("message_stop"),
            ]
        ),
    )
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system=[{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[{"role": "user", "content": "Say hello."}],
        extra_headers={"x-request-id": "kinds26b-stale-split"},
    ) as stream:
        assert stream.get_final_message().usage.cache_creation_input_tokens == 5424
    row = gw.row_for("kinds26b-stale-split")
    assert (row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (5424, 5424)
    assert row["cost_usd"] == pytest.approx(0.033153, abs=1e-9)
