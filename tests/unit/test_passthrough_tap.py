"""Passthrough relays read usage without decoding token-only events (``WireSpec.content_events``, and
``token_event`` for OpenAI chat), yet report the same usage, completion, progress and first-token facts, and
send the same bytes, as a relay that decodes everything."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.dialects import _openai_stream, ir
from services.gateway.dialects.openai_chat import ChatStreamDecoder, TextChunks, is_text_chunk
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from shared.sse import SSEEvent


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def anthropic_stream(deltas: int) -> bytes:
    out = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "model": "claude-x",
                    "usage": {"input_tokens": 11, "output_tokens": 1},
                },
            },
        ),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    out += [
        _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"w{i} "}},
        )
        for i in range(deltas)
    ]
    out += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}},
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(out)


def responses_stream(deltas: int) -> bytes:
    resp = {"id": "resp_1", "object": "response", "model": "gpt-x", "status": "in_progress", "output": []}
    out = [
        _sse("response.created", {"type": "response.created", "response": resp}),
        _sse(
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {"type": "message", "id": "m1"},
            },
        ),
    ]
    out += [
        _sse(
            "response.output_text.delta",
            {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": f"w{i} "},
        )
        for i in range(deltas)
    ]
    done = dict(resp, status="completed", usage={"input_tokens": 9, "output_tokens": 7, "total_tokens": 16})
    out.append(_sse("response.completed", {"type": "response.completed", "response": done}))
    return b"".join(out)


def chat_stream(deltas: int) -> bytes:
    """OpenAI's compact chunks as it streams them with ``include_usage`` (``"usage":null`` until the last)."""
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice], "usage": None, **extra}) + b"\n\n"

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": f"w{i} "}) for i in range(deltas)]
    out.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}
    out.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


class Recording:
    """Wraps a stream decoder and records the event names it was given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[str | None] = []

    def feed(self, ev: SSEEvent) -> list[ir.Delta]:
        self.seen.append(ev.event or ("text" if '"content":"w' in ev.data else None))
        return list(self.inner.feed(ev))

    def feed_data(self, data: bytes) -> list[ir.Delta] | None:
        """The wire's ``frame_tap`` on the inner decoder, recorded by the frame's ``type`` when it read it."""
        deltas = self.inner.feed_data(data)
        if deltas is not None:
            self.seen.append(orjson.loads(data)["type"])
        return None if deltas is None else list(deltas)

    def finish(self) -> list[ir.Delta]:
        return list(self.inner.finish())

    @property
    def usage(self) -> ir.Usage | None:
        return self.inner.usage  # type: ignore[no-any-return]

    @property
    def done(self) -> bool:
        return bool(self.inner.done)

    @property
    def closed(self) -> bool:
        return bool(self.inner.closed)

    @property
    def model(self) -> str | None:
        return self.inner.model  # type: ignore[no-any-return]


def _relay(wire: Any, skip: bool, include_usage: bool = True) -> EventPassthrough:
    kind = Passthrough if skip else EventPassthrough
    relay = kind(pairing(wire, wire), View(model="m", include_usage=include_usage))
    if not skip:
        relay._content_only = frozenset()
        relay._token_event = None
    relay.decoder = Recording(relay.decoder)  # type: ignore[assignment]
    if relay._frame_tap is not None:  # the wire's tap, on the recording decoder
        relay._frame_tap = Recording.feed_data
    return relay


@pytest.mark.parametrize(
    ("wire", "body", "content"),
    [
        ("anthropic", anthropic_stream(50), "content_block_delta"),
        ("openai_responses", responses_stream(50), "response.output_text.delta"),
        ("openai_chat", chat_stream(50), "text"),
    ],
)
@pytest.mark.parametrize("split", [1, 7, 64, 10_000])
def test_token_events_are_not_decoded_and_the_facts_are_the_same(
    wire: Any, body: bytes, content: str, split: int
) -> None:
    fast, full = _relay(wire, skip=True), _relay(wire, skip=False)
    for relay in (fast, full):
        out = b"".join(relay.feed(body[i : i + split]) for i in range(0, len(body), split)) + relay.finish()
        assert out == body  # bytes untouched
    # The first token only; chat's none, its role chunk having opened the message (``token_event`` is exact)
    assert fast.decoder.seen.count(content) == (wire != "openai_chat")  # type: ignore[attr-defined]
    assert full.decoder.seen.count(content) == 50  # type: ignore[attr-defined]
    assert fast.usage == full.usage and fast.usage is not None
    assert (fast.complete, fast.started, fast.saw_content, fast.error) == (
        full.complete,
        full.started,
        full.saw_content,
        full.error,
    )
    # Progress: every event that gave a delta, and a quiet frame passed undecoded (``WireSpec.quiet_events``:
    # Anthropic's content_block_stop) counts too, where the decoder found nothing in it
    assert fast.events == full.events + (wire == "anthropic")
    assert fast.complete and fast.saw_content


def test_a_malformed_token_event_still_reaches_the_decoder() -> None:
    body = anthropic_stream(2).replace(b'"text":"w1 "}}', b'"text":"w1 "', 1)
    relay = _relay("anthropic", skip=True)
    relay.feed(body)
    relay.finish()
    assert relay.decoder.seen.count("content_block_delta") == 2  # type: ignore[attr-defined]
    assert relay.error is not None and relay.error.status == 502


def test_a_token_event_that_carries_no_token_does_not_commit_the_stream() -> None:
    """A signature or an empty text is no first token: it must not stamp TTFT or forfeit fallback."""
    head, _, _ = anthropic_stream(0).partition(b"event: content_block_stop")
    signature = _sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
    )
    empty = _sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}},
    )
    relay = _relay("anthropic", skip=True)
    relay.feed(head + empty + signature)
    assert not relay.saw_content
    assert relay.decoder.seen.count("content_block_delta") == 2  # type: ignore[attr-defined]


def test_after_the_finish_token_events_are_decoded_again() -> None:
    body = anthropic_stream(1) + _sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "late"}},
    )
    relay = _relay("anthropic", skip=True)
    relay.feed(body)
    assert relay.complete
    assert relay.decoder.seen[-1] == "content_block_delta"  # type: ignore[attr-defined]


@pytest.mark.parametrize("split", [1, 7, 64, 10_000])
def test_chat_text_chunks_skip_the_decoder_not_the_usage_filter(split: int) -> None:
    """The gateway asked for the usage chunk on a client's behalf: it is still dropped, the text still
    goes out byte for byte."""
    body = chat_stream(20)
    fast, full = _relay("openai_chat", True, include_usage=False), _relay("openai_chat", False, False)
    outs = [
        b"".join(relay.feed(body[i : i + split]) for i in range(0, len(body), split)) + relay.finish()
        for relay in (fast, full)
    ]
    assert outs[0] == outs[1] and b'"usage":{' not in outs[0] and outs[0].count(b'"content":"w') == 20
    assert fast.decoder.seen.count("text") == 0  # type: ignore[attr-defined]
    assert fast.usage == full.usage and fast.usage is not None and fast.usage.output_tokens == 7
    assert fast.events == full.events and fast.complete


TEXT_CHUNK = '{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":null}'


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"finish_reason":null', '"finish_reason":"stop"'),
        ('"content":"a"', '"content": "a"'),  # not OpenAI's compact form: decode, to be sure
        ('"usage":null', '"usage":{"total_tokens":1}'),
        ('"content":"a"', '"content":"a","reasoning_content":"b"'),
        ('"index":0', '"index":1'),
        ('"content":"a"', '"content":"a","tool_calls":[]'),
        ('"usage":null', '"error":{"message":"x"}'),
        ('"content":"a"', '"content":""'),
        ('"content":"a"', '"content":"a","refusal":"no"'),
    ],
)
def test_a_chat_chunk_that_says_more_than_text_is_decoded(old: str, new: str) -> None:
    assert is_text_chunk(SSEEvent(event=None, data=TEXT_CHUNK))
    assert not is_text_chunk(SSEEvent(event=None, data=TEXT_CHUNK.replace(old, new)))
    texts = TextChunks(
        ChatStreamDecoder()
    )  # having learnt the text chunk's shape, it still tells this one apart
    assert texts(SSEEvent(event=None, data=TEXT_CHUNK))
    assert not texts(SSEEvent(event=None, data=TEXT_CHUNK.replace(old, new)))


@pytest.mark.parametrize(
    ("text", "token", "checked"),
    [
        ("more words", True, False),  # the same shape: no full check
        ("x", True, False),
        ("", False, True),  # no token
        ('a \\"quote\\"', True, True),  # a quote in the text: the full check says
        ('b","usage":{"total_tokens":1},"x":"', False, True),  # (not JSON-escaped: the shape is not kept)
        ("tail\\", False, True),  # a backslash that escapes the closing quote: malformed, the decoder's
        ("tail\\\\", True, False),  # an escaped backslash: JSON, and a token (the text judged alone)
        ("ta\\qil", False, True),  # an escape JSON has not: no JSON, the decoder's (its parse says)
        ("ta\x01il", False, True),  # a raw control character: no JSON either
        ("a \u2028 é", True, False),  # not printable, yet a JSON string body
    ],
)
def test_text_chunks_of_a_learnt_shape_skip_the_full_check(
    text: str, token: bool, checked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = TextChunks(ChatStreamDecoder())
    assert texts(SSEEvent(event=None, data=TEXT_CHUNK))
    calls: list[str] = []
    full = _openai_stream._is_text_data  # ``is_text_chunk``'s test of an event's data
    monkeypatch.setattr(_openai_stream, "_is_text_data", lambda d: calls.append(d) or full(d))
    data = TEXT_CHUNK.replace('"content":"a"', '"content":"' + text + '"')
    assert texts(SSEEvent(event=None, data=data)) is token
    assert bool(calls) is checked
    assert not texts(SSEEvent(event=None, data=data, comment=True))


def test_a_chat_stream_that_opens_with_text_decodes_its_first_chunk() -> None:
    """The first chunk opens the message (id, model, the shape of added chunks): decoded even when it is
    a text chunk; the text chunks after it are not."""
    body = chat_stream(5).split(b"\n\n", 1)[1]  # no role chunk: the first one is text
    fast = _relay("openai_chat", skip=True)
    assert fast.feed(body) + fast.finish() == body
    assert fast.decoder.seen.count("text") == 1  # type: ignore[attr-defined]
    assert fast.saw_content and fast.complete and fast.decoder.model == "gpt-x"


def _broken(body: bytes, before: bytes) -> bytes:
    """``body`` cut off just before its first frame holding ``before``: a stream that broke mid-answer."""
    return body[: body.index(before)]


@pytest.mark.parametrize("split", [1, 7, 64, 10_000])
@pytest.mark.parametrize(
    ("opening", "text"),
    [
        ('"model":""', '"model":"gpt-x"'),  # an OpenAI-compatible server that names its model late
        ('"model":"router"', '"model":"gpt-x"'),  # the model served differs from the first chunk's
        ('"model":"gpt-x"', '"model":""'),  # text chunks with an empty model keep the known one
    ],
)
def test_chat_text_chunks_that_would_change_the_served_model_are_decoded(
    opening: str, text: str, split: int
) -> None:
    """The served model is what a decoding relay reports, also when the stream breaks before its finish
    (the relay's first-token shortcut must not skip the chunk that names it)."""
    body = chat_stream(6)
    first, rest = body.split(b"\n\n", 1)
    body = first.replace(b'"model":"gpt-x"', opening.encode()) + b"\n\n"
    body += rest.replace(b'"model":"gpt-x"', text.encode())
    body = _broken(body, b'"finish_reason":"stop"')
    fast, full = _relay("openai_chat", skip=True), _relay("openai_chat", skip=False)
    for relay in (fast, full):
        b"".join(relay.feed(body[i : i + split]) for i in range(0, len(body), split))
        relay.finish()
        assert not relay.complete and relay.saw_content
    assert fast.decoder.model == full.decoder.model == "gpt-x"


def test_a_text_chunk_of_a_learnt_shape_with_a_model_the_decoder_no_longer_has_is_decoded() -> None:
    decoder = ChatStreamDecoder()
    texts = TextChunks(decoder)
    decoder.feed(SSEEvent(event=None, data=TEXT_CHUNK.replace('"id":"c"', '"id":"c","model":"a"')))
    chunk = SSEEvent(event=None, data=TEXT_CHUNK.replace('"id":"c"', '"id":"c","model":"a"'))
    assert texts(chunk)  # the shape is learnt with model "a"
    decoder.feed(SSEEvent(event=None, data=TEXT_CHUNK.replace('"id":"c"', '"id":"c","model":"b"')))
    assert not texts(chunk)  # decoding it would make the model "a" again


def test_openai_padded_text_chunks_take_the_learnt_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenAI pads every chunk with a random ``obfuscation`` string after its usage: the learnt shape still
    holds (one full check for the stream, not one per chunk), and a padding that is not one plain string,
    or a text that is not, goes to the full check."""
    texts = TextChunks(ChatStreamDecoder())
    calls: list[str] = []
    full = _openai_stream._is_text_data  # ``is_text_chunk``'s test of an event's data
    monkeypatch.setattr(_openai_stream, "_is_text_data", lambda d: calls.append(d) or full(d))

    def padded(text: str, pad: str) -> SSEEvent:
        data = TEXT_CHUNK.replace('"content":"a"', f'"content":"{text}"')[:-1] + f',"obfuscation":"{pad}"}}'
        return SSEEvent(event=None, data=data)

    assert texts(padded("a", "Qz"))
    assert all(texts(padded(f"w{i} ", "h8Xa1"[: i % 5 + 1])) for i in range(20)) and len(calls) == 1
    assert texts(padded("x", 'a\\"b')) and len(calls) == 2  # an escaped quote in the padding: checked
    assert not texts(padded("tail\\", "Qz"))  # a backslash escaping the text's closing quote: malformed
