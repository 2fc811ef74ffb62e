"""Session 27 (bug27c), kind 11: a 200 whose JSON body is an error object is read as the wire's stream reader reads
the same object told in-band (``proxy._error_told_inside``): OpenRouter's ``{"error": {"code": 429, …}}`` is a rate
limit with its retry hints kept, not a 502 ``bad_response`` (bug27c variants 11-or-200-body-429-*)."""

from __future__ import annotations

import orjson

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
