"""The translator's text lane (``relay.Translator``: the decoder's ``text_of`` and the encoder's ``text``)
gives a client exactly the bytes, and the relay exactly the facts, of the general path (decoder ``feed`` →
IR deltas → encoder ``feed``), whatever an upstream's text events hold: any text, escaped or not, JSON or
not (a raw quote, backslash or control character), odd index forms, read whole or in pieces."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from services.gateway.dialects.ir import TextDelta
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator
from shared.sse import SSEEvent
from tests.text_lanes import END, START, same_made_up
from tests.text_lanes import facts as _facts

CLIENTS = ("openai_responses", "openai_chat")
INDEXES = ("0", "0", "1", "01", "-1", "0 ")


@st.composite
def text_events(draw: Any) -> bytes:
    """A text delta's frame: its text written by orjson (escapes and all) or raw between quotes (maybe
    not JSON), at an index in a usual or an odd form."""
    text = draw(st.text(max_size=10))
    raw = draw(st.booleans())
    body = ('"' + text + '"').encode() if raw else orjson.dumps(text)
    index = draw(st.sampled_from(INDEXES)).encode()
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
        + index
        + b',"delta":{"type":"text_delta","text":'
        + body
        + b"}}\n\n"
    )


def _relays(
    client: str, wire: str = "anthropic", model: str = "claude-haiku-4-5"
) -> tuple[Translator, Translator]:
    """A relay with the lane and one without it (``wire`` upstream), their encoders' made-up values the
    same."""
    pair = pairing(client, wire)  # type: ignore[arg-type]
    view = View(model=model)
    lane, general = Translator(pair, view), Translator(pair, view)
    assert lane._lane is not None
    general._lane = None
    same_made_up(lane, general)
    return lane, general


def _run(relay: Translator, chunks: list[bytes]) -> tuple[bytes, list[Any]]:
    """The bytes out and the relay's facts after each read (the gateway reads them as the stream goes)."""
    out, facts = [], []
    for c in chunks:
        out.append(relay.feed(c))
        facts.append(_facts(relay))
    out.append(relay.finish())
    return b"".join(out), [*facts, _facts(relay)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(text_events(), max_size=8), st.lists(st.integers(0, 4000), max_size=6))
def test_the_lane_gives_the_general_paths_bytes_and_facts(frames: list[bytes], cuts: list[int]) -> None:
    body = START + b"".join(frames) + END
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = [body[a:b] for a, b in pairwise(points)]
    for client in CLIENTS:
        lane, general = _relays(client)
        assert _run(lane, chunks) == _run(general, chunks)


def test_the_lane_takes_the_usual_text_events() -> None:
    """The lane is used (the property above would hold with it off): a usual text event never reaches
    the decoder's ``feed``."""
    lane, _ = _relays("openai_responses")
    frame = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
    lane.feed(START + frame)
    lane.decoder.feed = None  # type: ignore[method-assign]
    assert b'"delta":"hi"' in lane.feed(frame)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.sampled_from(INDEXES), st.booleans())
def test_text_of_is_what_feed_makes(text: str, index: str, raw: bool) -> None:
    """``text_of`` names an event's text only when ``feed`` makes exactly one TextDelta of it."""
    body = '"' + text + '"' if raw else orjson.dumps(text).decode()
    data = (
        '{"type":"content_block_delta","index":'
        + index
        + ',"delta":{"type":"text_delta","text":'
        + body
        + "}}"
    )
    ev = SSEEvent("content_block_delta", data)
    said = MessagesStreamDecoder().text_of(ev)
    if said is not None:
        assert MessagesStreamDecoder().feed(ev) == [TextDelta(text=said)]
        assert said == text
    elif not raw and index == "0" and text and '"' not in text and "\\" not in text and text.isprintable():
        raise AssertionError(f"a usual text event was not taken: {data!r}")


def test_text_of_reads_nothing_after_the_stream_stopped_or_in_a_comment() -> None:
    decoder = MessagesStreamDecoder()
    data = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}'
    assert decoder.text_of(SSEEvent(None, data, comment=True)) is None
    assert decoder.text_of(SSEEvent(None, data)) == "x"
    decoder.feed(SSEEvent("message_stop", '{"type":"message_stop"}'))
    assert decoder.text_of(SSEEvent(None, data)) is None


# -- an OpenAI-style chat upstream (the lane learns the stream's text chunk shape from a parsed one) ------

CHAT_HEAD = (
    '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":%s,"choices":[{"index":0,'
)
CHAT_CLIENTS = ("anthropic", "openai_responses")


def _chat(data: str) -> bytes:
    return b"data: " + data.encode() + b"\n\n"


@st.composite
def chat_chunks(draw: Any) -> bytes:
    """One chunk of a chat stream: mostly text (its text escaped or raw, its model the stream's, another
    or empty, with or without a padding string), sometimes a tool call, a refusal or an odd spacing."""
    text = draw(st.text(max_size=8))
    body = ('"' + text + '"') if draw(st.booleans()) else orjson.dumps(text).decode()
    model = draw(st.sampled_from(['"gpt-4o-mini"', '"gpt-4o-mini"', '"gpt-4o-mini"', '""', '"other"']))
    pad = draw(
        st.sampled_from(
            ["", "", ',"obfuscation":"aZ3"', ',"obfuscation":"a\\"', ',"obfuscation":"' + text + '"']
        )
    )
    kind = draw(st.sampled_from(["text"] * 6 + ["tool", "refusal", "spaced"]))
    head = CHAT_HEAD % model
    if kind == "tool":
        call = '{"index":0,"id":"call_1","function":{"name":"f","arguments":' + body + "}}"
        return _chat(
            head + '"delta":{"tool_calls":[' + call + ']},"finish_reason":null}],"usage":null' + pad + "}"
        )
    if kind == "refusal":
        return _chat(
            head + '"delta":{"refusal":' + body + '},"finish_reason":null}],"usage":null' + pad + "}"
        )
    sep = ": " if kind == "spaced" else ":"
    return _chat(
        head + '"delta":{"content"' + sep + body + '},"finish_reason":null}],"usage":null' + pad + "}"
    )


CHAT_START = _chat(
    CHAT_HEAD % '"gpt-4o-mini"'
    + '"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}'
)
CHAT_END = (
    _chat(CHAT_HEAD % '"gpt-4o-mini"' + '"delta":{},"finish_reason":"stop"}],"usage":null}')
    + _chat(
        '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],'
        '"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}'
    )
    + b"data: [DONE]\n\n"
)


def _chat_relays(client: str) -> tuple[Translator, Translator]:
    return _relays(client, "openai_chat", "gpt-4o-mini")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(chat_chunks(), max_size=10), st.lists(st.integers(0, 6000), max_size=6))
def test_the_chat_lane_gives_the_general_paths_bytes_and_facts(chunks: list[bytes], cuts: list[int]) -> None:
    body = CHAT_START + b"".join(chunks) + CHAT_END
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    reads = [body[a:b] for a, b in pairwise(points)]
    for client in CHAT_CLIENTS:
        lane, general = _chat_relays(client)
        assert _run(lane, reads) == _run(general, reads)


def test_the_chat_lane_takes_the_usual_text_chunks() -> None:
    lane, _ = _chat_relays("anthropic")
    text = _chat(
        CHAT_HEAD % '"gpt-4o-mini"' + '"delta":{"content":"hi"},"finish_reason":null}],"usage":null}'
    )
    lane.feed(CHAT_START + text)  # the first text chunk is parsed, and its shape learnt
    lane.decoder.feed = None  # type: ignore[method-assign]
    assert b'"text":"hi"' in lane.feed(text)
