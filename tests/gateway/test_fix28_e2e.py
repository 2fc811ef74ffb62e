"""Session 28 (fix28) end to end: the review leads session 27 left.

- A stream that fails before its first token after its provider said its usage (a chat chunk with usage, then
  an error event; Anthropic's ``message_start`` usage, then ``overloaded_error``): the failed attempt's tokens
  and cost are in ``failed_attempts`` and the row's ``cost_usd`` when another route answers, the row's own
  tokens when none does; before, the failed attempt recorded no usage.

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json
from functools import partial

import anthropic
import httpx
import openai
import pytest

from tests.e2e_builders import (
    CHEAP,
    DEAR,
    HI,
    USAGE,
    catalog,
    catalog_gw,
    chat_answer,
    chat_stream,
    chat_streamed,
    cheap_and_dear,
    chunk,
    provider,
    scripted_gw,
)
from tests.e2e_builders import frame as _frame
from tests.procs import Stack
from tests.scripted_upstream import Pause, ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CATALOG = catalog(
    *cheap_and_dear("m28", "solo28"),
    provider("far", "far28"),
    provider("farther", "farther28"),
)
gw = catalog_gw("fix28", CATALOG, BREAKER_FAILURES="1000")


_chunk = partial(chunk, ident="c28", model="m28")


USAGE_CHUNK = {"id": "c28", "object": "chat.completion.chunk", "model": "m28", "choices": [], "usage": USAGE}
OVERLOADED = {"error": {"message": "The server is overloaded", "type": "server_error", "code": "overloaded"}}


def test_a_stream_cut_before_its_first_token_bills_the_usage_it_said_when_another_route_answers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHEAP, sse([_frame(USAGE_CHUNK), _frame(OVERLOADED)]))
    up.script(DEAR, sse(chat_stream("Hi.", ident="c28", model="m28")))
    assert chat_streamed(gw, "fix28-cut-early-fallback", "m28", include_usage=True) == ("Hi.", None)
    row = gw.row_for("fix28-cut-early-fallback")
    assert (row["status"], row["provider"]) == (200, "dear")
    (cut,) = json.loads(row["failed_attempts"])
    assert (cut["provider"], cut["input_tokens"], cut["output_tokens"]) == ("cheap", 12, 3)
    assert cut["cost_usd"] == pytest.approx(15 * 0.1 / 1e6)
    assert row["cost_usd"] == pytest.approx(15 * 0.1 / 1e6)  # the answer said no usage (0)


def test_a_stream_cut_before_its_first_token_with_no_route_left_bills_its_usage_on_the_row(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHEAP, sse([_frame(USAGE_CHUNK), _frame(OVERLOADED)]))
    text, error = chat_streamed(gw, "fix28-cut-early-alone", "solo28", include_usage=True)
    assert text == "" and error is not None
    row = gw.row_for("fix28-cut-early-alone")
    assert row["status"] != 200
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)
    assert row["cost_usd"] == pytest.approx(15 * 0.1 / 1e6)


def test_with_no_route_left_the_rows_tokens_are_its_own_providers_not_an_earlier_routes(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """cheap bills a cut stream, then dear fails with nothing billed: the row (dear's, the last tried) holds no
    tokens of cheap's (review28); cheap's are in its failed attempt and its cost in the request's."""
    up.script(CHEAP, sse([_frame(USAGE_CHUNK), _frame(OVERLOADED)]))
    up.script(DEAR, json_answer({"error": {"message": "boom", "type": "server_error"}}, status=500))
    text, error = chat_streamed(gw, "fix28-billed-then-failed", "m28", include_usage=True)
    assert text == "" and error is not None
    row = gw.row_for("fix28-billed-then-failed")
    assert (row["status"] >= 500, row["provider"]) == (True, "dear")
    assert (row["input_tokens"], row["output_tokens"]) == (0, 0)
    billed, plain = json.loads(row["failed_attempts"])
    assert (billed["provider"], billed["input_tokens"], billed["output_tokens"]) == ("cheap", 12, 3)
    assert plain["provider"] == "dear" and "input_tokens" not in plain
    assert row["cost_usd"] == pytest.approx(15 * 0.1 / 1e6)


def test_a_stream_answering_a_plain_request_that_ends_in_an_error_bills_its_usage_when_another_route_answers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """A non-streamed request a server answers with an event stream (``_stream_as_json``): tokens, its usage,
    then an error event; the next route answers. Before: the failed attempt recorded no usage."""
    up.script(CHEAP, sse([_frame(_chunk("Hel")), _frame(USAGE_CHUNK), _frame(OVERLOADED)]))
    up.script(DEAR, json_answer(chat_answer("Hello.", ident="c28", model="m28", usage=(12, 3))))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        got = client.chat.completions.create(
            model="m28",
            messages=HI,  # type: ignore[arg-type]
            extra_headers={"x-request-id": "fix28-plain-sse-error"},
        )
    assert got.choices[0].message.content == "Hello."
    row = gw.row_for("fix28-plain-sse-error")
    assert (row["provider"], row["input_tokens"], row["output_tokens"]) == ("dear", 12, 3)
    (failed,) = json.loads(row["failed_attempts"])
    assert (failed["provider"], failed["input_tokens"], failed["output_tokens"]) == ("cheap", 12, 3)
    assert row["cost_usd"] == pytest.approx(15 * 1.0 / 1e6 + 15 * 0.1 / 1e6)


def _choices(*finishes: str) -> dict[str, object]:
    choices = [
        {"index": i, "message": {"role": "assistant", "content": f"Hello {i}."}, "finish_reason": f}
        for i, f in enumerate(finishes)
    ]
    return {"id": "c28", "object": "chat.completion", "model": "m28", "choices": choices, "usage": USAGE}


def test_a_whole_answer_whose_second_choice_the_server_cut_falls_back(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """``n=2``, choice 1 cut (vLLM's ``abort``): a failed attempt, the next route answers. Before: only choice 0
    was read, and the cut answer went back as complete."""
    up.script(CHEAP, json_answer(_choices("stop", "abort")))
    up.script(DEAR, json_answer(_choices("stop", "stop")))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        got = client.chat.completions.create(
            model="m28",
            messages=HI,  # type: ignore[arg-type]
            n=2,
            extra_headers={"x-request-id": "fix28-n2-cut"},
        )
    assert [c.finish_reason for c in got.choices] == ["stop", "stop"]
    row = gw.row_for("fix28-n2-cut")
    assert (row["status"], row["provider"]) == (200, "dear")
    assert [f["provider"] for f in json.loads(row["failed_attempts"])] == ["cheap"]


LIMITED = {"error": {"message": "Rate limit exceeded", "type": "rate_limit_error", "code": 429}}


@pytest.mark.parametrize(
    ("model", "path", "headers"),
    [
        # OpenRouter's form (Unix ms) with a bogus value: 1e20 ms is 3e9 years from now
        ("far28", "/far/v1/chat/completions", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1e20"}),
        ("farther28", "/farther/v1/chat/completions", {"retry-after": "1e20"}),
    ],
)
def test_a_wait_longer_than_any_window_is_told_as_none(
    gw: Stack, up: ScriptedUpstream, model: str, path: str, headers: dict[str, str]
) -> None:
    """A reset or Retry-After beyond any provider's window (``LONGEST_WAIT_S``) is no wait: the client's 429
    carries none, the first time and when the resting provider's refusal is told again. Before: a
    ``retry-after`` of 10^17 (or 10^20) seconds."""
    for _ in range(2):
        up.script(path, json_answer(LIMITED, 429, headers=headers))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        for attempt in range(2):
            with pytest.raises(openai.RateLimitError) as caught:
                client.chat.completions.create(
                    model=model,
                    messages=HI,  # type: ignore[arg-type]
                    extra_headers={"x-request-id": f"fix28-far-{model}-{attempt}"},
                )
            said = caught.value.response.headers.get("retry-after")
            assert said is None or int(said) <= 31 * 86400, said
            assert "retry after 1" not in str(caught.value.body)
            assert "try again in 1" not in str(caught.value.body)


claude = scripted_gw("fix28-claude", {"anthropic": "/anthropic"}, BREAKER_FAILURES="1000")


def _event(name: str, obj: object) -> bytes:
    return f"event: {name}\n".encode() + _frame(obj)


def test_a_claude_stream_overloaded_after_message_start_bills_the_input_it_said(
    claude: Stack, up: ScriptedUpstream
) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_28",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": 1},
        },
    }
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    up.script("/anthropic/v1/messages", sse([_event("message_start", start), _event("error", error)]))
    with anthropic.Anthropic(base_url=claude.gateway_url, api_key="k", max_retries=0, timeout=30) as client:
        with pytest.raises(anthropic.APIError):
            with client.messages.stream(
                model="claude-haiku-4-5",
                max_tokens=64,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-request-id": "fix28-claude-overloaded"},
            ) as stream:
                for _ in stream:
                    pass
    row = claude.row_for("fix28-claude-overloaded")
    assert row["status"] != 200
    assert (row["input_tokens"], row["output_tokens"]) == (25, 1)
    (failed,) = json.loads(row["failed_attempts"])
    assert (failed["input_tokens"], failed["output_tokens"]) == (25, 1)


oai = scripted_gw("fix28-oai", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000")


def _failed_response(code: str) -> dict[str, object]:
    return {
        "id": "resp_28",
        "object": "response",
        "status": "failed",
        "model": "gpt-4o-mini",
        "output": [],
        "error": {"code": code, "message": f"failed: {code}"},
        "usage": None,
    }


def test_a_failed_responses_answer_in_a_200_is_the_providers_error(oai: Stack, up: ScriptedUpstream) -> None:
    """A non-streamed Responses answer with ``status: "failed"`` and ``rate_limit_exceeded`` in a 200: the
    client gets a 429 (the code's status, as the same ``response.failed`` in a stream reads). Before: a 502
    ``bad_response``."""
    for _ in range(4):
        up.script("/openai/v1/responses", json_answer(_failed_response("rate_limit_exceeded")))
    with openai.OpenAI(base_url=oai.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        with pytest.raises(openai.RateLimitError):
            client.responses.create(
                model="gpt-4o-mini", input="hi", extra_headers={"x-request-id": "fix28-responses-failed"}
            )
    row = oai.row_for("fix28-responses-failed")
    assert row["status"] == 429


kept = scripted_gw("fix28-kept", {"openai": "/openai/v1"}, STREAM_KEEPALIVE_S="0.2")


def _responses_event(kind: str, n: int, **rest: object) -> bytes:
    return f"event: {kind}\n".encode() + _frame({"type": kind, "sequence_number": n, **rest})


def test_a_keepalive_between_created_and_in_progress_skips_no_number(
    kept: Stack, up: ScriptedUpstream
) -> None:
    """A Responses passthrough whose upstream is silent between ``response.created`` and ``response.in_progress``
    (the gateway sends numbered ``keepalive`` events in the silence): the client's numbers are 0, 1, 2, … Before:
    ``in_progress`` was dropped and its number skipped."""
    resp = {
        "id": "resp_28",
        "object": "response",
        "status": "in_progress",
        "model": "gpt-4o-mini",
        "output": [],
    }
    item = {"id": "msg_28", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    done = dict(item, status="completed", content=[{"type": "output_text", "text": "Hi", "annotations": []}])
    usage = {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}
    text = {"item_id": "msg_28", "output_index": 0, "content_index": 0}
    pieces: list[bytes | Pause] = [
        _responses_event("response.created", 0, response=resp),
        Pause(1.5),
        _responses_event("response.in_progress", 1, response=resp),
        _responses_event("response.output_item.added", 2, output_index=0, item=item),
        _responses_event("response.output_text.delta", 3, delta="Hi", **text),
        _responses_event("response.output_item.done", 4, output_index=0, item=done),
        _responses_event(
            "response.completed", 5, response=dict(resp, status="completed", output=[done], usage=usage)
        ),
    ]
    up.script("/openai/v1/responses", sse(pieces))
    body = {"model": "gpt-4o-mini", "input": "hi", "stream": True}
    got = httpx.post(
        kept.gateway_url + "/v1/responses", json=body, headers={"authorization": "Bearer k"}, timeout=30
    )
    events = [json.loads(line[6:]) for line in got.text.splitlines() if line.startswith("data: ")]
    assert any(e["type"] == "keepalive" for e in events)  # the silence was kept alive with events
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(len(numbers))), numbers
