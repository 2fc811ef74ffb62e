"""Session 27 (review27) end to end: faults the cold review of the day's merges found.

- A translated non-streamed request (an Anthropic client on a chat-wire provider) whose answer the server cut (its
  finish reason) falls back to the next route; the cut answer's tokens, which its provider billed, are in the
  ledger as a failed attempt's (``BilledAttempt``), its cost in the row's, as a same-format client's and a
  streamed request's are (fix27); before, that lane billed them nowhere.

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import anthropic
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

pytestmark = pytest.mark.usefixtures("fresh_up")
CATALOG = """
[[providers]]
name = "cheap"
base_url = "{url}/cheap/v1"
models = ["m27r"]
price = {{ input = 0.1, output = 0.1 }}

[[providers]]
name = "dear"
base_url = "{url}/dear/v1"
models = ["m27r"]
price = {{ input = 1.0, output = 1.0 }}
"""
CHEAP = "/cheap/v1/chat/completions"
DEAR = "/dear/v1/chat/completions"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


@pytest.fixture(scope="module")
def gw(catalog_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with catalog_stack("review27", CATALOG, BREAKER_FAILURES="1000") as st:
        yield st


def _answer(text: str, finish: str = "stop") -> dict[str, object]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    return {"id": "c27r", "object": "chat.completion", "model": "m27r", "choices": [choice], "usage": USAGE}


def test_a_translated_cut_answers_tokens_are_billed_when_another_route_answers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHEAP, json_answer(_answer("Hel", "insufficient_system_resource")))
    up.script(DEAR, json_answer(_answer("Hello from dear.")))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0, timeout=30) as client:
        message = client.messages.create(
            model="m27r",
            max_tokens=64,
            messages=[{"role": "user", "content": "Say hello."}],
            extra_headers={"x-request-id": "review27-translated-billed"},
        )
    assert [b.text for b in message.content if b.type == "text"] == ["Hello from dear."]
    row = gw.row_for("review27-translated-billed")
    assert (row["provider"], row["input_tokens"], row["output_tokens"]) == ("dear", 12, 3)  # the answer's
    (cut,) = json.loads(row["failed_attempts"])
    # catalog prices are USD per million tokens: cheap 0.1 in and out, dear 1.0
    assert (cut["provider"], cut.get("input_tokens"), cut.get("output_tokens")) == ("cheap", 12, 3)
    assert cut["cost_usd"] == pytest.approx(15 * 0.1 / 1e6)
    assert row["cost_usd"] == pytest.approx(15 * 1.0 / 1e6 + 15 * 0.1 / 1e6)
