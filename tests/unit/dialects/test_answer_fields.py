"""A passed-through answer's fields read from its bytes (``_answer_fields.fields``) are the full parse's.

Over the fake provider's answers on each wire (every flavour, with and without cache reads and writes,
reasoning, tool calls, thinking) and over generated answers with adversarial content (text holding
``"usage":{``, nested members named ``usage`` or ``model``, duplicate keys, ``\\u``-spelled keys, any
spacing, non-ASCII, floats, exponents, huge counts, missing usage): whenever the reader answers, it
answers what ``orjson.loads`` does for every key its rule names, and the wire's usage reader bills the
same from it. The fake's plain answers must be read without the full parse (else the reader is useless).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import registry
from services.gateway.dialects._answer_fields import AnswerRule, fields
from services.gateway.dialects.formats import Wire
from tests.fake import anthropic_wire, openai_wire, responses_wire
from tests.fake.conversation import Reply, ToolCall, Usage
from tests.fake.frames import Meta

WIRE_NAMES: tuple[Wire, ...] = ("openai_chat", "anthropic", "openai_responses")
RULES: dict[Wire, AnswerRule] = {
    w: registry.WIRES[w].answer_fields.keywords["rule"]  # type: ignore[attr-defined]
    for w in WIRE_NAMES
}


def _agrees(wire: Wire, raw: bytes) -> dict[str, Any] | None:
    """``fields`` on ``raw`` against the full parse: the same members, the same usage billed."""
    got = registry.WIRES[wire].answer_fields(raw)
    if got is None:
        return None
    full = orjson.loads(raw)
    assert isinstance(full, dict)
    assert got == {k: full[k] for k in RULES[wire].keys if k in full}, raw
    spec = registry.WIRES[wire]
    assert spec.usage(got) == spec.usage(full), raw
    return got


USAGES = [
    Usage(prompt=12, cache_read=0, cache_write=0, output=5, reasoning=0),
    Usage(prompt=2000, cache_read=1500, cache_write=300, output=90, reasoning=40, cache_write_1h=100),
    Usage(prompt=7, cache_read=0, cache_write=7, output=1, reasoning=1),
]
REPLIES = [
    Reply(text="Hello from the fake"),
    Reply(text='text that says "usage":{"prompt_tokens":999} and "model":"x" \\ \n'),
    Reply(text="Grüße, 你好 🙂"),
    Reply(text="thinking first", thinking="let me think"),
    Reply(text=None, tool_call=ToolCall(id="call_1", name="ls", arguments={"path": "."})),
]


@pytest.mark.parametrize("flavour", ["openai", "openrouter", "xai"])
@pytest.mark.parametrize("usage", USAGES)
@pytest.mark.parametrize("reply", REPLIES)
def test_chat_fake_answers(flavour: str, usage: Usage, reply: Reply) -> None:
    meta = Meta(id="chatcmpl-1", model="gpt-4o-mini", created=1, flavour=flavour)
    raw = orjson.dumps(openai_wire.completion(meta, reply, usage))
    got = _agrees("openai_chat", raw)
    read_from_bytes = reply.tool_call is None and (reply.text or "").isascii()
    assert (got is not None) == read_from_bytes


@pytest.mark.parametrize("usage", USAGES)
@pytest.mark.parametrize("reply", REPLIES)
def test_anthropic_fake_answers(usage: Usage, reply: Reply) -> None:
    meta = Meta(id="msg_1", model="claude-haiku-4-5", created=1, flavour="anthropic")
    raw = orjson.dumps(anthropic_wire.message(meta, reply, usage))
    got = _agrees("anthropic", raw)
    assert (got is not None) == (reply.text or "").isascii() and (reply.thinking or "").isascii()


@pytest.mark.parametrize("usage", USAGES)
@pytest.mark.parametrize("reply", REPLIES)
def test_responses_fake_answers(usage: Usage, reply: Reply) -> None:
    meta = Meta(id="resp_1", model="gpt-4o-mini", created=1, flavour="openai")
    options = responses_wire.Options(encrypted_reasoning=False, echo={})
    raw = orjson.dumps(responses_wire.response(meta, reply, usage, options))
    got = _agrees("openai_responses", raw)
    read_from_bytes = reply.tool_call is None and (reply.text or "").isascii()
    assert (got is not None) == read_from_bytes


def test_answer_without_usage_is_parsed_whole() -> None:
    raw = b'{"id":"x","model":"m","choices":[{"message":{"content":"hi"}}]}'
    assert fields(raw, RULES["openai_chat"]) is None


def test_error_inside_a_200_is_seen() -> None:
    raw = b'{"error":{"message":"overloaded","type":"server_error"},"usage":{"prompt_tokens":1}}'
    got = fields(raw, RULES["openai_chat"])
    assert got is None or isinstance(got.get("error"), dict)
    raw = b'{"id":"x","model":"m","choices":[],"error":{"message":"no"},"usage":{"prompt_tokens":1}}'
    got = fields(raw, RULES["openai_chat"])
    assert got is not None and got["error"] == {"message": "no"}


def test_a_key_inside_a_string_is_not_a_member() -> None:
    # the last "usage" token follows an escaped quote: a key ``x"usage`` whose value is not the usage
    raw = b'{"model":"m","choices":[],"usage":{"prompt_tokens":1},"x\\"usage":{"prompt_tokens":999}}'
    got = fields(raw, RULES["openai_chat"])
    assert got is None or got["usage"] == {"prompt_tokens": 1}


def test_nested_usage_after_the_top_level_one() -> None:
    raw = b'{"model":"m","choices":[],"usage":{"prompt_tokens":1},"extra":{"usage":{"prompt_tokens":9}}}'
    assert fields(raw, RULES["openai_chat"]) is None
    raw = b'{"model":"m","choices":[],"extra":{"usage":{"prompt_tokens":9}}}'
    assert fields(raw, RULES["openai_chat"]) is None


# ---- generated answers ------------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from(
    [
        '"usage":{',
        '","usage":{"prompt_tokens":7}}',
        '"model":"evil"',
        "\\",
        '\\"',
        ",{[",
        "]}",
        "é",
        "\u2028",
        "usage",
        '{"error":{}}',
    ]
)
TEXT = st.lists(st.one_of(NASTY_TEXT, st.text(max_size=8)), max_size=4).map("".join)
COUNT = st.one_of(
    st.integers(min_value=-5, max_value=2**40),
    st.integers(min_value=2**63, max_value=2**64 + 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.none(),
    st.booleans(),
    TEXT,
)
USAGE_KEYS = st.sampled_from(
    [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cost",
        "cost_in_usd_ticks",
        "cached_tokens",
        "service_tier",
    ]
)
USAGE_VALUE = st.recursive(
    st.dictionaries(USAGE_KEYS, COUNT, max_size=6),
    lambda inner: st.dictionaries(
        st.one_of(USAGE_KEYS, st.sampled_from(["prompt_tokens_details", "completion_tokens_details"])),
        st.one_of(COUNT, inner),
        max_size=4,
    ),
    max_leaves=12,
)
NESTED = st.recursive(
    st.one_of(TEXT, COUNT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(["usage", "model", "error", "text"]), TEXT), inner, max_size=3
        ),
    ),
    max_leaves=10,
)
TOP_KEYS = st.sampled_from(
    ["id", "model", "usage", "service_tier", "error", "choices", "content", "output", "x"]
)


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    """A JSON object written member by member: keys in any order, duplicated, ``\\u``-spelled at times;
    values that are usage objects, nested content, text; separators with or without spaces."""
    members: list[tuple[str, Any]] = [("id", "chatcmpl-1")]
    if draw(st.booleans()):
        members.append(("model", draw(st.one_of(TEXT, st.just("gpt-4o-mini"), COUNT))))
    members.append(("choices", [{"message": {"content": draw(TEXT)}, "finish_reason": "stop"}]))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(TOP_KEYS)
        value = draw(st.one_of(USAGE_VALUE, NESTED)) if key != "error" else draw(st.one_of(st.none(), NESTED))
        members.insert(draw(st.integers(0, len(members))), (key, value))
    if draw(st.booleans()):
        members.append(("usage", draw(USAGE_VALUE)))
    comma, colon = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " :"), (",\n  ", ":")]))
    ascii_only = draw(st.booleans())
    parts = []
    for key, value in members:
        spelled = json.dumps(key, ensure_ascii=ascii_only)
        if draw(st.integers(0, 9)) == 0 and len(key) > 1:
            spelled = '"' + key[0] + "\\u%04x" % ord(key[1]) + key[2:] + '"'
        parts.append(spelled + colon + json.dumps(value, ensure_ascii=ascii_only))
    return ("{" + comma.join(parts) + "}").encode()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=answers(), wire=st.sampled_from(WIRE_NAMES))
def test_generated_answers_agree_with_the_full_parse(raw: bytes, wire: Wire) -> None:
    _agrees(wire, raw)


@settings(max_examples=300, deadline=None)
@given(usage=USAGE_VALUE, text=TEXT, tier=st.one_of(st.none(), TEXT))
def test_usual_shapes_are_read_from_bytes(usage: dict[str, Any], text: str, tier: str | None) -> None:
    """An answer of the usual shape (compact, ASCII, usage last) is read without the full parse unless
    its content repeats a wanted key as a token; and what is read is the full parse's."""
    body = {"id": "c", "model": "m", "choices": [{"message": {"content": text}}], "service_tier": tier}
    raw = json.dumps(body | {"usage": usage}, separators=(",", ":"), ensure_ascii=False).encode()
    got = _agrees("openai_chat", raw)
    ordinary = raw.isascii() and b"\\u" not in raw
    tokens = (b'"usage"', b'"model"', b'"service_tier"', b'"error"')
    if ordinary and all(raw.count(t) <= 1 for t in tokens):
        assert got is not None
