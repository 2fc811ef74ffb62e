"""Keep-alives while a started stream's upstream is silent (issue 9, kind 8; bugcase 19)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from services.gateway.dialects import registry
from services.gateway.dialects.formats import CLIENT_FORMATS, ClientFormat
from services.gateway.dialects.view import View
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Provider
from services.gateway.relay import make_relay
from services.gateway.upstream import UpstreamClient
from shared.settings import load_settings
from shared.sse import SSEDecoder

PROVIDER = Provider("p", "http://127.0.0.1:9", None)
TEXT = (
    b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
)


async def slow(delay: float, *parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        await asyncio.sleep(delay)
        yield p


def client(keepalive_s: float, chunk_timeout_s: float = 5.0) -> UpstreamClient:
    return UpstreamClient(None, 5, chunk_timeout_s, keepalive_s)  # type: ignore[arg-type]


async def gated(gate: asyncio.Event, part: bytes) -> AsyncIterator[bytes]:
    """An upstream silent until the test opens ``gate``."""
    await gate.wait()
    yield part


async def test_silence_calls_on_idle_until_the_chunk_comes() -> None:
    gate = asyncio.Event()
    idle = 0

    async def on_idle() -> None:  # handshake: the upstream speaks only after the 4th keep-alive
        nonlocal idle
        idle += 1
        if idle == 4:
            gate.set()

    chunk = await client(0.05).next_chunk(gated(gate, b"late"), PROVIDER, "between_chunks", 60.0, on_idle)
    assert chunk == b"late" and idle >= 4  # a keep-alive for each stretch of silence, then the chunk


async def test_the_silence_still_counts_towards_the_chunk_timeout() -> None:
    calls = 0

    async def on_idle() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(UpstreamError) as info:
        await client(0.05, chunk_timeout_s=0.2).next_chunk(
            slow(5, b"never"), PROVIDER, "between_chunks", 0.2, on_idle
        )
    assert info.value.error_type == "broken_stream" and calls >= 1  # keep-alives went out meanwhile


async def test_a_client_gone_during_the_silence_is_not_the_providers_fault() -> None:
    async def on_idle() -> None:
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await client(0.05).next_chunk(slow(5, b"never"), PROVIDER, "between_chunks", 5.0, on_idle)


def test_setting_defaults_to_ten_seconds() -> None:
    assert load_settings({}).stream_keepalive_s == 10.0
    assert load_settings({"STREAM_KEEPALIVE_S": "2.5"}).stream_keepalive_s == 2.5


@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
def test_translated_streams_get_their_formats_keepalive(fmt: ClientFormat) -> None:
    wire = "anthropic" if fmt != "anthropic" else "openai_chat"
    relay = make_relay(registry.pairing(fmt, wire), View(model="m"))
    frame = relay.keepalive()
    events = SSEDecoder().feed(frame)
    if fmt == "anthropic":
        assert any(e.event == "ping" for e in events)  # Claude Code's watchdog counts events, not comments
    elif fmt == "openai_responses":  # the opening, events Codex's reader sees (s27; later: keepalive events)
        assert [e.event for e in events] == ["response.created", "response.in_progress"]
    else:
        assert events and all(e.comment for e in events)


@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
def test_relayed_streams_get_a_keepalive_only_between_events(fmt: ClientFormat) -> None:
    """A keep-alive never lands inside an event the client has half of: the relay holds the start of an
    unfinished upstream event back until its end, so one can be written even then (s10 variant 19-f: an
    upstream silent in the middle of an event left the client without keep-alives)."""
    relay = make_relay(registry.pairing(fmt, registry.client(fmt).wire), View(model="m"))
    assert relay.keepalive() == registry.client(fmt).keepalive
    first = relay.feed(TEXT[:40])  # half an upstream event
    assert first == b""  # held back: of no use to the client before its end
    ping = relay.keepalive()
    assert ping == registry.client(fmt).keepalive
    rest = relay.feed(TEXT[40:])
    assert relay.keepalive() == registry.client(fmt).keepalive
    got = SSEDecoder().feed(first + ping + rest)
    want = SSEDecoder().feed(TEXT)
    assert [(e.event, e.data) for e in got if not e.comment and e.event != "ping"] == [
        (e.event, e.data) for e in want
    ]
    ping = SSEDecoder().feed(registry.client("anthropic").keepalive)
    assert ping[0].event == "ping" and ping[0].data == '{"type":"ping"}'


@pytest.mark.parametrize(
    ("end", "blank"),
    [
        ("\n", "\n"),
        ("\r\n", "\r\n"),
        ("\r", "\r"),
        ("\n", "\r\n"),
        ("\r\n", "\n"),
        ("\n", "\r"),
        ("\r", "\r\n"),
    ],
    ids=["lf", "crlf", "cr", "lf-crlf", "crlf-lf", "lf-cr", "cr-crlf"],
)
@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
def test_held_back_halves_never_delay_a_whole_event(fmt: ClientFormat, end: str, blank: str) -> None:
    """The start of an unfinished event is held back (s10 variant 19-f), but every event the reads so far
    complete reaches the client with the read that completes it, in LF, CRLF and CR line ends, cut every 7
    bytes, and the client's events are the upstream's."""
    wire = registry.client(fmt).wire
    events = [TEXT.decode().strip()] * 5
    body = "".join(e.replace("\n", end) + end + blank for e in events).encode()
    relay = make_relay(registry.pairing(fmt, wire), View(model="m"))
    sent, fed = b"", b""
    for i in range(0, len(body), 7):
        fed += body[i : i + 7]
        sent += relay.feed(body[i : i + 7])
        assert len(SSEDecoder().feed(sent)) == len(SSEDecoder().feed(fed))
    got = SSEDecoder().feed(sent + relay.finish())
    assert [e.data for e in got][:5] == [e.data for e in SSEDecoder().feed(body)]


@pytest.mark.parametrize("how", ["fail", "finish"])
def test_an_event_cut_mid_line_is_not_sent_before_the_error(how: str) -> None:
    """The body broke inside an event's line: the held-back half is dropped, so the client reads the error
    event (half a JSON text as an event stops the anthropic SDK with a JSONDecodeError before it)."""
    relay = make_relay(registry.pairing("anthropic", "anthropic"), View(model="m"))
    whole = relay.feed(TEXT)
    assert relay.feed(TEXT[:40]) == b""
    tail = relay.fail(502, "broke") if how == "fail" else relay.finish()
    events = SSEDecoder().feed(whole + tail)
    assert [e.event for e in events][-1] == "error" and all(json.loads(e.data) for e in events)


def test_no_keepalive_between_the_cr_and_the_lf_of_a_line_end() -> None:
    """A read that ends with the CR of a CRLF blank line: the keep-alive waits for the LF, which goes out
    with the next read even when the event after it is unfinished (else the client sees an extra blank
    line, an empty event to the openai SDK)."""
    relay = make_relay(registry.pairing("anthropic", "anthropic"), View(model="m"))
    body = TEXT.replace(b"\n", b"\r\n")
    first = relay.feed(body[:-1])  # up to the blank line's CR
    # nameless frames: the Anthropic guard's filter writes whole events, LF-ended (s26), so no CR reaches the
    # client and a keep-alive may follow at once; unfiltered streams: ``test_a_keepalive_while_a_held_event_ends_with_a_lines_cr``
    assert _data(first) == _data(TEXT) and relay.keepalive() == registry.client("anthropic").keepalive
    second = relay.feed(b"\n" + body[:30])
    assert second == b"" and relay.keepalive() == registry.client("anthropic").keepalive


def test_a_keepalive_while_a_held_event_ends_with_a_lines_cr() -> None:
    """A read that ends with the CR of a data line's CRLF inside an unfinished event: that event is held back
    (the client has whole events only), so the keep-alive goes out during the silence before the LF; the
    event then reaches the client whole after it (s19 variant 19-x: Claude Code heard nothing for the whole
    silence)."""
    relay = make_relay(registry.pairing("anthropic", "anthropic"), View(model="m"))
    body = TEXT.replace(b"\n", b"\r\n")
    cr = body.index(b"\r\n") + 1  # the data line's CR
    whole = relay.feed(body)
    assert _data(whole) == _data(body)  # (re-written whole by the guard's filter: nameless frames, s26)
    assert relay.feed(body[:cr]) == b""  # held back
    ping = relay.keepalive()
    assert ping == registry.client("anthropic").keepalive
    rest = relay.feed(body[cr:])
    assert _data(rest) == _data(body)
    events = SSEDecoder().feed(whole + ping + rest)
    assert [e.data for e in events if not e.comment and e.event != "ping"] == [
        e.data for e in SSEDecoder().feed(body * 2)
    ]


def _data(body: bytes) -> list[str]:
    """The data of the events ``body`` holds, read as the spec reads them."""
    return [e.data for e in SSEDecoder().feed(body) if not e.comment]
