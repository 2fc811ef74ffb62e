"""The translator's run lane for a chat-wire upstream (``ChatStreamDecoder.text_run`` with the shape the
stream's first text chunk taught it, and the Anthropic and Responses encoders' ``text_frames``) gives a
client exactly the bytes, and the relay exactly the facts, of the general path (SSE decoder → decoder
``feed`` → IR deltas → encoder ``feed``), whatever an upstream's chunks hold: any text, escaped or not,
empty, not JSON, bytes not UTF-8, OpenAI's padding (plain or not), another model, a refusal, a tool call,
comments, text after the finish, read whole or cut anywhere; and it never takes a frame the general path
would read otherwise."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._openai_stream import ChatStreamDecoder
from services.gateway.relay import Translator
from tests.text_lanes import run as _run
from tests.text_lanes import run_facts as _facts
from tests.text_lanes import run_relays, text_body

CLIENTS = ("anthropic", "openai_responses")
MODEL = "gpt-4o-mini"


def chunk(
    text: str | bytes,
    raw: bool = False,
    model: str = MODEL,
    pad: bytes | None = None,
    key: str = "content",
    index: str = "0",
) -> bytes:
    """A text chunk's frame: its text written by orjson (escapes and all), or raw between quotes (maybe not
    JSON, maybe not UTF-8); ``pad``: OpenAI's ``obfuscation`` string body after the usage."""
    padding = b"" if pad is None else b',"obfuscation":"' + pad + b'"'
    return (
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"'
        + model.encode()
        + b'","choices":[{"index":'
        + index.encode()
        + b',"delta":{"'
        + key.encode()
        + b'":'
        + text_body(text, raw)
        + b'},"logprobs":null,"finish_reason":null}],"usage":null'
        + padding
        + b"}\n\n"
    )


def start(pad: bytes | None) -> bytes:
    padding = b"" if pad is None else b',"obfuscation":"' + pad + b'"'
    return (
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
        b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
        b'"finish_reason":null}],"usage":null' + padding + b"}\n\n"
    )


END = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}\n\n'
    b"data: [DONE]\n\n"
)
TOOL = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",'
    b'"function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
)
ERRORS = (
    b'data: {"error":{"message":"overloaded","type":"server_error","code":null}}\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"error"}],"error":{"message":"provider down"}}\n\n',
    b"data: {not json\n\n",
)
# Texts the lane must leave to the general path
ODD = ("", 'q"uote', "back\\slash", "new\nline", "tab\t", "\x00", "\x7f\u2028", "héllo ☃ 𝄞", "\u00e9")
PADS = (b"h8Xa1", b"", b'q\\"', b"\xff", b"ok ok", b"a\nb")


@st.composite
def chat_frames(draw: Any) -> bytes:
    kind = draw(st.integers(0, 16))
    pad = draw(st.sampled_from((None, None, None, *PADS)))
    if kind == 0:
        return chunk(draw(st.sampled_from(ODD)), raw=draw(st.booleans()), pad=pad)
    if kind == 1:
        return chunk(draw(st.binary(max_size=6)), pad=pad)  # raw bytes: maybe not UTF-8, maybe a CR
    if kind == 2:
        return b": keep-alive\n\n"
    if kind == 3:
        return chunk(draw(st.text(max_size=6)), model=draw(st.sampled_from(("gpt-4o", ""))), pad=pad)
    if kind == 4:
        return chunk(draw(st.text(min_size=1, max_size=6)), key="refusal", pad=pad)
    if kind == 5:
        return TOOL
    if kind == 6:
        return chunk("x", index=draw(st.sampled_from(("1", "01", "0 "))), pad=pad)
    if kind == 8:  # thinking (xAI, DeepSeek), then maybe text in the same chunk's delta
        return chunk(draw(st.text(max_size=4)), key="reasoning_content", pad=pad)
    if kind == 9:  # an error mid-stream
        return draw(st.sampled_from(ERRORS))
    if kind == 7:  # another spelling of the same frame: CRLF, no space after the colon
        return draw(
            st.sampled_from((chunk("x").replace(b"\n", b"\r\n"), chunk("x").replace(b"data: ", b"data:")))
        )
    return chunk(draw(st.text(max_size=10)), raw=draw(st.booleans()), pad=pad)


def _relays(client: str, include_usage: bool) -> tuple[Translator, Translator]:
    fast, general = run_relays(client, "openai_chat", include_usage)
    if hasattr(fast.encoder, "response_id"):  # else made up from a chat id, at random
        fast.encoder.response_id = general.encoder.response_id = "resp_1"
    return fast, general


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(chat_frames(), max_size=12),
    st.lists(st.integers(0, 6000), max_size=6),
    st.sampled_from((None, *PADS)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_chat_run_lane_gives_the_general_paths_bytes_and_facts(
    frames: list[bytes],
    cuts: list[int],
    pad: bytes | None,
    include_usage: bool,
    take_rest: bool,
    stop_early: bool,
) -> None:
    # the first text chunk teaches the shape (padded as the stream's others mostly are)
    first = chunk("Hi", pad=pad)
    body = start(pad) + first + b"".join(frames) + END
    if stop_early:  # text after the finish and [DONE]: read by no one
        body = start(pad) + first + END + b"".join(frames)
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = [body[a:b] for a, b in pairwise(points)]
    for client in CLIENTS:
        fast, general = _relays(client, include_usage)
        assert _run(fast, chunks, take_rest) == _run(general, chunks, take_rest)


def test_every_cut_of_a_padded_and_a_plain_stream() -> None:
    """Split at every byte, and one frame a read: the same bytes and facts."""
    for pad in (None, b"h8Xa1"):
        texts = ["Hello ", "from ", "hé ☃ ", 'a "quote"', "bench", "x"]
        body = start(pad) + b"".join(chunk(t, pad=pad) for t in texts) + END
        frames = [f + b"\n\n" for f in body.split(b"\n\n") if f]
        for client in CLIENTS:
            for chunks in ([body[:i], body[i:]] for i in range(len(body) + 1)):
                fast, general = _relays(client, True)
                assert _run(fast, chunks, True) == _run(general, chunks, True)
            fast, general = _relays(client, False)
            assert _run(fast, frames, False) == _run(general, frames, False)


@pytest.mark.parametrize("pad", [None, b"h8Xa1"])
def test_the_chat_run_lane_takes_a_run_of_usual_text_chunks(pad: bytes | None) -> None:
    """The lane is used (the properties above would hold with it off): after the first text chunk, a
    run's frames reach neither the decoder's ``feed`` nor its ``text_of``, and come out as ``text`` makes
    them."""
    for client in CLIENTS:
        fast, general = _relays(client, False)
        opening = start(pad) + chunk("a", pad=pad)
        fast.feed(opening)
        general.feed(opening)
        assert fast.rest() == general.rest()
        fast.decoder.feed = fast.decoder.text_of = None  # type: ignore[assignment,method-assign]
        run = chunk("hé ☃", pad=pad) + chunk("b", pad=pad) + chunk("c d", pad=pad)
        assert fast.feed(run) == general.feed(run)
        assert fast.events == general.events


def _learnt(pad: bytes | None = None) -> ChatStreamDecoder:
    """A decoder that has learnt its text chunks' shape (as the translator's ``text_of`` asks it to)."""
    from shared.sse import SSEDecoder

    decoder = ChatStreamDecoder()
    sse = SSEDecoder()
    for ev in sse.feed(start(pad) + chunk("a", pad=pad)):
        decoder.text_of(ev)
        decoder.feed(ev)
    assert decoder._lane is not None
    return decoder


@pytest.mark.parametrize(
    "odd",
    [
        chunk(""),  # an empty text: no delta at all
        chunk('q"'),  # escapes: orjson's quoting of the text is not its body
        chunk("a\\b"),
        chunk("\n"),
        chunk("é").replace("é".encode(), b"\\u00e9"),
        chunk("x", model="gpt-4o"),  # another model: the decoder's model changes
        chunk("x", key="refusal"),
        chunk("x", index="1"),
        chunk("x", pad=b"h8Xa1"),  # a padding the stream's shape has not
        chunk("x").replace(b"\n\n", b"\r\n\r\n"),
        chunk("x").replace(b"data: ", b"data:"),
        chunk("x").replace(b'"content":', b'"content": '),
        TOOL,
        b": keep-alive\n\n",
        b"data: [DONE]\n\n",
    ],
)
def test_the_chat_run_lane_leaves_other_frames_to_the_general_path(odd: bytes) -> None:
    """A frame the lane must not take is never in a run, and no run reaches past it; the relay gives it
    the general path's bytes."""
    decoder = _learnt()
    assert decoder.text_run(odd, 0) is None
    found = decoder.text_run(chunk("a") + odd + chunk("b"), 0)
    assert found == ([b"a"], len(chunk("a")))
    for client in CLIENTS:
        body = start(None) + chunk("a") + chunk("b") + odd + chunk("c") + END
        cut = len(start(None)) + len(chunk("a"))
        for chunks in ([body], [body[:cut], body[cut:]], [body[:400], body[400:]]):
            fast, general = _relays(client, True)
            assert _run(fast, chunks, True) == _run(general, chunks, True)


def test_a_padded_shape_needs_its_padding() -> None:
    decoder = _learnt(b"h8Xa1")
    assert decoder.text_run(chunk("x"), 0) is None  # no padding where the shape has one
    assert decoder.text_run(chunk("x", pad=b'a"b'), 0) is None
    assert decoder.text_run(chunk("x", pad=b"") + chunk("y", pad=b"zz"), 0) == (
        [b"x", b"y"],
        len(chunk("x", pad=b"")) + len(chunk("y", pad=b"zz")),
    )


def test_no_run_before_the_shape_nor_after_the_finish() -> None:
    assert ChatStreamDecoder().text_run(chunk("x"), 0) is None  # nothing learnt
    decoder = _learnt()
    assert decoder.text_run(chunk("x"), 0) == ([b"x"], len(chunk("x")))
    from shared.sse import SSEDecoder

    for ev in SSEDecoder().feed(END[: END.index(b"\n\n") + 2]):  # the finish chunk
        decoder.feed(ev)
    assert decoder.text_run(chunk("x"), 0) is None


def test_no_run_while_the_decoder_has_another_model() -> None:
    """A chunk of the shape's model after one of another model changes the decoder's model back: ``feed``
    reads it, so the served model after each read is the general path's."""
    from shared.sse import SSEDecoder

    decoder = _learnt()
    for ev in SSEDecoder().feed(chunk("x", model="gpt-4o")):
        decoder.feed(ev)
    assert decoder.model == "gpt-4o"
    assert decoder.text_run(chunk("y"), 0) is None
    head = start(None) + chunk("a") + chunk("b", model="gpt-4o")
    for client in CLIENTS:
        fast, general = _relays(client, True)
        chunks = [head, chunk("c") + chunk("d"), END]
        assert _run(fast, chunks, True) == _run(general, chunks, True)
        assert _facts(fast)[6] == MODEL
