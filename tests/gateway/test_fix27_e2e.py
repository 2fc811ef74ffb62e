"""Session 27 (fix27) end to end: the review leads session 26 left.

- A streamed request answered with one whole JSON body whose finish reason says the server cut it
  (``insufficient_system_resource``): the next route is tried; with none, the client's stream carries the answer
  then the cut as an in-stream error, the ledger the cut's 503 and its usage; before, a complete answer (200).
- A held cut answer (no route answered) wins over a later route's 4xx, and its ledger row names the provider whose
  bytes the client got, with its usage; before, the row named the last route tried.
- An ``n=2`` chat stream whose choice 1 starts after choice 0's finish, then breaks off before its own finish, is
  a failure (the client told, the ledger not a 200); before, choice 0's finish ended the answer. A server that
  ignores ``n`` (choice 0 alone) still ends normally.
- ``MAX_ANSWER_BYTES`` caps a stream's bytes before its first token (held to be able to fall back: the next route
  is tried) and one event's (a line that never ends: an in-stream error); before, neither was capped and the
  gateway read on until a timeout.
- A failed attempt's tokens the provider billed (a cut answer, then a fallback that answered) are in the ledger:
  the failed attempt's tokens and cost in ``failed_attempts``, its cost in the row's ``cost_usd``; before, only
  the answering attempt's cost.
- A streamed request's in-stream error (before its first token) says when to retry as an HTTP error would: the
  stream's rate-limit headers; before, only the error object was read.

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json
from functools import partial

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
)
from tests.e2e_builders import frame as _frame
from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CATALOG = catalog(
    *cheap_and_dear("m27", "solo27"),
    provider("resting", "rest27"),
)
RESTING = "/resting/v1/chat/completions"  # rests after its 429: no other test asks it
gw = catalog_gw("fix27", CATALOG, BREAKER_FAILURES="1000")


def test_an_error_event_before_the_first_token_carries_the_retry_hint_of_its_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    error = {"error": {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}}
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
    up.script(RESTING, sse([_frame(error)], headers=headers))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as failed:
            client.chat.completions.create(
                model="rest27",
                messages=HI,  # type: ignore[arg-type]
                stream=True,
                extra_headers={"x-request-id": "fix27-retry-stream"},
            )
    assert failed.value.response.headers.get("retry-after") == "20"


def _answer(text: str, finish: str = "stop") -> dict[str, object]:
    return chat_answer(text, ident="c27", model="m27", usage=(12, 3), finish=finish)


_chunk = partial(chunk, ident="c27", model="m27")


def test_a_cut_whole_answer_to_a_streamed_request_falls_back(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, json_answer(_answer("Hel", "insufficient_system_resource")))
    up.script(DEAR, sse(chat_stream("Hello from dear.", ident="c27", model="m27")))
    assert chat_streamed(gw, "fix27-cut-stream-fallback", "m27") == ("Hello from dear.", None)
    row = gw.row_for("fix27-cut-stream-fallback")
    assert (row["status"], row["provider"]) == (200, "dear")
    failed = json.loads(row["failed_attempts"])
    assert [(f["provider"], f["status"]) for f in failed] == [("cheap", 503)]


def test_a_cut_whole_answer_to_a_streamed_request_with_no_route_left_is_streamed_then_cut(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHEAP, json_answer(_answer("Hel", "insufficient_system_resource")))
    text, error = chat_streamed(gw, "fix27-cut-stream-alone", "solo27")
    assert text == "Hel" and error is not None  # the answer, then the cut as an in-stream error
    row = gw.row_for("fix27-cut-stream-alone")
    assert (row["status"], row["provider"]) == (503, "cheap")
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)  # what was made is billed


def test_a_held_cut_answer_wins_over_a_later_4xx_and_its_row_names_its_provider(
    gw: Stack, up: ScriptedUpstream
) -> None:
    sent = json.dumps(_answer("Hel", "insufficient_system_resource"), indent=1).encode()
    up.script(CHEAP, Answer(body=sent))
    refused = {
        "error": {
            "message": "This model's maximum context length is 8 tokens.",
            "type": "invalid_request_error",
        }
    }
    up.script(DEAR, json_answer(refused, status=400))
    r = httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        json={"model": "m27", "messages": HI},
        headers={"x-request-id": "fix27-held-4xx"},
        timeout=30,
    )
    assert (r.status_code, r.content) == (200, sent)
    assert r.headers["x-ekai-provider"] == "cheap"
    row = gw.row_for("fix27-held-4xx")
    assert (row["status"], row["provider"], row["served_model"]) == (503, "cheap", "m27")
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)
    assert len(up.seen(DEAR)) == 1  # the later route was tried, and refused


def _stream_n2(gw: Stack, rid: str) -> list[dict[str, object]]:
    body = {"model": "solo27", "stream": True, "n": 2, "messages": HI}
    headers = {"x-request-id": rid}
    with httpx.stream(
        "POST", gw.gateway_url + "/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as r:
        text = r.read().decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def test_a_two_choice_stream_whose_second_choice_starts_late_and_breaks_off_is_a_failure(
    gw: Stack, up: ScriptedUpstream
) -> None:
    finish0 = {**_chunk(None, "stop"), "usage": USAGE}
    up.script(CHEAP, sse([_frame(_chunk("Hello")), _frame(finish0), _frame(_chunk("Hi", index=1))]))
    frames = _stream_n2(gw, "fix27-n2-late")
    assert any("error" in f for f in frames)  # the client is told the answer broke off
    assert gw.row_for("fix27-n2-late")["status"] != 200


def test_a_two_choice_request_a_server_answers_with_one_choice_ends_normally(
    gw: Stack, up: ScriptedUpstream
) -> None:
    finish0 = {**_chunk(None, "stop"), "usage": USAGE}
    up.script(CHEAP, sse([_frame(_chunk("Hello")), _frame(finish0)]))
    frames = _stream_n2(gw, "fix27-n2-ignored")
    assert not any("error" in f for f in frames)
    assert gw.row_for("fix27-n2-ignored")["status"] == 200


CAP = 4096


capped = catalog_gw("fix27cap", CATALOG, MAX_ANSWER_BYTES=str(CAP), BREAKER_FAILURES="1000")


def _endless_line(head: bytes) -> list[bytes | Pause]:
    """``head``, then a data line that goes on past ``CAP`` without its end, a KB every half second for 20 s: it
    ends only when the gateway stops reading it (then the next write fails and the answer ends)."""
    line = b'data: {"id": "c27", "choices": [{"index": 0, "delta": {"content": "'
    trickle: list[bytes | Pause] = []
    for _ in range(40):
        trickle += [Pause(0.5), b"x" * 1024]
    return [head, line, *[b"x" * 1024] * 8, *trickle]


def test_a_stream_holding_more_than_the_cap_before_its_first_token_falls_back(
    capped: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHEAP, sse(_endless_line(b"")))
    up.script(DEAR, sse(chat_stream("Hello from dear.", ident="c27", model="m27")))
    assert chat_streamed(capped, "fix27-cap-first", "m27") == ("Hello from dear.", None)
    row = capped.row_for("fix27-cap-first")
    assert (row["status"], row["provider"]) == (200, "dear")
    failed = json.loads(row["failed_attempts"])
    assert [(f["provider"], f["error_type"]) for f in failed] == [("cheap", "bad_response")]


def test_an_event_longer_than_the_cap_after_the_first_token_ends_the_stream_with_an_error(
    capped: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHEAP, sse(_endless_line(_frame(_chunk("Hello")))))
    text, error = chat_streamed(capped, "fix27-cap-line", "solo27")
    assert text == "Hello" and error is not None and "MAX_ANSWER_BYTES" in str(error)
    row = capped.row_for("fix27-cap-line")
    assert (row["status"], row["error_type"]) == (502, "bad_response")


def test_a_cut_answers_tokens_are_billed_when_another_route_answers(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, json_answer(_answer("Hel", "insufficient_system_resource")))
    up.script(DEAR, json_answer(_answer("Hello from dear.")))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        answer = client.chat.completions.create(
            model="m27",
            messages=HI,  # type: ignore[arg-type]
            extra_headers={"x-request-id": "fix27-failed-billed"},
        )
    assert answer.choices[0].message.content == "Hello from dear."
    row = gw.row_for("fix27-failed-billed")
    assert (row["provider"], row["input_tokens"], row["output_tokens"]) == ("dear", 12, 3)  # the answer's
    (cut,) = json.loads(row["failed_attempts"])
    # catalog prices are USD per million tokens: cheap 0.1 in and out, dear 1.0
    assert (cut["provider"], cut["input_tokens"], cut["output_tokens"]) == ("cheap", 12, 3)
    assert cut["cost_usd"] == pytest.approx(15 * 0.1 / 1e6)
    assert row["cost_usd"] == pytest.approx(15 * 1.0 / 1e6 + 15 * 0.1 / 1e6)
