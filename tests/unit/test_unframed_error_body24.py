"""``errors.unframed_error_body``: an error body written as an event stream is read as the error its first
event holds (s24 variant 18-multi-vF); any other body is left as it is."""

from __future__ import annotations

import pytest

from services.gateway.errors import parse_upstream_error, unframed_error_body

ERROR = b'{"error":{"message":"max_tokens is too large","type":"invalid_request_error"}}'


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b"data: " + ERROR + b"\n\n", ERROR),
        (b"data:" + ERROR, ERROR),  # no space, no line end at all
        (b"\xef\xbb\xbf\r\n: refused\r\nevent: error\r\ndata: " + ERROR + b"\r\n\r\n", ERROR),
        # the object over two data lines: the WHATWG rules join them with LF (JSON white space)
        (
            b'data: {"error":{"message":"max_tokens is too large",\ndata: "type":"invalid_request_error"}}\n\n',
            b'{"error":{"message":"max_tokens is too large",\n"type":"invalid_request_error"}}',
        ),
        # the first event that holds JSON: a [DONE] or a text before it is passed over
        (b"data: [DONE]\n\ndata: not json\n\ndata: " + ERROR + b"\n\n", ERROR),
        (b'data: [{"error":{"message":"x"}}]\n\n', b'[{"error":{"message":"x"}}]'),  # Gemini's list
        (
            b'error: {"message":"context exceeded","code":400}\n\n',
            b'{"message":"context exceeded","code":400}',
        ),
    ],
)
def test_an_event_stream_body_gives_its_events_json(body: bytes, want: bytes) -> None:
    assert unframed_error_body(body) == want


@pytest.mark.parametrize(
    "body",
    [
        ERROR,
        b"",
        b"Bad Gateway",
        b"data: [DONE]\n\n",
        b"data: upstream connect error\n\n",
        b"<html>502</html>",
    ],
)
def test_any_other_body_is_left_as_it_is(body: bytes) -> None:
    assert unframed_error_body(body) == body


def test_the_unframed_body_gives_the_providers_message() -> None:
    body = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    assert parse_upstream_error(unframed_error_body(body)) == ("Overloaded", "overloaded_error")
