"""A background response's usage, read from the answers that show it finished, for its one ledger row. Pure.

A ``background: true`` create call answers at once (``status: "queued"``, no usage); the tokens appear in the
provider's later answers that show the response in a terminal status: a retrieve (``GET /v1/responses/{id}``,
as JSON or streamed), a cancel (``POST …/cancel``), or the create call's own stream when it asked for one
(OpenAI API reference, "Responses": retrieve, cancel, "The response object"; guide "Background mode"). The
wire's usage reader (``registry.WIRES[wire].usage``) marks such usage ``billed_once_as`` its response id
(``_responses_wire.billed_usage``); the event that carries it gets an id derived from the provider and that
id (``calls.row_for``), so however many answers show it, the ledger keeps one row (docs/responses.md,
"Background responses in the ledger").

``finished_usage(wire, answer)`` reads a whole answer; ``StreamTap`` follows a streamed retrieve's bytes and
keeps the response of its last terminal event.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.gateway.dialects import registry
from services.gateway.dialects.formats import Wire
from services.gateway.dialects.ir import Usage
from shared.sse import SSEDecoder, SSEEvent

# The stream events that carry a response in its final state, with its usage (OpenAI API reference,
# "Responses streaming events": response.completed, response.incomplete, response.failed)
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def finished_usage(wire: Wire, answer: Any) -> Usage | None:
    """The usage of ``answer`` (a decoded JSON answer of ``wire``) when it is billed once under a key (a
    background response in a terminal status, with its usage), else None (anything else: a response still
    queued or in progress, a synchronous one, an error, a list, not an object)."""
    if type(answer) is not dict:
        return None
    usage = registry.WIRES[wire].usage(answer)
    return usage if usage.billed_once_as is not None else None


def parse(body: bytes) -> Any:
    """``body`` decoded as JSON; None when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


class StreamTap:
    """Follows a streamed answer's bytes (``feed`` each chunk as relayed, then ``finish`` at the body's end) and
    keeps the ``response`` object of its last terminal event (``TERMINAL_EVENTS``), in ``response``; malformed
    events are passed over."""

    __slots__ = ("_decoder", "response")

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self.response: dict[str, Any] | None = None

    def feed(self, chunk: bytes) -> None:
        self._read(self._decoder.feed(chunk))

    def finish(self) -> None:
        """The body ended (or broke off): its last event is read when it is whole though its blank line, or its last
        line's break, never came (``SSEDecoder.flush(ended=True)``: every line ended, or the last is a whole JSON
        ``data`` line, ``ends_whole``), as the relays read a stream's end (bug32b's kind). Review33: a streamed
        retrieve closed right after ``response.completed``'s JSON left the background response without its row."""
        self._read(self._decoder.flush(ended=True))

    def _read(self, events: list[SSEEvent]) -> None:
        for ev in events:
            if ev.comment or not ev.data:
                continue
            obj = parse(ev.data.encode())
            if type(obj) is not dict:
                continue
            kind = obj.get("type") or ev.event
            if kind in TERMINAL_EVENTS and type(response := obj.get("response")) is dict:
                self.response = response
