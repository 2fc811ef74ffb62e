"""Session 23: a chat passthrough stream's text chunks before and after its first token, read on their bytes.

``TextChunks`` takes its text shape from the decoder's first chunk (``_spliced_shape``: the role chunk with its
``delta`` replaced, no parse of the first text chunk), reads runs of text frames on their bytes (``run``), and
``Passthrough._feed_data_frames`` takes reads that are valid UTF-8, not only ASCII. Checked two ways, on
hypothesis' chat streams (role chunks of the usual and unusual shapes, text with non-ASCII characters, ``\\u``
escapes, surrogate pairs and lone halves, quotes and control characters escaped, OpenAI's padding, other
models, tool calls, comments), read whole, a frame a read, and in two reads, for a client with and without the
usage chunk:

- against the event-by-event reference (``EventPassthrough``, ``test_passthrough_chat_tail22._check``): the
  same bytes, facts, progress, ledger usage and closing state;
- against a relay that decodes every chunk (no token test at all): the same bytes, facts, progress and usage,
  for streams whose every chunk the decoder can parse (a lone surrogate half is JSON to the SDKs, which the
  token test follows, and malformed to orjson: there the two differ by design)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _openai_stream
from services.gateway.dialects._openai_stream import ChatStreamDecoder, TextChunks, _spliced_shape
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from shared.sse import SSEEvent
from tests.unit.test_passthrough_chat_tail22 import _check
from tests.unit.test_passthrough_cuts18 import _provider
from tests.unit.test_passthrough_later21 import _ended
from tests.unit.test_passthrough_scan import _facts

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DONE = b"data: [DONE]\n\n"
ROLE_DELTA = '{"role":"assistant","content":"","refusal":null}'
USAGE = '{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}'


def _data(
    delta: str, model: str = '"gpt-x"', finish: str = "null", usage: str = "null", pad: str | None = None
) -> str:
    """A chunk's data in OpenAI's compact form, ``delta`` and the values as raw JSON text."""
    head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":' + model
    choice = '{"index":0,"delta":' + delta + ',"logprobs":null,"finish_reason":' + finish + "}"
    end = "" if pad is None else ',"obfuscation":"' + pad + '"'
    return head + ',"system_fingerprint":"fp"' + ',"choices":[' + choice + '],"usage":' + usage + end + "}"


def _frame(data: str) -> bytes:
    return b"data: " + data.encode() + b"\n\n"


# Text as JSON string literals: orjson's (non-ASCII raw, quotes and control characters escaped), and escapes
_PIECES = [
    "a",
    "Hello ",
    "é",
    "日本語",
    " 😀",
    "\u2028",
    "\u00a0",
    "\x7f",
    "\\u00e9",
    "\\ud83d\\ude00",  # a surrogate pair: one character
    "\\ud83d",  # half of one: JSON to the SDKs (the standard parser), not to orjson
    '\\"',
    "\\\\",
    "\\n",
    "\\/",
    "\\t",
]
TEXT = st.one_of(
    st.text(min_size=0, max_size=6).map(lambda t: orjson.dumps(t).decode()),
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4).map(lambda p: '"' + "".join(p) + '"'),
)
PAD = st.one_of(
    st.none(),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'), max_size=8
    ),
    st.sampled_from(["é", "a b", "\u00a0", "x\x7fy"]),
)
ROLE = st.sampled_from(
    [
        ROLE_DELTA,
        '{"role":"assistant"}',
        '{"role":"assistant","content":"Hi"}',  # a first chunk with text
        '{"role": "assistant"}',  # spaced: not its compact JSON, no shape from it
        '{"role":"assistant","content":"","refusal":null},"delta":{"role":"assistant"}',  # two deltas
        '{"role":"assistant","content":"\\u00e9"}',  # an escape: no shape from it
        "{}",
        "null",
    ]
)
MODEL = st.sampled_from(['"gpt-x"', '"gpt-x"', '"gpt-x"', '""', '"gpt-y"', "null"])


@st.composite
def chunks(draw: st.DrawFn) -> bytes:
    """One chunk after the first: mostly text chunks, sometimes another kind."""
    kind = draw(
        st.sampled_from(["text"] * 6 + ["spaced", "refusal", "tool", "reasoning", "empty", "comment"])
    )
    pad = draw(PAD)
    model = draw(MODEL) if draw(st.integers(0, 5)) == 0 else '"gpt-x"'
    text = draw(TEXT)
    if kind == "text":
        return _frame(_data('{"content":' + text + "}", model, pad=pad))
    if kind == "spaced":
        return _frame(_data('{"content": ' + text + "}", model, pad=pad))
    if kind == "refusal":
        return _frame(_data('{"content":' + text + ',"refusal":null}', model, pad=pad))
    if kind == "tool":
        call = (
            '{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}'
        )
        return _frame(_data(call, model, pad=pad))
    if kind == "reasoning":
        return _frame(_data('{"reasoning_content":' + text + "}", model, pad=pad))
    if kind == "empty":
        return _frame(_data('{"content":""}', model, pad=pad))
    return b": keep-alive\n\n"


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    first = _data(draw(ROLE), draw(MODEL), pad=draw(PAD))
    if draw(st.integers(0, 6)) == 0:
        first = first.replace('"choices":[{', '"x_groq":{},"choices":[{')
    body = _frame(first) + b"".join(draw(st.lists(chunks(), min_size=0, max_size=8)))
    end = draw(st.sampled_from(["usual", "usual", "no usage", "no done", "cut"]))
    if end == "cut":
        return body
    body += _frame(_data("{}", finish='"stop"'))
    if end != "no usage":
        body += _frame(
            _data("{}", usage=USAGE).replace(
                '"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":null}]', '"choices":[]'
            )
        )
    return body + (b"" if end == "no done" else DONE)


def _reads(body: bytes, how: str, cut: int) -> list[bytes]:
    if how == "whole":
        return [body]
    if how == "frames":
        return [f + b"\n\n" for f in body.split(b"\n\n") if f]
    cut = cut % (len(body) - 1) + 1
    return [body[:cut], body[cut:]]


def _decoding(view: View) -> EventPassthrough:
    """A relay that decodes every chunk: no token test (the facts a decoder gives, chunk by chunk)."""
    relay = EventPassthrough(pairing("openai_chat", "openai_chat"), view, _provider("openai_chat").usage)
    relay._token_event = None
    relay._token_data = None
    relay._token_run = None
    return relay


def _orjson_reads_all(body: bytes) -> bool:
    for frame in body.split(b"\n\n"):
        if frame.startswith(b"data: {"):
            try:
                orjson.loads(frame[6:])
            except orjson.JSONDecodeError:
                return False
    return True


@FUZZ
@given(streams(), st.sampled_from(["whole", "frames", "two"]), st.integers(0, 10_000), st.booleans())
def test_chat_streams_give_the_references_bytes_and_facts(
    body: bytes, how: str, cut: int, include_usage: bool
) -> None:
    reads = _reads(body, how, cut)
    _check(reads, include_usage)
    if not _orjson_reads_all(body):
        return
    view = View(model="m", include_usage=include_usage)
    fast = Passthrough(pairing("openai_chat", "openai_chat"), view, _provider("openai_chat").usage)
    full = _decoding(view)
    outs = []
    for relay in (fast, full):
        out = b"".join(relay.feed(read) for read in reads[:-1])
        out += relay.feed_last(reads[-1]) if relay is fast else relay.feed(reads[-1])
        if relay.unsettled:
            relay.settle()
        outs.append(out + _ended(relay))
    assert outs[0] == outs[1]
    assert _facts(fast) == _facts(full)
    assert fast.read_usage() == full.read_usage()
    assert fast.events == full.events


def _bench(text: bytes, pad: bool = False) -> bytes:
    """The benchmark's chat answer with ``text`` for its first token (JSON string body bytes)."""
    from bench.stream_pieces import streams as canned

    body = canned()["chat/completions.sse"].replace(b'"content":"Hello "', b'"content":"' + text + b'"')
    if pad:
        body = body.replace(b',"usage":null}\n\n', b',"usage":null,"obfuscation":"h8Xa1"}\n\n')
    return body


@pytest.mark.parametrize("pad", [False, True])
@pytest.mark.parametrize("text", ["Grüße ".encode(), "日本語 😀".encode(), b"Hello "])
def test_a_one_read_answer_in_utf8_ends_early_without_a_parse_of_its_text(
    text: bytes, pad: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Non-ASCII text takes ``feed_last``'s early end (it took ``feed`` before: ASCII only), and the text
    shape comes from the role chunk: no text chunk is tested by ``_is_text_data`` or parsed."""
    body = _bench(text, pad)
    calls: list[str] = []
    full = _openai_stream._is_text_data
    monkeypatch.setattr(_openai_stream, "_is_text_data", lambda d: calls.append(d) or full(d))
    relay = Passthrough(
        pairing("openai_chat", "openai_chat"), View(model="m"), _provider("openai_chat").usage
    )
    out = relay.feed_last(body)
    assert relay.unsettled and relay.saw_content and relay.events == 6  # the role chunk and five tokens
    assert not any('"content":"' in d for d in calls)  # (the finish chunk is tested: it has no content)
    relay.settle()
    assert out == body[: body.index(b'data: {"id":', body.index(b'"choices":[]') - 300)] + DONE
    assert (relay.read_usage().input_tokens, relay.read_usage().output_tokens) == (12, 5)
    monkeypatch.undo()
    assert _check([body], False) and _check([body], True)


def test_a_frame_a_read_answer_passes_its_text_frames_on_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider that writes each chunk as a read: each text read is one ``run`` of the learnt shape."""
    body = _bench("Grüße ".encode(), pad=True)
    calls: list[str] = []
    full = _openai_stream._is_text_data
    monkeypatch.setattr(_openai_stream, "_is_text_data", lambda d: calls.append(d) or full(d))
    reads = [f + b"\n\n" for f in body.split(b"\n\n") if f]
    relay = Passthrough(
        pairing("openai_chat", "openai_chat"), View(model="m"), _provider("openai_chat").usage
    )
    out = b"".join(relay.feed(read) for read in reads) + relay.finish()
    assert not any('"content":"' in d for d in calls)
    assert relay.complete and relay.events == 8 and len(out) < len(body)  # role, 5 tokens, finish, usage
    monkeypatch.undo()
    assert not _check(reads, False)


def _role(data: str) -> TextChunks:
    decoder = ChatStreamDecoder()
    decoder.feed(SSEEvent(None, data))
    return TextChunks(decoder)


@pytest.mark.parametrize(
    "first",
    [
        _data('{"role":"assistant","content":"","refusal":null}', model='"gpt-\\u0078"'),  # an escape
        _data('{"role": "assistant"}'),  # not its compact JSON
        _data('{"role":"assistant"},"delta":{"role":"assistant"}'),  # two deltas: the second counts
        _data(ROLE_DELTA, finish='"stop"'),
        _data(ROLE_DELTA, usage=USAGE),
        _data(ROLE_DELTA).replace('"choices":[', '"x_groq":{"usage":' + USAGE + '},"choices":['),
        _data(ROLE_DELTA).replace('"index":0', '"index":1'),
        _data(ROLE_DELTA).replace('"index":0,', '"index":0,"usage":' + USAGE + ","),
        _data(ROLE_DELTA).replace('"choices":[', '"delta":1,"choices":['),  # "delta" twice in the data
        _data(ROLE_DELTA).replace('"usage":null', '"error":{"message":"x"}'),
        _data("null"),
        _data(ROLE_DELTA).replace("}]", "},{}]"),  # two choices
    ],
)
def test_no_shape_is_spliced_from_a_first_chunk_the_argument_does_not_cover(first: str) -> None:
    assert _spliced_shape(first, json.loads(first), "gpt-x") is None


def test_the_spliced_shape_reads_the_role_chunks_text_chunks_and_no_other() -> None:
    texts = _role(_data(ROLE_DELTA, pad="Qz"))
    text = _data('{"content":"é \\u00e9"}', pad="h8X a")
    assert texts.data(text) and texts._head is not None and texts._spliced
    assert texts._tail.endswith('"usage":null') and texts._padded  # (the padding is no part of it)
    assert not texts.data(_data('{"content":"é"}', model='"gpt-y"', pad="Q"))  # another model: learnt anew
    assert not texts.data(_data('{"content":"tail\\"}', pad="Q"))  # the text's quote escaped: not JSON


def test_a_shape_learnt_from_a_model_the_decoder_no_longer_has_is_not_read() -> None:
    decoder = ChatStreamDecoder()
    decoder.feed(SSEEvent(None, _data(ROLE_DELTA, model='"a"')))
    texts = TextChunks(decoder)
    frame = _frame(_data('{"content":"x"}', model='"a"'))
    assert texts.run(frame, 0) == (1, len(frame))
    decoder.feed(SSEEvent(None, _data('{"content":"y"}', model='"b"')))
    assert texts.run(frame, 0) == (0, 0)  # decoding it would make the model "a" again


@pytest.mark.parametrize(
    ("body", "taken"),
    [
        (b"x", 1),
        ("é😀".encode(), 1),
        (b"a\\nb", 0),  # an escape: ``data`` judges it
        (b"a\x01", 0),  # a raw control character: not JSON
        (b'a"', 0),
        (b"", 0),
    ],
)
def test_run_takes_text_frames_with_plain_bodies_only(body: bytes, taken: int) -> None:
    texts = _role(_data(ROLE_DELTA))
    good = _frame(_data('{"content":"ok"}'))
    frame = _frame(_data('{"content":"X"}')).replace(b'"X"', b'"' + body + b'"')
    assert (
        texts.run(good + frame + good, 0)[0] == 1 + taken + taken
    )  # the run stops at a frame it does not take


def test_a_shape_spliced_after_the_model_changed_holds_for_the_first_chunks_model() -> None:
    """The spliced chunk names the first chunk's model: it leaves the decoder's as it is only while that is
    the decoder's (a chunk decoded before the shape is spliced may have changed it)."""
    decoder = ChatStreamDecoder()
    decoder.feed(SSEEvent(None, _data(ROLE_DELTA, model='"a"')))
    decoder.feed(SSEEvent(None, _data('{"content":"y"}', model='"b"')))
    texts = TextChunks(decoder)
    frame = _frame(_data('{"content":"x"}', model='"a"'))
    assert texts.run(frame, 0) == (0, 0)
    assert not texts.data(_data('{"content":"x"}', model='"a"'))
