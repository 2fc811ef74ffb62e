"""Session 34 (bug34b) variants, end to end: the official openai SDK's Responses client (Codex's format), the gateway
and the recorder as processes, OpenAI replaced by the scripted upstream.

- 04v34k / 04v34l: a stateless Codex conversation (``store: false``, every earlier reasoning item sent back with its
  ``encrypted_content``) whose reasoning was encrypted for another organization or Responses server moves to
  OpenAI, which answers 400 ``invalid_encrypted_content`` "The encrypted content … could not be verified."
  (openai/codex#8132). The gateway passed the refusal on, on every later turn too: the session was stuck. Now one
  retry goes without the input's encrypted reasoning items (``_minted.strip_refused_for_responses``), as the
  Anthropic wire's does without thinking Anthropic refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import openai
import orjson
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
RESPONSES = "/openai/v1/responses"
REFUSAL = {
    "error": {
        "message": "The encrypted content gAAA...DQ== could not be verified.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_encrypted_content",
    }
}
ANSWER: dict[str, Any] = {
    "id": "resp_34b",
    "object": "response",
    "created_at": 1775000000,
    "status": "completed",
    "model": "gpt-5",
    "output": [
        {
            "id": "msg_34b",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Rome", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 40,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 42,
    },
}
FOREIGN = {"id": "rs_foreign1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAABpForeign=="}
HISTORY: list[Any] = [
    {"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]},
    FOREIGN,
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Paris"}]},
    {"role": "user", "content": [{"type": "input_text", "text": "And Italy?"}]},
]


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("bug34b", {"openai": "/openai/v1"}) as st:
        yield st


def _streamed() -> Any:
    opening = {**ANSWER, "status": "in_progress", "output": [], "usage": None}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": opening},
        {"type": "response.completed", "sequence_number": 1, "response": ANSWER},
    ]
    return sse([b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events])


@pytest.mark.parametrize("stream", [False, True], ids=["04v34k-whole", "04v34l-streamed"])
def test_codex_history_reasoning_openai_cannot_decrypt_is_retried_without_it(
    gw: Stack, up: ScriptedUpstream, stream: bool
) -> None:
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    up.script(RESPONSES, json_answer(REFUSAL, status=400), _streamed() if stream else json_answer(ANSWER))
    rid = f"bug34b-04-{'s' if stream else 'w'}"
    request: dict[str, Any] = {
        "model": "gpt-5",
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "input": HISTORY,
        "extra_headers": {"x-request-id": rid},
    }
    if stream:
        with client.responses.stream(**request) as s:
            answer = s.get_final_response()
    else:
        answer = client.responses.create(**request)
    assert answer.output_text == "Rome"
    sent = [seen.json for seen in up.seen(RESPONSES)]
    assert len(sent) == 2  # the refusal, then the one retry
    assert FOREIGN in sent[0]["input"]
    assert sent[1]["input"] == [item for item in HISTORY if item is not FOREIGN]
    row = gw.row_for(rid)
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 40, 2)


@pytest.fixture(scope="module")
def gw_openrouter(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("bug34b-or", {"openrouter": "/openrouter/api/v1"}) as st:
        yield st


def test_openrouter_relayed_refusal_of_encrypted_reasoning_details_is_retried_without_them(
    gw_openrouter: Stack, up: ScriptedUpstream
) -> None:
    """04v34n: an openai SDK chat client on ``openai/gpt-5`` through OpenRouter sends back the reasoning details a
    turn served by another of OpenRouter's upstreams made; OpenRouter relays OpenAI's refusal in ``metadata.raw``."""
    path = "/openrouter/api/v1/chat/completions"
    raw = orjson.dumps(REFUSAL).decode()
    relayed = {"error": {"code": 400, "message": "Provider returned error", "metadata": {"raw": raw}}}
    answer = {
        "id": "gen-34b",
        "object": "chat.completion",
        "created": 1775000000,
        "model": "openai/gpt-5",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Rome"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42},
    }
    up.script(path, json_answer(relayed, status=400), json_answer(answer))
    summary = {"type": "reasoning.summary", "summary": "Paris.", "format": "openai-responses-v1", "index": 0}
    encrypted = {
        "type": "reasoning.encrypted",
        "data": "gAAAAABp==",
        "format": "openai-responses-v1",
        "index": 1,
    }
    chat = openai.OpenAI(base_url=f"{gw_openrouter.gateway_url}/v1", api_key="sk-client", max_retries=0)
    done = chat.chat.completions.create(
        model="openai/gpt-5",
        messages=[  # type: ignore[list-item]
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris", "reasoning_details": [summary, encrypted]},
            {"role": "user", "content": "And Italy?"},
        ],
        extra_headers={"x-request-id": "bug34b-04n"},
    )
    assert done.choices[0].message.content == "Rome"
    sent = [seen.json for seen in up.seen(path)]
    assert len(sent) == 2
    assert sent[0]["messages"][1]["reasoning_details"] == [summary, encrypted]
    assert sent[1]["messages"][1]["reasoning_details"] == [summary]
    assert gw_openrouter.row_for("bug34b-04n")["status"] == 200
