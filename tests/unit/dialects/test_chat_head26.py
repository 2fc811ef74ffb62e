"""The chat stream encoder's chunk head from one template (session 26: ``ChatStreamEncoder._make_head``) and
a ``MessageStart`` answered with the opening alone: the same bytes as the chunk's object serialised whole
(``orjson.dumps`` of ``{"id", "object", "created", "model", "choices"}``), over random ids, models (quotes,
backslashes, controls, non-ASCII) and timestamps, with and without ``include_usage``."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.dialects._openai_stream import ChatStreamEncoder
from services.gateway.dialects.ir import MessageStart


@given(st.text(max_size=12), st.text(max_size=12), st.integers(0, 2**40), st.booleans())
def test_the_opening_is_the_role_chunk_serialised_whole(
    ident: str, model: str, created: int, include_usage: bool
) -> None:
    encoder = ChatStreamEncoder(model, include_usage, completion_id=ident or None)
    encoder.created = created
    got = encoder.feed(MessageStart(id="msg_x", model="m"))
    chunk = {
        "id": encoder.id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }
    if include_usage:
        chunk["usage"] = None
    assert got == b"data: " + orjson.dumps(chunk) + b"\n\n"
    assert encoder.feed(MessageStart(id="msg_y", model="m")) == b""  # (one opening)
