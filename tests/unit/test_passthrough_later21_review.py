"""Review of session 21's early end of a passthrough stream (``Passthrough.feed_last``): the Responses test
``ends_stream`` on last frames that end nothing. A last frame whose data names a terminal kind under another
event's name (a token name the relay lets by undecoded once the stream has its first token) must not end the
client's answer before its frames are decoded: the reference relay adds the error of a stream that ended
early, which an answer ended already could not carry. A ``type`` that is no string (a list, an object: not
hashable) is no terminal kind, and the test must say so rather than raise (a ``TypeError`` out of the relay)."""

from __future__ import annotations

import pytest

from services.gateway.dialects import openai_responses as resp
from tests.unit.test_passthrough_cuts18 import STREAMS
from tests.unit.test_passthrough_later21 import _check

BODY = next(b for w, b in STREAMS if w == "openai_responses")
AT = BODY.rfind(b"\n\n", 0, len(BODY) - 2) + 2  # where the last frame (``response.completed``) begins


@pytest.mark.parametrize(
    "name",
    [
        b"response.output_text.delta",  # a token name: let by undecoded after the first token
        b"response.reasoning_text.delta",
        b"response.function_call_arguments.delta",
        b"response.output_item.done",  # a quiet name
        b"response.in_progress",  # an inert name
        b"response.incomplete",  # another terminal name
    ],
)
def test_a_terminal_type_under_another_name_is_read_whole_before_the_end(name: bytes) -> None:
    last = BODY[AT:].replace(b"event: response.completed", b"event: " + name, 1)
    assert resp.ends_stream(resp.ResponsesStreamDecoder(), BODY[:AT] + last) is False
    _check("openai_responses", [BODY[:AT] + last])  # the client's bytes and the facts: the reference's


@pytest.mark.parametrize("kind", [b"[1]", b'{"a":1}', b'["response.completed"]'])
def test_a_type_that_is_no_string_ends_nothing_and_raises_nothing(kind: bytes) -> None:
    frame = b'event: response.completed\ndata: {"type":' + kind + b',"response":{"id":"r"}}\n\n'
    assert resp.ends_stream(resp.ResponsesStreamDecoder(), frame) is False
    _check("openai_responses", [BODY[:AT] + frame])
    _check("openai_responses", [frame])


def test_the_terminal_frames_still_end_the_answer_early() -> None:
    assert _check("openai_responses", [BODY])


@pytest.mark.parametrize("between", [b": ping\n\n", b": ping\n\n: ping\n\n", b"\n"])
def test_an_error_after_pings_goes_on_from_the_last_event_the_client_got(between: bytes) -> None:
    """bug21a's numbering (``Passthrough.fail``: the sequence number after the last one the client has): an
    upstream that pings (``: ping``, sse-starlette's keep-alive) or sends the LF of a CRLF alone between the
    answer's last event and its cut named no event in its last read, and the error went out numbered 0."""
    from services.gateway.dialects.registry import pairing
    from services.gateway.dialects.view import View
    from services.gateway.relay import Passthrough

    cut = BODY.index(b"event: response.output_text.done")  # after the last text delta, numbered 8
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    relay.feed(BODY[:cut])
    relay.feed(between)
    failed = relay.fail(502, "upstream stream ended early", "broken_stream")
    assert b'"type":"response.failed","sequence_number":9,' in failed, failed[:120]
