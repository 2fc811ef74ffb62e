"""Session 18's passthrough changes keep the bytes and the facts: the recorded streams (the benchmark's three
answers, ``tests/fixtures/bench_sse``, and the provider recordings, ``tests/fixtures/sse``) cut at every
offset into two reads, and at hypothesis' choice of offsets into more, give the client the same bytes and
record the same usage (and model, commit, completion, error) through ``Passthrough`` (the scanned,
whole-read and per-frame paths, chosen by ``ScanRule.between``'s count, with the provider's usage rule and
the key scrubbed from each read, as the gateway drives it) as through ``EventPassthrough``, the
event-by-event reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import Provider
from services.gateway.providers.openai_compat import OpenAIProvider
from services.gateway.relay import EventPassthrough, Passthrough, _usual_named
from tests.unit.test_passthrough_scan import _facts, _same_ids, sized

FIXTURES = Path(__file__).parent.parent / "fixtures"
KEY = "sk-cuts18-0123456789abcdef"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _streams() -> list[tuple[str, bytes]]:
    wires = {"anthropic": "anthropic", "openai": "openai_chat", "openrouter": "openai_chat"}
    bench = [(p.stem, p.read_bytes()) for p in sorted((FIXTURES / "bench_sse").glob("*.sse"))]
    recorded = [
        (wires[p.name.split("_")[0]], p.read_bytes()) for p in sorted((FIXTURES / "sse").glob("*.sse"))
    ]
    return bench + recorded


STREAMS = _streams()


def _provider(wire: str) -> Provider:
    if wire == "anthropic":
        return AnthropicProvider("anthropic", "http://127.0.0.1:1", KEY)
    return OpenAIProvider("openai", "http://127.0.0.1:1", KEY)


def _run(cls: type[Passthrough], wire: str, reads: list[bytes], include_usage: bool) -> tuple[object, ...]:
    """The client's bytes after each read and at the end, and the facts the ledger event reads, as
    ``proxy._relay_stream`` drives a relay (each read scrubbed, the relay's own bytes scrubbed again)."""
    provider = _provider(wire)
    relay = cls(pairing(wire, wire), View(model="m", include_usage=include_usage), provider.usage)  # type: ignore[arg-type]
    out: list[object] = []
    for read in reads:
        chunk = provider.scrub_bytes(read)
        fed = relay.feed(chunk)
        out.append(fed if fed is chunk else provider.scrub_bytes(fed))
        out.append(relay.rest())
        out.append(_facts(relay))
    out.append(_same_ids(provider.scrub_bytes(relay.finish())))
    out.append(_facts(relay))
    out.append((relay.usage, relay.decoder.model, relay.error, relay.complete, relay.delivered))
    return tuple(out)


def _same(wire: str, reads: list[bytes], include_usage: bool) -> None:
    ref = _run(EventPassthrough, wire, reads, include_usage)
    for cls in (Passthrough, sized(2)):
        assert _run(cls, wire, reads, include_usage) == ref, (cls.min_frames, [len(r) for r in reads])


@pytest.mark.parametrize(("wire", "body"), STREAMS, ids=[f"{w}-{i}" for i, (w, _) in enumerate(STREAMS)])
def test_every_two_read_cut_of_a_recorded_stream(wire: str, body: bytes) -> None:
    _same(wire, [body], include_usage=False)
    for at in range(1, len(body)):
        _same(wire, [body[:at], body[at:]], include_usage=at % 2 == 0)


def test_a_key_quoted_in_a_stream_is_scrubbed_alike() -> None:
    wire, body = STREAMS[2]  # the Responses stream: its quiet frames are read from bytes
    quoted = body.replace(b"Hello from", KEY.encode() + b" from", 1)
    for at in range(0, len(quoted), 7):
        reads = [quoted[:at], quoted[at:]] if at else [quoted]
        _same(wire, reads, include_usage=False)
        sent = b"".join(x for x in _run(Passthrough, wire, reads, False) if type(x) is bytes)
        start = quoted.find(KEY.encode())
        if not start < at < start + len(KEY):  # (a key cut in two is ``next_chunk``'s known miss)
            assert KEY.encode() not in sent and b"[redacted] from" in sent


@FUZZ
@given(data=st.data(), which=st.integers(min_value=0, max_value=len(STREAMS) - 1), usage=st.booleans())
def test_recorded_streams_at_any_cuts(data: st.DataObject, which: int, usage: bool) -> None:
    wire, body = STREAMS[which]
    cuts = sorted(set(data.draw(st.lists(st.integers(min_value=1, max_value=len(body) - 1), max_size=12))))
    edges = [0, *cuts, len(body)]
    _same(wire, [body[a:b] for a, b in zip(edges, edges[1:], strict=False)], usage)


def _usual_named_before(chunk: bytes) -> list[bytes] | None:
    """``relay._usual_named`` as it was before session 18 (its data lines joined and counted): the
    reference for the count of the whole read that replaced it."""
    lines = chunk.split(b"\n")
    if len(lines) == 4:
        head = lines[0]
        usual = len(head) > 7 and head.startswith(b"event: ") and lines[1].startswith(b"data: ")
        return lines if usual and not lines[2] else None
    frames = len(lines) // 3
    if len(lines) != 3 * frames + 1 or not frames or any(lines[2::3]):
        return None
    heads = b"\n" + b"\n".join(lines[0:-1:3]) + b"\n"
    if heads.count(b"\nevent: ") != frames or b"\nevent: \n" in heads:
        return None
    if (b"\n" + b"\n".join(lines[1::3])).count(b"\ndata: ") != frames:
        return None
    return lines


_LINES = [
    b"event: a",
    b"event: data: x",
    b"event: ",
    b"event:a",
    b'data: {"t":"data: "}',
    b"data: data: ",
    b"data: ",
    b"data:{}",
    b"xdata: {}",
    b" data: {}",
    b"",
    b": c",
    b"id: 1",
]


@FUZZ
@given(st.lists(st.sampled_from(_LINES), min_size=1, max_size=14), st.booleans())
def test_the_data_lines_counted_in_the_read_decide_as_the_joined_ones(
    lines: list[bytes], usual: bool
) -> None:
    if usual:  # mostly usual frames, an odd line among them
        frames = [b"event: a\n" + (line if line.startswith(b"data") else b"data: {}") for line in lines]
        chunk = b"\n\n".join(frames) + b"\n\n"
    else:
        chunk = b"\n".join(lines) + b"\n\n"
    assert _usual_named(chunk) == _usual_named_before(chunk)
    assert _usual_named(chunk, chunk.count(b"\ndata: ")) == _usual_named_before(chunk)
