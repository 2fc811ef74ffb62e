"""Session 20's passthrough stream end: ``Passthrough.finish``'s shortcut for a body that ends between two
events with nothing held back gives the client the same bytes, and the ledger the same facts, as the
general path (``_finish_cut``); and ``Relay.read_usage`` (what the event reads when it is built,
``Attempt.read_usage``) is ``usage``, zero counts when the stream reported none.

The streams: the benchmark's three answers and the provider recordings (``tests/fixtures``), cut after
every event (the shortcut's case) and at every line end inside one (the general path's), read in one piece
and frame by frame, through ``Passthrough`` and ``EventPassthrough``, with the chat client asking for the
usage chunk or not (a frame filter either way), as the gateway drives a relay (each read scrubbed)."""

from __future__ import annotations

import pytest

from services.gateway.dialects import ir
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from tests.unit.test_passthrough_cuts18 import STREAMS, _provider
from tests.unit.test_passthrough_scan import _facts, _same_ids


def _fed(
    cls: type[Passthrough], wire: str, reads: list[bytes], include_usage: bool
) -> tuple[Passthrough, bytes]:
    provider = _provider(wire)
    relay = cls(pairing(wire, wire), View(model="m", include_usage=include_usage), provider.usage)  # type: ignore[arg-type]
    out = []
    for read in reads:
        out.append(relay.feed(provider.scrub_bytes(read)))
        out.append(relay.rest())
    return relay, b"".join(out)


def _cuts(body: bytes) -> list[int]:
    """Every offset after a blank line (an event's end) and after each other line end."""
    return sorted({i + 1 for i in range(len(body)) if body[i : i + 1] == b"\n"})


def _reads(body: bytes, cut: int, framed: bool) -> list[bytes]:
    head = body[:cut]
    if not framed:
        return [head]
    return [f + b"\n\n" for f in head.split(b"\n\n")[:-1]] + (
        [rest] if (rest := head.rsplit(b"\n\n", 1)[-1]) else []
    )


@pytest.mark.parametrize(("wire", "body"), STREAMS, ids=[f"{w}-{i}" for i, (w, _) in enumerate(STREAMS)])
def test_finish_shortcut_gives_the_general_paths_bytes_and_facts(wire: str, body: bytes) -> None:
    shortcuts = 0
    for cls in (Passthrough, EventPassthrough):
        for include_usage in (False, True):
            for framed in (False, True):
                for cut in _cuts(body):
                    reads = _reads(body, cut, framed)
                    relay, sent = _fed(cls, wire, reads, include_usage)
                    twin, twin_sent = _fed(cls, wire, reads, include_usage)
                    assert sent == twin_sent
                    shortcuts += not relay._held and relay._sse.at_boundary
                    assert _same_ids(relay.finish()) == _same_ids(twin._finish_cut()), (
                        cls.__name__,
                        include_usage,
                        cut,
                    )
                    assert _facts(relay) == _facts(twin)
                    assert relay.events == twin.events and relay.delivered == twin.delivered
                    assert relay.read_usage() == twin.read_usage()
    assert shortcuts  # the shortcut's case was met


def test_read_usage_is_usage_or_zero_counts() -> None:
    wire, body = next((w, b) for w, b in STREAMS if w == "openai_chat")
    relay, _ = _fed(Passthrough, wire, [body], False)
    relay.finish()
    assert relay.usage is not None and relay.usage.output_tokens > 0
    assert relay.read_usage() == relay.usage
    empty, _ = _fed(Passthrough, wire, [b": keep-alive\n\n"], False)
    empty.finish()
    assert empty.usage is None and empty.read_usage() == ir.Usage()
