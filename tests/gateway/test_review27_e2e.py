"""Session 27 (review27) end to end: faults the cold review of the day's merges found.

- A translated non-streamed request (an Anthropic client on a chat-wire provider) whose answer the server cut (its
  finish reason) falls back to the next route; the cut answer's tokens, which its provider billed, are in the
  ledger as a failed attempt's (``BilledAttempt``), its cost in the row's, as a same-format client's and a
  streamed request's are (fix27); before, that lane billed them nowhere.
- A translated streamed request whose client's body holds ``n`` (an Anthropic client's extra field: its
  translation sends no ``n``, so the chat server answers one choice) ends at that choice's finish, as any request
  without ``n``; before, fix27's ``expect_choices`` awaited choices the server was never asked for, and a server
  that holds its connection open without ``[DONE]`` turned the whole answer into a broken stream.

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json
from functools import partial

import anthropic
import pytest

from tests.e2e_builders import CHEAP, DEAR, USAGE, catalog, catalog_gw, cheap_and_dear, chunk
from tests.e2e_builders import frame as _frame
from tests.procs import Stack
from tests.scripted_upstream import Pause, ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CATALOG = catalog(*cheap_and_dear("m27r"))
gw = catalog_gw("review27", CATALOG, BREAKER_FAILURES="1000", UPSTREAM_CHUNK_TIMEOUT="2")


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


_chunk = partial(chunk, ident="c27r", model="m27r")


def test_a_translated_stream_ends_at_its_finish_though_the_clients_body_holds_n(
    gw: Stack, up: ScriptedUpstream
) -> None:
    ended = {**_chunk(None, "stop"), "usage": USAGE}
    # no [DONE], and the connection held open past UPSTREAM_CHUNK_TIMEOUT (a server that omits it)
    up.script(CHEAP, sse([_frame(_chunk("Hello.")), _frame(ended), Pause(5.0)]))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0, timeout=30) as client:
        with client.messages.stream(
            model="m27r",
            max_tokens=64,
            messages=[{"role": "user", "content": "Say hello."}],
            extra_body={"n": 2},
            extra_headers={"x-request-id": "review27-translated-n"},
        ) as stream:
            message = stream.get_final_message()
    assert [b.text for b in message.content if b.type == "text"] == ["Hello."]
    assert message.stop_reason == "end_turn"
    assert "n" not in up.seen(CHEAP)[-1].json  # the translation asked for one choice
    row = gw.row_for("review27-translated-n")
    assert (row["status"], row["error_type"], row["output_tokens"]) == (200, None, 3)
