"""A stream's opening: the frames a client format's answer begins with before any content (pure).

An answer the gateway starts on an upstream's silence before its first token (``proxy.until_committed``:
headers, keep-alives, and the frames the format opens every answer with) may still be served by another
route when that upstream then fails before any token: the next route's answer continues the same client
stream without its own opening (``relay.Relay.resume``). Each client format says which of its frames are
its opening (``Part``), here judged on what the client was sent:

- Anthropic Messages: ``message_start`` (``ping`` is a keep-alive). Source: Anthropic "Streaming
  Messages", event flow: a ``message_start``, then content blocks, then ``message_delta``/``message_stop``;
  ``ping`` events may come anywhere.
- OpenAI chat: a chunk whose delta says the role only (empty or null content, no tool call, no finish
  reason), and a chunk with no choice (Azure's prompt filter results). Source: OpenAI API reference,
  "The chat completion chunk object"; the openai SDK's stream accumulator joins string fields of deltas,
  so a second ``role`` would read "assistantassistant" (``openai.lib.streaming.chat``).
- OpenAI Responses: ``response.created`` and ``response.in_progress``. Source: OpenAI "Streaming API
  responses" (the events in order: created, in_progress, then output items).

SSE comments are keep-alives for every format (WHATWG SSE: ignored by clients).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson

from shared.sse import SSEDecoder, SSEEvent

# What one frame the client was sent is: part of its format's opening, a keep-alive, or (None) anything
# else (a block's start, a token, an error): the answer has begun, it can no longer be continued by another.
Part = Literal["opening", "keepalive"]


@dataclass(frozen=True, slots=True)
class Opening:
    """What a client has of an answer begun for an earlier route: ``frames`` events of its format's opening
    (0: keep-alives only), and the id the opening gave the answer, where the format's clients hold the rest
    of the stream to it (Responses: the openai SDK raises "Lifecycle response identity changed" when a
    terminal event names another response); None where none is kept."""

    frames: int = 0
    id: str | None = None
    # the opening is this upstream's own, passed to the client as it came (a fresh stream a relay numbers its
    # keep-alives in, ``relay.Passthrough.keepalive``): its opening frames still to come go on, renumbered, where
    # another route's opening drops them (fix28: a keep-alive between Responses' ``created`` and ``in_progress``)
    own: bool = False

    def then(self, more: Opening) -> Opening:
        """This opening followed by what a later route added to it."""
        return Opening(self.frames + more.frames, self.id if self.id is not None else more.id)


def _no_id(ev: SSEEvent) -> str | None:
    return None


def opening_frames(
    sent: bytes, part: Callable[[SSEEvent], Part | None], ident: Callable[[SSEEvent], str | None] = _no_id
) -> Opening | None:
    """The opening ``sent`` (the whole events a client got) holds, when it holds nothing else but
    keep-alives (``part``: the format's judge of one frame; ``ident``: the answer's id an opening frame
    gives, if any); None when it holds anything else. b"" → no frames. An event left unfinished at the end
    of ``sent`` counts as anything else (a relay sends whole events only, so it is not one of its own)."""
    decoder = SSEDecoder()
    frames = 0
    answer_id: str | None = None
    for ev in decoder.feed(sent):
        kind = part(ev)
        if kind is None:
            return None
        if kind == "opening":
            frames += 1
            answer_id = answer_id or ident(ev)
    if decoder.pending:
        return None
    return Opening(frames, answer_id)


def event_kind(ev: SSEEvent) -> str | None:
    """An event's type: its data's ``type`` (what the SDKs read), else its SSE name; None when its data is
    not JSON."""
    try:
        obj = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return None
    kind = obj.get("type") if isinstance(obj, dict) else None
    return kind if isinstance(kind, str) else ev.event
