"""Session 27 (bug27c), kinds 10 and 11: a 200 whose JSON body is an error object is read as the wire's stream reader reads
the same object told in-band (``proxy._error_told_inside``): OpenRouter's ``{"error": {"code": 429, …}}`` is a rate
limit with its retry hints kept, not a 502 ``bad_response`` (bug27c variants 11-or-200-body-429-*); Gemini's one-element error list told in its
stream is that error, not a malformed chunk."""

from __future__ import annotations

import orjson

from services.gateway.dialects._openai_stream import ChatStreamDecoder
from services.gateway.dialects.ir import StreamError
from services.gateway.dialects.registry import WIRES
from services.gateway.proxy import _error_told_inside

RATE_LIMITED = {
    "error": {
        "code": 429,
        "message": "Rate limit exceeded: free-models-per-min. ",
        "metadata": {"headers": {"X-RateLimit-Reset": "1775000040000"}},
    }
}


def test_openrouter_429_in_a_200_body_is_a_rate_limit_with_its_hints() -> None:
    told = _error_told_inside(WIRES["openai_chat"], orjson.dumps(RATE_LIMITED))
    assert told is not None
    assert (told.status, told.type) == (429, "rate_limit_error")
    assert b"X-RateLimit-Reset" in told.body  # the retry hint stays with the error


def test_an_anthropic_error_object_in_a_200_body_keeps_its_type() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    told = _error_told_inside(WIRES["anthropic"], b"\xef\xbb\xbf" + orjson.dumps(body))
    assert told is not None
    assert told.status == 529


def test_an_overflow_in_a_200_body_is_a_400_with_the_providers_words() -> None:
    raw = orjson.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}
    )
    body = {"error": {"code": 400, "message": "Provider returned error", "metadata": {"raw": raw.decode()}}}
    told = _error_told_inside(WIRES["openai_chat"], orjson.dumps(body))
    assert told is not None
    assert told.status == 400
    assert "prompt is too long" in told.message


# ---- Gemini's one-element list told in its stream (bug27c variants 10-gemini-inband-list-*, 11-gemini-inband-list-*)

GEMINI_OVERFLOW = [
    {
        "error": {
            "code": 400,
            "message": "The input token count (1200345) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    }
]
GEMINI_429 = [
    {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
        }
    }
]


def _errors(*chunks: object) -> list[StreamError]:
    dec = ChatStreamDecoder()
    out = []
    for c in chunks:
        out += dec.feed_data(orjson.dumps(c).decode())
    return [d for d in out if isinstance(d, StreamError)]


def test_geminis_listed_overflow_in_its_stream_is_the_overflow() -> None:
    (told,) = _errors(GEMINI_OVERFLOW)
    assert told.status == 400
    assert "1200345" in told.message


def test_geminis_listed_429_in_its_stream_keeps_its_retry_info() -> None:
    (told,) = _errors(GEMINI_429)
    assert told.status == 429
    assert b"37s" in told.body


def test_a_list_that_is_no_error_is_still_malformed() -> None:
    (told,) = _errors([{"choices": []}])
    assert (told.status, told.message) == (502, "malformed chunk from upstream")
