"""The stream encoders write their most frequent frame (a text delta) as bytes put together directly; those
bytes must be exactly what the general path (a dict through orjson and ``encode_event``) writes, for any
text: quotes, backslashes, line breaks, control characters, non-ASCII, lone surrogates' neighbours."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.dialects import _anthropic_stream as anth_stream
from services.gateway.dialects._anthropic_stream import MessagesStreamEncoder
from services.gateway.dialects._openai_stream import ChatStreamEncoder
from services.gateway.dialects._responses_stream import ResponsesStreamEncoder
from services.gateway.dialects.ir import MessageStart, TextDelta
from services.gateway.dialects.view import View
from shared.sse import SSEDecoder, encode_event

TEXTS = [
    "Hello ",
    'say "hi"',
    "back\\slash",
    "two\nlines\r\n",
    "tab\tand \x00 nul \x1f",
    "h\u00e9llo \u2603 \U0001f600",
    "</script>",
    "\u2028\u2029",
    "",
]


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("text", [t for t in TEXTS if t])
def test_chat_text_chunk_is_the_general_chunk(text: str, include_usage: bool) -> None:
    enc = ChatStreamEncoder('m "x"', include_usage, completion_id="chatcmpl-\u00e9")
    enc.created = 1764230400
    enc.feed(TextDelta("first"))  # past the role chunk
    fast = enc.feed(TextDelta(text))
    head = {"id": enc.id, "object": "chat.completion.chunk", "created": enc.created, "model": enc.model}
    choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
    body: dict[str, Any] = {**head, "choices": [choice]}
    if include_usage:
        body["usage"] = None
    assert fast == encode_event(orjson.dumps(body))
    (ev,) = SSEDecoder().feed(fast)
    assert orjson.loads(ev.data)["choices"][0]["delta"]["content"] == text


def test_chat_empty_text_after_the_start_writes_nothing() -> None:
    enc = ChatStreamEncoder("m", False)
    assert enc.feed(TextDelta("")).startswith(b"data: ")  # the role chunk still opens the stream
    assert enc.feed(TextDelta("")) == b""


@pytest.mark.parametrize("text", TEXTS)
def test_messages_text_delta_is_the_general_frame(text: str) -> None:
    enc = MessagesStreamEncoder("m", message_id="msg_1")
    enc.feed(MessageStart(id="msg_1", model="m"))
    enc.feed(TextDelta("first"))  # opens the text block
    fast = enc.feed(TextDelta(text))
    if not text:
        assert fast == b""
        return
    general = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    assert fast == encode_event(orjson.dumps(general), event="content_block_delta")
    assert anth_stream._PING == encode_event(b'{"type":"ping"}', event="ping")


@pytest.mark.parametrize("text", [t for t in TEXTS if t])
def test_responses_output_text_delta_is_the_general_frame(text: str) -> None:
    enc = ResponsesStreamEncoder(View("m"), response_id="resp_1")
    enc.feed(TextDelta("first"))  # opens the message item
    seq = enc._seq
    fast = enc.feed(TextDelta(text))
    item = enc._open
    assert item is not None
    general = {
        "type": "response.output_text.delta",
        "sequence_number": seq,
        "item_id": item.id,
        "output_index": item.index,
        "content_index": 0,
        "delta": text,
        "logprobs": [],
    }
    assert fast == encode_event(orjson.dumps(general), event="response.output_text.delta")
    assert enc._seq == seq + 1
