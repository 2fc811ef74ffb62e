"""A translator translates the read that brings the stream's first token only up to that token
(``Relay.rest`` then gives the rest): the client's bytes, in order, and the relay's facts once the rest is
taken are those of translating each read whole, for every translated pairing and any cut of the reads."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator
from shared.sse import SSEEvent
from tests.unit.test_text_lane import CHAT_END, CHAT_START, END, START, _chat, chat_chunks, text_events


class Whole(Translator):
    """The reference: every read translated whole (the translator before the split)."""

    def _until_token(self, events: list[SSEEvent]) -> bytes:
        return b"".join([self._event(ev) for ev in events])

    def _first_frames(self, chunk: bytes) -> bytes:  # (session 17: reads up to the token frame by frame)
        return self._until_token(self._sse.feed(chunk))


def _pair(client: str, wire: str) -> tuple[Translator, Translator]:
    pair = pairing(client, wire)  # type: ignore[arg-type]
    view = View(model="m", include_usage=True)
    split, whole = Translator(pair, view), Whole(pair, view)
    for name in ("created_at", "created", "id", "message_id"):
        if hasattr(split.encoder, name):
            setattr(whole.encoder, name, getattr(split.encoder, name))
    return split, whole


def _facts(relay: Translator) -> tuple[Any, ...]:
    return (relay.usage, relay.events, relay.started, relay.saw_content, relay.error, relay.complete)


def _cuts(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in pairwise(points)]


def _check(client: str, wire: str, chunks: list[bytes], take_rest: bool) -> None:
    split, whole = _pair(client, wire)
    out, ref = [], []
    for c in chunks:
        had = split.saw_content
        head = split.feed(c)
        if split.has_rest:  # only on the read that brought the first token
            assert not had and split.saw_content
        out.append(head)
        if take_rest:
            out.append(split.rest())
            assert not split.has_rest
            ref.append(whole.feed(c))
            assert _facts(split) == _facts(whole)
        else:
            ref.append(whole.feed(c))
    out.append(split.finish())
    ref.append(whole.finish())
    assert b"".join(out) == b"".join(ref)
    assert _facts(split) == _facts(whole)


ANTHROPIC_CLIENTS = ("openai_responses", "openai_chat")
CHAT_CLIENTS = ("anthropic", "openai_responses")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(text_events(), max_size=6),
    st.lists(st.integers(0, 4000), max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_an_anthropic_upstream_split_gives_the_same_bytes(
    frames: list[bytes], cuts: list[int], take_rest: bool, ended: bool
) -> None:
    body = START + b"".join(frames) + (END if ended else b"")
    for client in ANTHROPIC_CLIENTS:
        _check(client, "anthropic", _cuts(body, cuts), take_rest)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(chat_chunks(), max_size=8),
    st.lists(st.integers(0, 6000), max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_a_chat_upstream_split_gives_the_same_bytes(
    chunks: list[bytes], cuts: list[int], take_rest: bool, ended: bool
) -> None:
    body = CHAT_START + b"".join(chunks) + (CHAT_END if ended else b"")
    for client in CHAT_CLIENTS:
        _check(client, "openai_chat", _cuts(body, cuts), take_rest)


@pytest.mark.parametrize("client", ANTHROPIC_CLIENTS)
def test_the_read_stops_at_the_first_token(client: str) -> None:
    """One read of a whole answer: the feed ends with the first token's frame, the rest follows."""
    split, whole = _pair(client, "anthropic")
    frame = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    )
    body = START + frame + frame.replace(b"Hi", b"Yo") + END
    head = split.feed(body)
    assert split.has_rest and b"Hi" in head and b"Yo" not in head
    assert not split.complete  # the finish is in the rest, not yet read
    rest = split.rest()
    assert b"Yo" in rest and split.complete
    assert head + rest + split.finish() == whole.feed(body) + whole.finish()


def test_fail_and_keepalive_put_the_rest_first() -> None:
    """A caller that does not take the rest still gets it, before what it asks for."""
    for method in ("fail", "keepalive"):
        split, _ = _pair("anthropic", "openai_chat")
        second = CHAT_START.replace(b'"role":"assistant","content":""', b'"content":"later"')
        split.feed(CHAT_START.replace(b'"content":""', b'"content":"first"') + second)
        assert split.has_rest
        out = split.fail(502, "x") if method == "fail" else split.keepalive()
        assert out.index(b"later") < (out.index(b"error") if method == "fail" else len(out))
        assert not split.has_rest


def test_a_read_without_a_token_is_translated_whole() -> None:
    split, _ = _pair("anthropic", "openai_chat")
    split.feed(_chat('{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}'))
    assert not split.has_rest and split.rest() == b""


def test_a_responses_clients_first_text_takes_the_lane() -> None:
    """The Responses encoder's ``text`` opens the message item itself (the answer's first text, the
    response started): the first token of an Anthropic stream is not parsed by the decoder either."""
    split, whole = _pair("openai_responses", "anthropic")
    whole._lane = None
    frame = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    )
    split.feed(START)
    whole.feed(START)
    split.decoder.feed = None  # type: ignore[method-assign]
    assert split.feed(frame) == whole.feed(frame)
    assert split.saw_content and b'"delta":"Hi"' in split.feed(frame)
