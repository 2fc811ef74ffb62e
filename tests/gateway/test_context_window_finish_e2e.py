"""An answer the context window cut, through the real gateway and recorder processes (s18 variants 10-l, 10-m).

Some chat servers end such an answer with a finish reason of their own: Z.ai's OpenAI endpoint with
``"model_context_window_exceeded"`` (Anthropic's own stop reason for the same thing; anomalyco/opencode#18813,
where it read as unknown and the agent looped instead of compacting), Mistral with ``"model_length"`` (its
finish_reason enum: the context window, beside ``"length"``, the max_tokens budget). The answer is cut, not
finished: a Messages client gets ``stop_reason: "max_tokens"`` (as the gateway says for Anthropic's own
``model_context_window_exceeded``), a Responses client ``status: "incomplete"`` with reason
``max_output_tokens``, never ``end_turn`` / ``completed``; the ledger keeps the answer's tokens.
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
MODEL = "grok-3-mini"
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
REASONS = ["model_context_window_exceeded", "model_length"]

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("ctxwin", {"xai": "/xai/v1"}) as st:
        yield st


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    obj = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": choices}
    return b"data: " + json.dumps({**obj, **extra}).encode() + b"\n\n"


def script_cut(up: ScriptedUpstream, reason: str, stream: bool) -> None:
    if stream:
        up.script(
            XAI,
            sse(
                [
                    _chunk([{"index": 0, "delta": {"role": "assistant", "content": "The repository has"}}]),
                    _chunk([{"index": 0, "delta": {}, "finish_reason": reason}]),
                    _chunk([], usage=USAGE),
                    b"data: [DONE]\n\n",
                ]
            ),
        )
        return
    message = {"role": "assistant", "content": "The repository has"}
    choice = {"index": 0, "message": message, "finish_reason": reason}
    answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [choice]}
    up.script(XAI, json_answer({**answer, "usage": USAGE}))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("reason", REASONS)
def test_a_messages_client_is_told_max_tokens(
    gw: Stack, up: ScriptedUpstream, reason: str, stream: bool
) -> None:
    script_cut(up, reason, stream)
    rid = f"ctxwin-msg-{reason}-{stream}"
    ant = anthropic.Anthropic(base_url=gw.gateway_url, api_key="client", max_retries=0)
    messages = [{"role": "user", "content": "Summarise the repository."}]
    headers = {"x-request-id": rid}
    if stream:
        with ant.messages.stream(model=MODEL, max_tokens=100, messages=messages, extra_headers=headers) as s:  # type: ignore[arg-type]
            final = s.get_final_message()
    else:
        final = ant.messages.create(model=MODEL, max_tokens=100, messages=messages, extra_headers=headers)  # type: ignore[arg-type]
    assert final.stop_reason == "max_tokens"
    assert final.content[0].type == "text" and final.content[0].text == "The repository has"
    row = gw.row_for(rid)
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 100, 20)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("reason", REASONS)
def test_a_responses_client_is_told_incomplete(
    gw: Stack, up: ScriptedUpstream, reason: str, stream: bool
) -> None:
    script_cut(up, reason, stream)
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="client", max_retries=0)
    if stream:
        events = list(client.responses.create(model=MODEL, input="Summarise the repository.", stream=True))
        terminal = [e.type for e in events if e.type.startswith("response.") and "." not in e.type[9:]]
        assert terminal[-1] == "response.incomplete", terminal
        reply = events[-1].response  # type: ignore[union-attr]
    else:
        reply = client.responses.create(model=MODEL, input="Summarise the repository.")
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"
    assert reply.output_text == "The repository has"
