"""What the translator's text lane tests share (``tests/unit/test_text_lane.py``, ``tests/unit/dialects/test_text_run.py``,
``tests/unit/dialects/test_chat_text_run.py``): an Anthropic stream's opening and end around text frames, a text's
JSON body as upstreams write it, the relay facts compared, a relay with the run lane beside one on the general path
(its encoder made to invent the same values), and a run of both over the same reads."""

from __future__ import annotations

import re
from typing import Any

import orjson

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator

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


def same_made_up(lane: Translator, general: Translator) -> None:
    """``general``'s encoder takes the values ``lane``'s made up (ids, timestamps), so their bytes compare."""
    for name in ("created_at", "created", "id", "message_id", "response_id"):
        if hasattr(lane.encoder, name):
            setattr(general.encoder, name, getattr(lane.encoder, name))


def facts(relay: Translator) -> tuple[Any, ...]:
    """What the gateway reads of a relay as the stream goes."""
    return (relay.usage, relay.events, relay.started, relay.saw_content, relay.error, relay.complete) + (
        relay.decoder.model,
    )


def text_body(text: str | bytes, raw: bool = False) -> bytes:
    """A text's JSON string in a frame: written by orjson (escapes and all), or raw between quotes (maybe not
    JSON; bytes: maybe not UTF-8)."""
    if isinstance(text, bytes):
        return b'"' + text + b'"'
    return ('"' + text + '"').encode() if raw else orjson.dumps(text)


def run_relays(client: str, wire: str, include_usage: bool) -> tuple[Translator, Translator]:
    """A relay of ``wire`` to ``client`` with both lanes and one with neither (the general path), their
    encoders' made-up values the same."""
    pair = pairing(client, wire)  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5", include_usage=include_usage)
    fast, general = Translator(pair, view), Translator(pair, view)
    assert fast._run is not None
    general._run = general._lane = general._tap = None  # (the frame tap: session 23)
    general._data_tap = (
        None  # (the chat decoder's ``feed_frame`` reads text chunks by their shape: session 25)
    )
    same_made_up(fast, general)
    return fast, general


def run_facts(relay: Translator) -> tuple[Any, ...]:
    """``facts`` and whether the relay holds bytes for ``rest``."""
    return (*facts(relay), relay.has_rest)


def run(relay: Translator, chunks: list[bytes], take_rest: bool) -> tuple[bytes, list[Any]]:
    """The bytes out and the relay's facts after each read (as the gateway reads them)."""
    out, seen = [], []
    for c in chunks:
        out.append(relay.feed(c))
        if take_rest:
            out.append(relay.rest())
        seen.append(run_facts(relay))
    out.append(relay.finish())
    return b"".join(out), [*seen, run_facts(relay)]


# an id an encoder makes up when the upstream's stream did not open with its own (random: masked)
_MADE_UP_ID = re.compile(rb"(?:resp|msg|fc|rs|chatcmpl|call|toolu)_[0-9A-Za-z]{20,}").sub


def tap_facts(relay: Translator) -> tuple[Any, ...]:
    """What the gateway reads of a relay as the stream goes, for the frame tap and batch tests
    (``tests/unit/test_translator_tap23.py``, ``tests/unit/dialects/test_frame_batch26.py``,
    ``tests/unit/dialects/test_chat_batch27.py``): ``facts`` and whether the relay holds bytes for ``rest`` or
    sits between events."""
    return (
        repr(relay.usage),
        relay.events,
        relay.started,
        relay.saw_content,
        relay.error,
        relay.complete,
        relay.decoder.model,
        relay.has_rest,
        relay.between_events,
    )


def relay_reads(
    relay: Translator, chunks: list[bytes], take_rest: bool, last: bool
) -> tuple[bytes, list[Any]]:
    """The bytes out (made-up ids masked) and ``tap_facts`` after each read, the last read given as the body's
    last (``feed_last``) when ``last``, then after ``finish`` with the usage the ledger reads."""
    out, seen = [], []
    for i, read in enumerate(chunks):
        fed = relay.feed_last(read) if last and i == len(chunks) - 1 else relay.feed(read)
        out.append(fed)
        if take_rest:
            out.append(relay.rest())
        seen.append(tap_facts(relay))
    out.append(relay.finish())
    seen.append((tap_facts(relay), repr(relay.read_usage())))
    return _MADE_UP_ID(b"<id>", b"".join(out)), seen
