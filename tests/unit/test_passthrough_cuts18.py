"""Session 18's passthrough changes keep the bytes and the facts: the recorded streams (the benchmark's three
answers, ``tests/fixtures/bench_sse``, and the provider recordings, ``tests/fixtures/sse``) cut at every
offset into two reads, and at hypothesis' choice of offsets into more, give the client the same bytes and
record the same usage (and model, commit, completion, error) through ``Passthrough`` (the whole-read and
per-frame paths, with the provider's usage rule and the key scrubbed from each read, as the gateway drives
it) as through ``EventPassthrough``, the event-by-event reference; and the quiet frames' mark test read from
bytes (``ScanRule.marked_bytes``) answers as the old one read from their text (``marked`` of
``_text(data)``) for any bytes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects.registry import WIRES, pairing
from services.gateway.dialects.view import View
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import Provider
from services.gateway.providers.openai_compat import OpenAIProvider
from services.gateway.relay import EventPassthrough, Passthrough
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


# Quiet frames' data: the recorded ones, and bytes made to hit each branch of the test (marks, escapes,
# bytes not UTF-8, JSON orjson refuses and the standard parser reads, not an object, deep nesting)
_QUIET = [
    b'{"type":"content_block_stop","index":0}',
    b'{"type":"response.output_text.done","item_id":"m","output_index":0,"content_index":0,"text":"hi"}',
    b'{"type":"response.output_item.done","item":{"type":"message","status":"completed"}}',
    b'{"type":"content_block_stop","index":0,"note":"\xff"}',
    b'{"type":"content_block_stop","index":0,"note":"\xc3"}',
    b'{"type":"content_block_stop","index":NaN}',
    b'{"type":"content_block_stop","index":0,"x":"\\ud800"}',
    b'{"type":"content_block_stop","index":0,}',
    b'{"type":"message_delta"}',
    b'{"type":"x","usage":{}}',
    b'{"type":"x","u\\u0073age":{}}',
    b'{"type":"response","a":1}',
    b"[1,2]",
    b'"text"',
    b"{" * 600 + b"}" * 600,
    b'{"a":' * 300 + b"1" + b"}" * 300,
    b"",
]
_ATOMS = [
    b'"',
    b"{",
    b"}",
    b":",
    b",",
    b"\\u",
    b"\\",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\xe2\x80",
    b'"usage"',
    b"1",
    "é".encode(),
]


@pytest.mark.parametrize("wire", ["anthropic", "openai_responses"])
def test_marked_bytes_answers_as_marked_of_the_text_for_the_listed_frames(wire: str) -> None:
    rule = WIRES[wire].scan  # type: ignore[index]
    assert rule is not None and rule.marked is not None and rule.marked_bytes is not None
    for data in _QUIET:
        assert rule.marked_bytes(data) is rule.marked(data.decode("utf-8", errors="replace")), data


@FUZZ
@given(
    wire=st.sampled_from(["anthropic", "openai_responses"]),
    base=st.sampled_from(_QUIET[:3]),
    inserts=st.lists(st.tuples(st.integers(min_value=0, max_value=200), st.sampled_from(_ATOMS)), max_size=4),
    raw=st.binary(max_size=40),
)
def test_marked_bytes_answers_as_marked_of_the_text(
    wire: str, base: bytes, inserts: list[tuple[int, bytes]], raw: bytes
) -> None:
    rule = WIRES[wire].scan  # type: ignore[index]
    assert rule is not None and rule.marked is not None and rule.marked_bytes is not None
    data = base
    for at, atom in inserts:
        at %= len(data) + 1
        data = data[:at] + atom + data[at:]
    for one in (data, raw, orjson.dumps({"type": "content_block_stop", "t": raw.decode("latin-1")})):
        assert rule.marked_bytes(one) is rule.marked(one.decode("utf-8", errors="replace")), one
