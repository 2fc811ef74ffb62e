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

CLIENTS = ("openai_responses", "openai_chat")
START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01abc","type":"message",'
    b'"role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,'
    b'"usage":{"input_tokens":12,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
END = (
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"output_tokens":7}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
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


def _relays(client: str) -> tuple[Translator, Translator]:
    """A relay with the lane and one without it, their encoders' made-up values the same."""
    pair = pairing(client, "anthropic")  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5")
    lane, general = Translator(pair, view), Translator(pair, view)
    assert lane._lane is not None
    general._lane = None
    for name in ("created_at", "created", "id"):
        if hasattr(lane.encoder, name):
            setattr(general.encoder, name, getattr(lane.encoder, name))
    return lane, general


def _run(relay: Translator, chunks: list[bytes]) -> tuple[bytes, Any]:
    out = b"".join(relay.feed(c) for c in chunks) + relay.finish()
    facts = (relay.usage, relay.events, relay.started, relay.saw_content, relay.error, relay.complete)
    return out, facts + (relay.decoder.model,)


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
