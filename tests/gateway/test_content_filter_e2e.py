"""A provider's content filter through the real gateway and recorder processes (s12 variant 13-d).

A chat server (xAI, scripted) ends an answer with ``finish_reason: "content_filter"``. A Responses client
(the openai SDK) gets what OpenAI's Responses API sends for a filtered answer, streamed and not: status
``incomplete``, ``incomplete_details.reason: "content_filter"``, the one ``response.incomplete`` terminal
event, the text that came before the filter in its message; the ledger still records the answer's tokens
and cost. Chat and Messages clients keep their own words for it (``finish_reason: "content_filter"``,
``stop_reason: "refusal"``).
"""

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

XAI = "/xai/v1/chat/completions"
MODEL = "grok-3-mini"  # genai-prices: $0.30 input, $0.50 output per MTok
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
COST = (100 * 0.30 + 20 * 0.50) / 1e6


pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("filter", {"xai": "/xai/v1"}) as st:
        yield st


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    obj = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": choices}
    return b"data: " + json.dumps({**obj, **extra}).encode() + b"\n\n"


def script_filtered(up: ScriptedUpstream, stream: bool) -> None:
    if stream:
        up.script(
            XAI,
            sse(
                [
                    _chunk([{"index": 0, "delta": {"role": "assistant", "content": "Here is"}}]),
                    _chunk([{"index": 0, "delta": {}, "finish_reason": "content_filter"}]),
                    _chunk([], usage=USAGE),
                    b"data: [DONE]\n\n",
                ]
            ),
        )
        return
    message = {"role": "assistant", "content": "Here is"}
    choice = {"index": 0, "message": message, "finish_reason": "content_filter"}
    answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [choice]}
    up.script(XAI, json_answer({**answer, "usage": USAGE}))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_filtered_chat_answer_reaches_a_responses_client_incomplete(
    gw: Stack, up: ScriptedUpstream, stream: bool
) -> None:
    script_filtered(up, stream)
    rid = f"filter-resp-{stream}"
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="client", max_retries=0)
    if stream:
        events = list(
            client.responses.create(model=MODEL, input="x", stream=True, extra_headers={"x-request-id": rid})
        )
        terminal = [e.type for e in events if e.type.startswith("response.") and "." not in e.type[9:]]
        assert terminal[-1] == "response.incomplete", terminal
        assert "response.completed" not in terminal
        reply = events[-1].response  # type: ignore[union-attr]
    else:
        reply = client.responses.create(model=MODEL, input="x", extra_headers={"x-request-id": rid})
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "content_filter"
    assert reply.output_text == "Here is"
    assert reply.usage is not None and reply.usage.output_tokens == 20
    row = gw.row_for(rid)
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 100, 20)
    assert row["cost_usd"] == pytest.approx(COST, abs=1e-12)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_chat_and_messages_clients_keep_their_own_words(
    gw: Stack, up: ScriptedUpstream, stream: bool
) -> None:
    script_filtered(up, stream)
    chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="client", max_retries=0)
    messages = [{"role": "user", "content": "x"}]
    if stream:
        chunks = list(chat.chat.completions.create(model=MODEL, messages=messages, stream=True))  # type: ignore[arg-type]
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    else:
        answer = chat.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
        finish = [answer.choices[0].finish_reason]
    assert finish == ["content_filter"]
    script_filtered(up, stream)
    ant = anthropic.Anthropic(base_url=gw.gateway_url, api_key="client", max_retries=0)
    if stream:
        with ant.messages.stream(model=MODEL, max_tokens=100, messages=messages) as s:  # type: ignore[arg-type]
            stop = s.get_final_message().stop_reason
    else:
        stop = ant.messages.create(model=MODEL, max_tokens=100, messages=messages).stop_reason  # type: ignore[arg-type]
    assert stop == "refusal"
