"""A chat-wire translator learns its text chunks' shape from the stream's first chunk (``_TextShape.spliced_from``:
the role chunk with its ``delta`` replaced) and reads the stream's first text chunk by that shape, without
parsing it (``ChatStreamDecoder.feed_frame``); a text chunk the shape does not take teaches it again from that
chunk (``_TextShape.learn``). The client's bytes and the relay's facts are those of the general path (SSE decoder
→ decoder ``feed`` → IR deltas → encoder ``feed``), whatever the first chunk and the text chunks hold."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._openai_stream import _FIRST_READS
from services.gateway.relay import Translator
from tests.text_lanes import run as _run
from tests.text_lanes import run_relays

CLIENTS = ("anthropic", "openai_responses")
HEAD = b'"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,'


def _relays(client: str, include_usage: bool) -> tuple[Translator, Translator]:
    fast, general = run_relays(client, "openai_chat", include_usage)
    if hasattr(fast.encoder, "response_id"):
        fast.encoder.response_id = general.encoder.response_id = "resp_1"
    return fast, general


def frame(members: list[bytes]) -> bytes:
    return b"data: {" + b",".join(members) + b"}\n\n"


def chunk(
    delta: bytes, model: bytes = b'"gpt-4o-mini"', pad: bytes | None = None, tail: bytes = b""
) -> bytes:
    """A chunk whose first choice's delta is ``delta`` (JSON text), in OpenAI's member order."""
    members = [HEAD + b'"model":' + model]
    members.append(
        b'"choices":[{"index":0,"delta":' + delta + b',"logprobs":null,"finish_reason":null' + tail + b"}]"
    )
    members.append(b'"usage":null')
    if pad is not None:
        members.append(b'"obfuscation":"' + pad + b'"')
    return frame(members)


def end(model: bytes = b'"gpt-4o-mini"') -> bytes:
    return (
        frame([HEAD + b'"model":' + model, b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]'])
        + frame(
            [
                HEAD + b'"model":' + model,
                b'"choices":[]',
                b'"usage":{"prompt_tokens":3,"completion_tokens":2}',
            ]
        )
        + b"data: [DONE]\n\n"
    )


ROLE_DELTAS = (
    b'{"role":"assistant","content":"","refusal":null}',
    b'{"role":"assistant","content":""}',
    b'{"role":"assistant"}',
    b'{"content":"Hi","role":"assistant"}',  # a first chunk with text (some servers)
    b'{"role":"assistant","reasoning_content":"hm"}',
    b'{"role": "assistant"}',  # not orjson's spelling: no splice
    b"{}",
)
MODELS = (b'"gpt-4o-mini"', b'""', b'"gpt-4o"', b"null")
PADS = (None, b"h8Xa1", b"", b"a b")


@st.composite
def text_chunks(draw: Any) -> bytes:
    kind = draw(st.integers(0, 9))
    pad = draw(st.sampled_from(PADS))
    model = draw(st.sampled_from(MODELS))
    if kind == 0:  # raw text between quotes: maybe escapes, maybe not JSON, maybe empty
        raw = draw(st.sampled_from(("", 'q"', "a\\b", "\\u00e9", "\\ud83d", "x\\/y", "\\n", "\x01", "é ☃")))
        return chunk(b'{"content":"' + raw.encode() + b'"}', model, pad)
    if kind == 1:  # keys in another order, or more keys
        text = orjson.dumps(draw(st.text(max_size=5)))
        return chunk(b'{"content":' + text + b',"role":"assistant"}', model, pad)
    if kind == 2:  # a tool call
        return chunk(
            b'{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{}"}}]}', model, pad
        )
    if kind == 3:  # a refusal, reasoning
        key = draw(st.sampled_from((b"refusal", b"reasoning_content")))
        return chunk(
            b'{"' + key + b'":' + orjson.dumps(draw(st.text(min_size=1, max_size=4))) + b"}", model, pad
        )
    if kind == 4:  # another member in the choice
        return chunk(b'{"content":"x"}', model, pad, tail=b',"stop_reason":null')
    if kind == 5:  # the role again, empty content
        return chunk(b'{"role":"assistant","content":""}', model, pad)
    return chunk(b'{"content":' + orjson.dumps(draw(st.text(max_size=8))) + b"}", model, pad)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(ROLE_DELTAS),
    st.sampled_from(MODELS),
    st.sampled_from(PADS),
    st.lists(text_chunks(), max_size=8),
    st.lists(st.integers(0, 5000), max_size=5),
    st.booleans(),
    st.booleans(),
    st.sampled_from((None, 0, 1, 2)),
)
def test_the_spliced_shape_gives_the_general_paths_bytes_and_facts(
    role: bytes,
    model: bytes,
    pad: bytes | None,
    chunks: list[bytes],
    cuts: list[int],
    include_usage: bool,
    take_rest: bool,
    stop_at: int | None,
) -> None:
    body = chunk(role, model, pad) + b"".join(chunks) + end(model)
    if stop_at is not None:  # the text chunks after the finish (0), the usage chunk (1) or [DONE] (2)
        closing = end(model).split(b"\n\n")
        cut = b"\n\n".join(closing[: stop_at + 1]) + b"\n\n"
        body = chunk(role, model, pad) + cut + b"".join(chunks)
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    reads = [body[a:b] for a, b in pairwise(points)]
    for client in CLIENTS:
        fast, general = _relays(client, include_usage)
        assert _run(fast, reads, take_rest) == _run(general, reads, take_rest)


def _first_text_parses(role: bytes, text: bytes) -> int:
    """How many chunks the fast relay's decoder parses (``feed_data``) for a stream's role chunk and first
    text chunk read as one read (the stream the first of its role chunk's form: none kept, session 31)."""
    _FIRST_READS.clear()
    fast, _ = _relays("anthropic", False)
    parsed = 0
    feed_data = fast.decoder.feed_data

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal parsed
        parsed += 1
        return feed_data(*args, **kwargs)

    fast.decoder.feed_data = counted  # type: ignore[method-assign]
    fast.feed(role + text)
    return parsed


def test_the_first_text_chunk_is_read_by_the_role_chunks_shape() -> None:
    """The role chunk is parsed, the first text chunk not (session 21's lane learnt from it, parsing it)."""
    for pad in (None, b"h8Xa1"):
        role = chunk(b'{"role":"assistant","content":"","refusal":null}', pad=pad)
        assert _first_text_parses(role, chunk(b'{"content":"Hello"}', pad=pad)) == 1
        assert _first_text_parses(role, chunk(b'{"content":"caf\\u00e9 \\"x\\""}', pad=pad)) == 1


def test_a_text_shape_the_role_chunk_did_not_give_is_learnt_from_the_first_text_chunk() -> None:
    """A server whose text chunks differ from its role chunk (here: another choice member) still gets the run
    lane for the chunks after the first: the shape spliced from the role chunk is replaced by the one learnt."""
    role = chunk(b'{"role":"assistant"}')
    texts = [chunk(b'{"content":"' + t + b'"}', tail=b',"stop_reason":null') for t in (b"a", b"b", b"c")]
    fast, general = _relays("anthropic", True)
    fast.feed(role)
    assert fast.decoder._lane is not None and fast.decoder._lane.spliced
    fast.feed(texts[0])
    assert not fast.decoder._lane.spliced  # learnt from the first text chunk
    assert fast.decoder.text_run(texts[1] + texts[2], 0) == ([b"b", b"c"], len(texts[1]) + len(texts[2]))
    fast, general = _relays("anthropic", True)
    reads = [role, texts[0], texts[1] + texts[2], end()]
    assert _run(fast, reads, True) == _run(general, reads, True)
