"""Session 26 (fix26) end to end: whole (non-streamed) answers and the leads session 25's review left.

- ``MAX_ANSWER_BYTES``: a whole answer longer than the cap, by its ``content-length`` or as its chunks arrive (a
  body that goes on, not yet ended), is a 502 ``bad_response`` in the client's format and the next route is tried;
  before, it was read whole, however long, and answered 200.
- An SSE error event answering a non-streamed request says when to retry as an HTTP error would: the answer's
  rate-limit headers become the client's ``retry-after``; before, only the error object was read.
- ``{"object": "error", "choices": []}``: an error chunk, gathered or streamed; before, an empty chunk (502).
- A same-format whole chat answer cut by the server (``finish_reason`` ``insufficient_system_resource``): the next
  route is tried; with none, the client gets the answer untouched and the ledger the cut's 503 and its usage;
  before, a 200 on the ledger and no fallback.
- ``/v1/models`` lists the names a pattern-served provider's ``limits`` give it, never the pattern.

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.e2e_builders import CHEAP, DEAR, HI, USAGE, catalog, catalog_gw, provider
from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CATALOG = catalog(
    provider(
        "cheap",
        "m26",
        "solo26",
        price=(0.1, 0.1),
        extra='pattern = "pat26-*"\nlimits = {{ "pat26-big" = {{ max_output_tokens = 1000 }}, '
        '"other26" = {{ max_output_tokens = 1000 }} }}',
    ),
    provider("dear", "m26", price=(1.0, 1.0)),
    provider("resting", "rest26"),
)
RESTING = "/resting/v1/chat/completions"  # rests after its 429: no other test asks it
CAP = 4096
gw = catalog_gw("whole26", CATALOG, MAX_ANSWER_BYTES=str(CAP), BREAKER_FAILURES="1000")


def _answer(text: str, finish: str = "stop") -> dict[str, object]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    return {"id": "c26", "object": "chat.completion", "model": "m26", "choices": [choice], "usage": USAGE}


def _chat(gw: Stack, rid: str, model: str = "m26") -> openai.types.chat.ChatCompletion:
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        return client.chat.completions.create(
            model=model,
            messages=HI,  # type: ignore[arg-type]
            extra_headers={"x-request-id": rid},
        )


def _too_big_status(gw: Stack, rid: str) -> tuple[int, str]:
    with pytest.raises(openai.APIStatusError) as failed:
        _chat(gw, rid, "solo26")
    return failed.value.status_code, json.dumps(failed.value.body)


def test_an_answer_whose_length_says_it_is_over_the_cap_is_a_502(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, json_answer(_answer("x" * (2 * CAP))))
    status, body = _too_big_status(gw, "whole26-length")
    assert status == 502 and "MAX_ANSWER_BYTES" in body
    row = gw.row_for("whole26-length")
    assert (row["status"], row["error_type"]) == (502, "bad_response")


def test_a_chunked_answer_that_goes_on_past_the_cap_fails_without_waiting_for_its_end(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The pieces arrive, then a silence (a body not yet ended): the cap is judged on what arrived, not after
    the whole body; before, the gateway waited for the end and answered the (valid) JSON with a 200."""
    raw = json.dumps(_answer("x" * (3 * CAP))).encode()
    pieces: list[bytes | Pause] = [raw[i : i + 1024] for i in range(0, len(raw), 1024)]
    half = len(pieces) // 2
    up.script(CHEAP, Answer(body=[*pieces[:half], Pause(5), *pieces[half:]]))
    status, body = _too_big_status(gw, "whole26-chunked")
    assert status == 502 and "MAX_ANSWER_BYTES" in body


def test_an_answer_over_the_cap_falls_back_to_the_next_route(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, json_answer(_answer("x" * (2 * CAP))))
    up.script(DEAR, json_answer(_answer("Hello from dear.")))
    answer = _chat(gw, "whole26-fallback")
    assert answer.choices[0].message.content == "Hello from dear."
    row = gw.row_for("whole26-fallback")
    assert (row["status"], row["provider"]) == (200, "dear")
    failed = json.loads(row["failed_attempts"])
    assert [(f["provider"], f["error_type"]) for f in failed] == [("cheap", "bad_response")]


def test_an_error_event_answering_a_plain_request_carries_the_retry_hint_of_its_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    error = {"error": {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}}
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
    up.script(RESTING, sse([b"data: " + json.dumps(error).encode() + b"\n\n"], headers=headers))
    with pytest.raises(openai.RateLimitError) as failed:
        _chat(gw, "whole26-retry", "rest26")
    assert failed.value.response.headers.get("retry-after") == "20"


BARE_ERROR = {
    "object": "error",
    "message": "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens.",
    "type": "BadRequestError",
    "code": 400,
    "choices": [],
}


def test_an_error_object_with_empty_choices_is_an_error_in_a_gathered_answer(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHEAP, sse([b"data: " + json.dumps(BARE_ERROR).encode() + b"\n\n", b"data: [DONE]\n\n"]))
    with pytest.raises(openai.BadRequestError) as failed:
        _chat(gw, "whole26-bare-gathered", "solo26")
    assert "maximum context length" in str(failed.value)
    assert gw.row_for("whole26-bare-gathered")["status"] == 400


def test_an_error_object_with_empty_choices_is_an_error_in_a_stream(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, sse([b"data: " + json.dumps(BARE_ERROR).encode() + b"\n\n", b"data: [DONE]\n\n"]))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0) as claude:
        with pytest.raises(anthropic.BadRequestError) as failed:
            with claude.messages.stream(
                model="solo26",
                max_tokens=100,
                messages=HI,  # type: ignore[arg-type]
                extra_headers={"x-request-id": "whole26-bare-stream"},
            ) as stream:
                stream.get_final_message()
    assert "prompt is too long" in str(failed.value)  # the overflow, in Claude Code's words
    assert gw.row_for("whole26-bare-stream")["status"] == 400


def test_a_cut_same_format_answer_falls_back_to_the_next_route(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(CHEAP, json_answer(_answer("Hel", "insufficient_system_resource")))
    up.script(DEAR, json_answer(_answer("Hello from dear.")))
    answer = _chat(gw, "whole26-cut-fallback")
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == (
        "Hello from dear.",
        "stop",
    )
    row = gw.row_for("whole26-cut-fallback")
    assert (row["status"], row["provider"]) == (200, "dear")


def test_a_cut_same_format_answer_with_no_route_left_goes_back_untouched_and_is_recorded_cut(
    gw: Stack, up: ScriptedUpstream
) -> None:
    sent = json.dumps(_answer("Hel", "insufficient_system_resource"), indent=1).encode()
    up.script(CHEAP, Answer(body=sent))
    r = httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        json={"model": "solo26", "messages": HI},
        headers={"x-request-id": "whole26-cut-alone"},
        timeout=30,
    )
    assert (r.status_code, r.content) == (200, sent)  # the provider's bytes, as a passthrough answer is
    row = gw.row_for("whole26-cut-alone")
    assert (row["status"], row["provider"]) == (503, "cheap")
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)  # what was made is billed


def test_models_lists_a_pattern_providers_named_models_not_its_pattern(gw: Stack) -> None:
    ids = [m["id"] for m in httpx.get(gw.gateway_url + "/v1/models", timeout=30).json()["data"]]
    assert "pat26-big" in ids  # named by its limits, and served by the pattern
    assert "other26" not in ids  # named by its limits, but not served by the provider
    assert not any("*" in i for i in ids)


def test_a_cut_answer_whose_reason_is_written_with_escapes_falls_back_too(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """review26: ``"finish_reason":"\\u0061bort"`` is vLLM's ``abort`` to any JSON parser (RFC 8259 section 7), and
    so to ``cut_answer``; the bytes test of the unparsed lane (``may_cut_answer``) looked for ``"abort"`` alone, so
    the cut answer went to the client as a complete one, a 200 in the ledger, the next route never tried."""
    sent = json.dumps(_answer("Hel", "abort")).encode().replace(b'"abort"', b'"\\u0061bort"')
    up.script(CHEAP, Answer(body=sent))
    up.script(DEAR, json_answer(_answer("Hello from dear.")))
    answer = _chat(gw, "whole26-cut-escaped")
    assert answer.choices[0].message.content == "Hello from dear."
    row = gw.row_for("whole26-cut-escaped")
    assert (row["status"], row["provider"]) == (200, "dear")
