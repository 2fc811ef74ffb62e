"""What the translator's text lane tests share (``tests/unit/test_text_lane.py``, ``tests/unit/dialects/test_text_run.py``):
an Anthropic stream's opening and end around text frames, the relay facts compared, and a general-path relay's
encoder made to invent the same values as the lane's."""

from __future__ import annotations

from typing import Any

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
