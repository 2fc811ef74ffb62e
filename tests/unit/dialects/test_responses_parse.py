"""``openai_responses.parse_request`` reads ``model`` and ``stream`` as ``validate_responses_request`` left them
(session 20: the re-checks after it were removed from the request's path). Every body either parses to exactly
what the re-checks gave, or is refused with the error the validator gives, never parsed to a wrong model or flag."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.dialects._request_common import TranslationError, require_model, require_stream_flag
from services.gateway.dialects.openai_responses import parse_compact_request, parse_request

MODELS: list[Any] = ["gpt-4o-mini", " x ", "", "   ", None, 5, ["m"], {"m": 1}, True]
STREAMS: list[Any] = [True, False, None, "true", 1, 0, [], {}]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [*STREAMS, "absent"])
def test_parse_request_is_the_checked_read(model: Any, stream: Any) -> None:
    body: dict[str, Any] = {"input": "hi"}
    if model is not None:
        body["model"] = model
    if stream != "absent":
        body["stream"] = stream
    try:
        expected: tuple[str, bool] | None = (require_model(body), require_stream_flag(body))
    except TranslationError:
        expected = None
    if expected is None:
        with pytest.raises(TranslationError) as refused:
            parse_request(body)
        assert refused.value.param in ("model", "stream")
        return
    parsed = parse_request(body)
    assert (parsed.model, parsed.stream) == expected
    assert type(parsed.model) is str and type(parsed.stream) is bool
    assert (parsed.include_usage, parsed.reasoning) == (False, True)


def test_compact_still_refuses_a_stream() -> None:
    with pytest.raises(TranslationError):
        parse_compact_request({"model": "m", "input": "hi", "stream": True})
    assert parse_compact_request({"model": "m", "input": "hi"}).stream is False
