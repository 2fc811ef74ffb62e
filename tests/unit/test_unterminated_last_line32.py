"""bug32b variants 13vD, 13vL, 13vM, 13vO: a stream whose last line never ended.

Some servers write each event's blank line before the next event rather than after their own, and some proxies trim a
body's trailing whitespace: the body then closes right after the last event's JSON text, without even a line break.
s8's lenience (``SSEDecoder.flush(ended=True)``, variant 13-k) read an event whose lines all ended; a line that had not
was dropped as half a line, so the finish chunk (or the usage chunk after it) was lost: a 502 broken_stream after a
complete answer, or a 200 with 0 tokens in the ledger. A whole ``data`` line (``SSEDecoder.ends_whole``: one JSON
object, or ``[DONE]``) is read; half a JSON text is still a cut-off body.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from shared.sse import SSEDecoder
from tests.e2e_builders import USAGE, unended_chat_stream

HEAD = {"id": "chatcmpl-32", "object": "chat.completion.chunk", "created": 7, "model": "local-llama"}


def _body(usage_apart: bool, two_lines: bool = False) -> list[bytes]:
    """Role and text chunks, the finish chunk (with the usage, or the usage in a chunk of its own after it), no
    [DONE], and no line break after the last line (``e2e_builders.unended_chat_stream``, as the e2e test sends)."""
    return unended_chat_stream(HEAD, USAGE, usage_apart=usage_apart, two_lines=two_lines)


@pytest.mark.parametrize("usage_apart", [False, True])
@pytest.mark.parametrize(
    ("fmt", "include_usage"),
    [("openai_chat", True), ("openai_chat", False), ("anthropic", False), ("openai_responses", False)],
)
def test_a_last_line_without_its_line_break_is_read(fmt: str, include_usage: bool, usage_apart: bool) -> None:
    """The answer is complete, its usage read (12 / 3), no error, and the client's stream ends as its API ends one
    (same format: the chunk ended by a blank line, then [DONE])."""
    frames = _body(usage_apart)
    for reads in ([b"".join(frames)], frames, [b"".join(frames)[:-7], b"".join(frames)[-7:]]):
        relay = make_relay(pairing(fmt, "openai_chat"), View(model="m", include_usage=include_usage))  # type: ignore[arg-type]
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        assert relay.error is None and relay.complete
        assert b"event: error" not in out and b"response.failed" not in out and b'{"error"' not in out
        assert relay.usage is not None and (relay.usage.input_tokens, relay.usage.output_tokens) == (12, 3)
        assert out.endswith(b"\n\n")
        events = SSEDecoder().feed(out)
        assert all(ev.data for ev in events)
        if fmt == "openai_chat":
            assert out.count(b"[DONE]") == 1
            if usage_apart:  # (a usage the finish chunk carries goes with it, as the server sent it)
                assert (b'"completion_tokens":3' in out) is include_usage
            assert out.count(b'"finish_reason":"stop"') == 1


def test_half_a_last_line_is_still_a_cut_off_body() -> None:
    """The same body cut inside the finish chunk's JSON (no finish read): the client gets its error, as before."""
    frames = _body(False)
    frames[-1] = frames[-1][:-40]
    relay = make_relay(pairing("anthropic", "openai_chat"), View(model="m"))  # type: ignore[arg-type]
    out = b"".join(relay.feed(r) for r in frames) + relay.finish()
    assert relay.error is not None and relay.error.status == 502 and b"event: error" in out


def test_a_passed_through_message_stop_without_its_line_break() -> None:
    """Anthropic passthrough: ``message_stop``'s data line is the body's last bytes; it goes out once, ended."""
    frames = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant",'
        b'"model":"c","content":[],"usage":{"input_tokens":20,"output_tokens":1}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text",'
        b'"text":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        b'"text":"Fine."}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":7}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}',
    ]
    for reads in ([b"".join(frames)], frames):
        relay = make_relay(pairing("anthropic", "anthropic"), View(model="m"))  # type: ignore[arg-type]
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        events = SSEDecoder().feed(out)
        assert relay.complete and relay.error is None and relay.usage is not None
        assert [ev.event for ev in events].count("message_stop") == 1 and events[-1].event == "message_stop"


@pytest.mark.parametrize(
    ("tail", "whole"),
    [
        (b'data: {"a": 1}', True),
        (b"data:{}", True),
        (b"data: [DONE]", True),
        (b'data: {"a": 1}  ', True),
        (b'data: {"a": 1', False),
        (b'data: {"a": 1}x', False),
        (b'data: {"a"}', False),
        (b"data: 12", False),
        (b'data: ["a"]', False),
        (b'event: {"a": 1}', False),
        (b"data: [DON", False),
    ],
)
def test_ends_whole_and_flush(tail: bytes, whole: bool) -> None:
    """``ends_whole`` says whether the unended last line is a whole data line, and ``flush(ended=True)`` reads it only
    then (plain ``flush()`` discards it, as the WHATWG rules say)."""
    sse = SSEDecoder()
    assert sse.feed(b'data: {"first": 0}\n\n' + tail) == [sse_event('{"first": 0}')]
    assert sse.ends_whole is whole
    got = sse.flush(ended=True)
    value = tail[6:] if tail[5:6] == b" " else tail[5:]  # one leading space dropped, as for any data line
    assert [ev.data for ev in got] == ([value.decode()] if whole else [])
    plain = SSEDecoder()
    plain.feed(tail)
    assert plain.flush() == []


def sse_event(data: str) -> Any:
    from shared.sse import SSEEvent

    return SSEEvent(event=None, data=data)


@pytest.mark.parametrize(
    ("tail", "data"),
    [
        (b'data: {"a":\ndata: 1}', '{"a":\n1}'),
        (b'data: {"a":\r\ndata:  1 }', '{"a":\n 1 }'),
        (b'data: {"a":\ndata: 1', None),
        (b'data: {"a":\ndata: [DONE]', None),
        (b'data: {"a": 1}\ndata: {"b": 2}', None),
    ],
)
def test_ends_whole_with_the_event_s_earlier_data_lines(tail: bytes, data: str | None) -> None:
    """13vS/13vT: the last event's JSON over several data lines (bugcase 18's framing), the last line unended: whole
    when the lines joined with LF are one JSON object."""
    sse = SSEDecoder()
    assert sse.feed(tail) == []
    assert sse.ends_whole is (data is not None)
    assert [ev.data for ev in sse.flush(ended=True)] == ([data] if data is not None else [])


@pytest.mark.parametrize("fmt", ["openai_chat", "anthropic"])
def test_a_usage_chunk_over_two_data_lines_the_last_unended_is_billed(fmt: str) -> None:
    """13vS/13vT: the usage chunk after the finish, its JSON over two data lines and the body closed after the
    second's JSON: 12 / 3 tokens, no error (on main the usage was lost: a 200 of 0 tokens)."""
    frames = _body(usage_apart=True, two_lines=True)
    for reads in ([b"".join(frames)], frames):
        relay = make_relay(pairing(fmt, "openai_chat"), View(model="m", include_usage=True))  # type: ignore[arg-type]
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        assert relay.error is None and relay.complete and b"event: error" not in out
        assert relay.usage is not None and (relay.usage.input_tokens, relay.usage.output_tokens) == (12, 3)


def test_a_non_streamed_request_answered_by_a_stream_whose_last_line_never_ended() -> None:
    """13vR: a non-streamed request whose server answered an event stream (``gathered``) ending without [DONE] right
    after the finish chunk's JSON: one whole answer with its usage (on main a 502 'the stream ended before its
    finish')."""
    from services.gateway.dialects import gathered

    body = b"".join(_body(False))
    decoder = pairing("openai_chat", "openai_chat").wire.decoder()
    answer = gathered.gathered(gathered.decoded(body, decoder), decoder.usage, decoder.model)
    assert answer.stop_reason == "end_turn"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 3)
