"""``_TextShape.learn`` without its probe parse (session 23): a shape it learns from a chat chunk is sound,
the chunk with any other text body being the same object but for its delta's ``content``, whatever else
the chunk holds (``"content"`` as another key, inside another string, escaped, spaced, duplicated; escapes
anywhere); and it still learns the usual chunk's shape (OpenAI's compact JSON, with or without padding).

The oracle is what the probe checked until session 22: ``orjson.loads`` of the chunk with another text
equals the parse with that text in the delta."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._openai_stream import _TextShape

MODEL = "gpt-4o-mini"
HEAD = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
USUAL_TAIL = '},"logprobs":null,"finish_reason":null}],"usage":null'
# other texts put in the shape's place: plain, escaped, unicode
BODIES = ["probe", "x", 'a\\"b', "\\\\", "\\u00e9t\\u00e9", "é\u2028", "\\n", " "]


def _with_content(obj: dict[str, Any], text: str) -> dict[str, Any]:
    other = copy.deepcopy(obj)
    other["choices"][0]["delta"]["content"] = text
    return other


def _sound(data: str, obj: dict[str, Any], shape: _TextShape) -> None:
    """Every other body in the shape's place makes the chunk's object with that text in the delta."""
    start = len(shape.head)
    end = data.index(shape.tail, start) if shape.padded else len(data) - len(shape.tail)
    if shape.padded:
        end = data.find(shape.tail, start)
    for body in BODIES:
        text = orjson.loads('"' + body + '"')
        got = orjson.loads(data[:start] + body + data[end:])
        assert got == _with_content(obj, text), (data, body)


def _learnt(data: str) -> _TextShape | None:
    obj = orjson.loads(data)
    shape = _TextShape.learn(data, obj, MODEL)
    assert obj == orjson.loads(data)  # (learn leaves the parse as it was)
    if shape is not None:
        _sound(data, obj, shape)
    return shape


def test_the_usual_chunk_is_learnt() -> None:
    plain = HEAD + '"choices":[{"index":0,"delta":{"content":"Hello "' + USUAL_TAIL + "}"
    padded = HEAD + '"choices":[{"index":0,"delta":{"content":"Hello "' + USUAL_TAIL + ',"obfuscation":"h8X"}'
    escaped = HEAD + '"choices":[{"index":0,"delta":{"content":"a\\"b\\n"' + USUAL_TAIL + "}"
    for data, padded_ in ((plain, False), (padded, True), (escaped, False)):
        shape = _learnt(data)
        assert shape is not None and shape.padded is padded_
        assert shape.head.endswith('"content":"') and shape.tail.startswith('"}')


FOOLING = [
    # a key that holds ``"content":"`` (escaped quotes), the delta's key spelt with an escape
    HEAD + '"a\\",\\"content":"hi","choices":[{"index":0,"delta":{"\\u0063ontent":"hi"' + USUAL_TAIL + "}",
    # the same, the delta first: the escapes before the text
    '{"choices":[{"index":0,"delta":{"\\u0063ontent":"hi"' + USUAL_TAIL + ',"a\\",\\"content":"hi"}',
    # the delta's content spaced, another object's compact
    '{"x":{"content":"hi"},"choices":[{"index":0,"delta":{"content": "hi"' + USUAL_TAIL + "}",
    # duplicated in the delta: the last one wins
    '{"choices":[{"index":0,"delta":{"content":"hi","content" :"yo"' + USUAL_TAIL + "}",
    # a value that reads ``content`` before the key
    '{"role":"content","choices":[{"index":0,"delta":{"content":"hi"' + USUAL_TAIL + "}",
    # an escape in the tail
    '{"choices":[{"index":0,"delta":{"content":"hi"},"logprobs":"\\u0022","finish_reason":null}]}',
]


@pytest.mark.parametrize("data", FOOLING)
def test_what_needs_a_parse_is_not_learnt(data: str) -> None:
    assert _learnt(data) is None


_KEYS = st.sampled_from(['"content"', '"\\u0063ontent"', '"a\\",\\"content"', '"x"', '"content" ', '"role"'])
_VALUES = st.sampled_from(
    ['"hi"', '"content"', '"a\\"content\\":\\"b"', "null", "1", '{"content":"hi"}', '""']
)
_TEXTS = st.sampled_from(['"hi"', '"a\\"b"', '"\\\\"', '"é"', '"content"', '"\\"content\\":\\""'])


@st.composite
def _chunks(draw: st.DrawFn) -> str:
    """A chat chunk's JSON text with ``"content"`` keys and strings in odd places around the delta's."""
    top = [f"{draw(_KEYS)}:{draw(_VALUES)}" for _ in range(draw(st.integers(0, 2)))]
    inner = [f"{draw(_KEYS)}:{draw(_VALUES)}" for _ in range(draw(st.integers(0, 2)))]
    key = draw(st.sampled_from(['"content":', '"content" :', '"content": ', '"\\u0063ontent":']))
    delta = inner + [key + draw(_TEXTS)]
    if draw(st.booleans()):
        delta.reverse()
    after = draw(st.sampled_from(["", ',"logprobs":null', ',"logprobs":"\\u0022"', ',"x":"content"']))
    choices = '"choices":[{"index":0,"delta":{' + ",".join(delta) + "}" + after + ',"finish_reason":null}]'
    pad = draw(st.sampled_from(["", ',"obfuscation":"h8X"', ',"obfuscation":"a\\"b"']))
    parts = [*top, choices]
    if draw(st.booleans()):
        parts.reverse()
    return "{" + ",".join(parts) + pad + "}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chunks())
@example(FOOLING[0])
def test_a_shape_learnt_is_sound(data: str) -> None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    choices = obj.get("choices")
    delta = choices[0].get("delta") if type(choices) is list and choices else None
    if type(delta) is not dict or type(delta.get("content")) is not str or not delta["content"]:
        return  # ``feed`` would not have made one TextDelta of it: ``learn`` is never asked
    _learnt(data)
