"""review35, end to end: bug34b's retry without the reasoning OpenAI cannot decrypt, for a client that sends its
history's items with their ids (the openai SDK's Responses client, as the openai-agents SDKs and Continue do).

The scripted OpenAI answers as OpenAI does: 400 ``invalid_encrypted_content`` while the foreign reasoning item is in
the input, 400 "Item 'msg_…' of type 'message' was provided without its required 'reasoning' item: 'rs_…'"
(continuedev/continue#12620; cline/cline#12242 for a ``function_call``) while an item made with it keeps its id,
and the answer otherwise. Session 34's retry dropped the reasoning item only: the client got the second 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

pytestmark = pytest.mark.usefixtures("fresh_up")
RESPONSES = "/openai/v1/responses"
FOREIGN = {"id": "rs_foreign1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAABpForeign=="}
CALL = {"id": "fc_r35", "type": "function_call", "call_id": "call_r35", "name": "ls", "arguments": "{}"}
SAID = {
    "id": "msg_r35",
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "One file: a.txt", "annotations": []}],
}
HISTORY: list[Any] = [
    {"role": "user", "content": [{"type": "input_text", "text": "What is here?"}]},
    FOREIGN,
    CALL,
    {"type": "function_call_output", "call_id": "call_r35", "output": "a.txt"},
    SAID,
    {"role": "user", "content": [{"type": "input_text", "text": "And its size?"}]},
]
ANSWER: dict[str, Any] = {
    "id": "resp_r35",
    "object": "response",
    "created_at": 1775000000,
    "status": "completed",
    "model": "gpt-5",
    "output": [
        {
            "id": "msg_r35b",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "12 bytes", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 50,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 53,
    },
}


def _refusal(message: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": "input", "code": code}}


def _has(body: dict[str, Any], item_id: str) -> bool:
    return any(isinstance(i, dict) and i.get("id") == item_id for i in body.get("input", []))


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("review35-enc", {"openai": "/openai/v1"}) as st:
        yield st


def test_a_history_with_item_ids_is_retried_without_the_reasoning_and_its_items_ids(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(
        RESPONSES,
        json_answer(
            _refusal("The encrypted content gAAA...DQ== could not be verified.", "invalid_encrypted_content"),
            status=400,
            when=lambda body: _has(body, "rs_foreign1"),
            keep=True,
        ),
        json_answer(
            _refusal(
                "Item 'fc_r35' of type 'function_call' was provided without its required 'reasoning' item: "
                "'rs_foreign1'.",
                None,
            ),
            status=400,
            when=lambda body: _has(body, "fc_r35") or _has(body, "msg_r35"),
            keep=True,
        ),
        json_answer(ANSWER),
    )
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    answer = client.responses.create(
        model="gpt-5",
        store=False,
        include=["reasoning.encrypted_content"],
        input=HISTORY,
        extra_headers={"x-request-id": "review35-enc"},
    )
    assert answer.output_text == "12 bytes"
    sent = [seen.json["input"] for seen in up.seen(RESPONSES)]
    assert len(sent) == 2 and sent[0] == HISTORY  # the refusal, then the one retry
    made = {k: v for k, v in CALL.items() if k != "id"}, {k: v for k, v in SAID.items() if k != "id"}
    assert sent[1] == [HISTORY[0], made[0], HISTORY[3], made[1], HISTORY[5]]
    row = gw.row_for("review35-enc")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 50, 3), row
