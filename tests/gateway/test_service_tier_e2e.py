"""OpenAI service tiers through the real gateway and recorder processes: an answer that says it was served
at ``service_tier: "flex"`` (streamed chat, whose every chunk carries it, and a Responses answer's
``response.service_tier``) is priced at genai-prices' flex rates for the model to the micro-dollar; the same
answer at "default" at the standard rates."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

CHAT = "/openai/v1/chat/completions"
RESPONSES = "/openai/v1/responses"
# gpt-5-mini in genai-prices: standard input 0.25, cache read 0.025, output 2 per MTok; its
# ``service_tier: "flex"`` variant 0.125 / 0.0125 / 1. 12,000 prompt tokens (3,000 cache reads), 800 output.
FLEX = (9000 * 0.125 + 3000 * 0.0125 + 800 * 1) / 1e6  # 0.0019625
STANDARD = (9000 * 0.25 + 3000 * 0.025 + 800 * 2) / 1e6  # 0.003925


pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("tier", {"openai": "/openai/v1"}) as st:
        yield st


@pytest.fixture()
def client(gw: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="client", max_retries=0)


def chunks(tier: str) -> list[bytes]:
    base = {
        "id": "chatcmpl-t",
        "object": "chat.completion.chunk",
        "created": 1775000000,
        "model": "gpt-5-mini",
    }
    base["service_tier"] = tier
    usage = {
        "prompt_tokens": 12_000,
        "completion_tokens": 800,
        "total_tokens": 12_800,
        "prompt_tokens_details": {"cached_tokens": 3000},
    }
    events = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        },
        {**base, "choices": [{"index": 0, "delta": {"content": "Done."}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": usage},
    ]
    return [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]


def stream_chat(client: openai.OpenAI, rid: str) -> str:
    s = client.chat.completions.create(
        model="gpt-5-mini",
        messages=[{"role": "user", "content": "Summarise the log."}],
        stream=True,
        stream_options={"include_usage": True},
        service_tier="flex",
        extra_headers={"x-request-id": rid},
    )
    return "".join(c.choices[0].delta.content or "" for c in s if c.choices)


@pytest.mark.parametrize(("tier", "want"), [("flex", FLEX), ("default", STANDARD)])
def test_streamed_chat_at_a_tier_is_priced_at_it(
    gw: Stack, up: ScriptedUpstream, client: openai.OpenAI, tier: str, want: float
) -> None:
    up.script(CHAT, sse(chunks(tier)))
    assert stream_chat(client, f"tier-chat-{tier}") == "Done."
    assert up.seen(CHAT)[-1].json["service_tier"] == "flex"  # the request's own field reaches OpenAI
    assert gw.row_for(f"tier-chat-{tier}")["cost_usd"] == pytest.approx(want, abs=1e-9)


def response(tier: str) -> dict[str, Any]:
    return {
        "id": "resp_tier",
        "object": "response",
        "created_at": 1775000000,
        "status": "completed",
        "model": "gpt-5-mini",
        "service_tier": tier,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": 12_000,
            "input_tokens_details": {"cached_tokens": 3000},
            "output_tokens": 800,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 12_800,
        },
    }


@pytest.mark.parametrize(("tier", "want"), [("flex", FLEX), ("default", STANDARD)])
def test_a_responses_answer_at_a_tier_is_priced_at_it(
    gw: Stack, up: ScriptedUpstream, client: openai.OpenAI, tier: str, want: float
) -> None:
    up.script(RESPONSES, json_answer(response(tier)))
    reply = client.responses.create(
        model="gpt-5-mini",
        input="Summarise the log.",
        service_tier="flex",
        extra_headers={"x-request-id": f"tier-resp-{tier}"},
    )
    assert reply.output_text == "Done." and reply.service_tier == tier
    assert gw.row_for(f"tier-resp-{tier}")["cost_usd"] == pytest.approx(want, abs=1e-9)


def response_events(created_tier: str, done_tier: str) -> list[bytes]:
    """A Responses stream whose ``response.created`` states one tier and ``response.completed`` another
    (OpenAI's ``response.created`` echoes the requested tier, e.g. "auto"; the completed response states
    the tier that served it)."""
    done = response(done_tier)
    item = done["output"][0]
    started = {**done, "status": "in_progress", "service_tier": created_tier, "output": [], "usage": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Done.",
        },
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done},
    ]
    return [
        f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': i})}\n\n".encode()
        for i, e in enumerate(events)
    ]


@pytest.mark.parametrize(("created", "done", "want"), [("auto", "flex", FLEX), ("flex", "default", STANDARD)])
def test_a_responses_stream_is_priced_at_the_tier_its_completed_response_states(
    gw: Stack, up: ScriptedUpstream, client: openai.OpenAI, created: str, done: str, want: float
) -> None:
    up.script(RESPONSES, sse(response_events(created, done)))
    rid = f"tier-resp-stream-{created}-{done}"
    events = list(
        client.responses.create(
            model="gpt-5-mini",
            input="Summarise the log.",
            service_tier="flex",
            stream=True,
            extra_headers={"x-request-id": rid},
        )
    )
    assert events[-1].type == "response.completed"
    assert gw.row_for(rid)["cost_usd"] == pytest.approx(want, abs=1e-9)
