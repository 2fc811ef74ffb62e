"""``bodies.appended``: a body changed only by members added at its end is the client's bytes with them spliced in.

Issue 13 (session 29): a chat stream's ``stream_options.include_usage`` (``OpenAICompatProvider.prepare``) was a
serialisation of the whole body. Hypothesis over generated JSON texts (white space anywhere JSON allows it, names and
strings with escapes, repeated top-level names, nested ``model`` and ``stream_options`` members) and over the
changes ``Proxy._build`` makes (a member added, a value replaced, a member dropped, the model replaced by an equal
string): the result parses to the changed body, under a parser that keeps a repeated name's first value as under
one that keeps its last, and is the client's text with the members between its last value and its closing brace;
any other change is refused (None: the caller serialises the body).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.bodies import appended
from services.gateway.providers.openai_compat import OpenAIProvider

SPACE = st.text(alphabet=" \t\n\r", max_size=3)
NAMES = st.sampled_from(
    ["model", "messages", "stream", "stream_options", "include_usage", "n", "é", 'q"', "a\\b"]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(NAMES, kids, max_size=3)),
    max_leaves=8,
)


@st.composite
def spelled(draw: st.DrawFn, value: Any) -> str:
    """``value`` as JSON text, with white space drawn around every token and strings' characters escaped or not."""
    ws = lambda: draw(SPACE)  # noqa: E731
    if isinstance(value, dict):
        members = [f"{ws()}{draw(spelled(k))}{ws()}:{ws()}{draw(spelled(v))}{ws()}" for k, v in value.items()]
        return "{" + (",".join(members) if members else ws()) + "}"
    if isinstance(value, list):
        items = [f"{ws()}{draw(spelled(v))}{ws()}" for v in value]
        return "[" + (",".join(items) if items else ws()) + "]"
    if isinstance(value, str):
        if draw(st.booleans()):  # every character as a \u escape
            return (
                '"'
                + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else json.dumps(c)[1:-1] for c in value)
                + '"'
            )
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    return json.dumps(value)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, Any]]]:
    """A top-level object's text and its members as written (a name may repeat)."""
    members = draw(st.lists(st.tuples(NAMES, VALUES), max_size=6))
    if draw(st.booleans()):
        members.insert(0, ("model", "gpt-4o-mini"))
    text = draw(spelled({})) if not members else None
    if text is None:
        ws = lambda: draw(SPACE)  # noqa: E731
        parts = [f"{ws()}{draw(spelled(k))}{ws()}:{ws()}{draw(spelled(v))}{ws()}" for k, v in members]
        text = "{" + ",".join(parts) + "}"
    return (draw(SPACE) + text + draw(SPACE)).encode(), members


def first_wins(raw: bytes) -> Any:
    """``raw`` parsed by a parser that keeps a repeated name's first value (RFC 8259 §4 leaves it open)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            out.setdefault(k, v)
        return out

    return json.loads(raw, object_pairs_hook=pairs)


@settings(max_examples=200, deadline=None)
@given(
    bodies(), st.sampled_from(["add", "add two", "usage", "replace", "drop", "model copy", "none"]), st.data()
)
def test_only_added_members_are_spliced_into_the_clients_bytes(
    body: tuple[bytes, list[tuple[str, Any]]], change: str, data: st.DataObject
) -> None:
    raw, _ = body
    before = orjson.loads(raw)
    after = dict(before)
    added: dict[str, Any] = {}
    if change in ("add", "add two"):
        names = ["stream_options", "extra_x"] if change == "add two" else ["stream_options"]
        for name in names:
            if name not in after:
                after[name] = added[name] = data.draw(VALUES)
    elif change == "usage":  # the provider's own change, as ``Proxy._build`` asks it
        OpenAIProvider("openai", "http://127.0.0.1:1", None).prepare(after, True, "openai_chat")
        added = {k: v for k, v in after.items() if k not in before}
    elif change == "replace" and before:
        name = data.draw(st.sampled_from(sorted(before)))
        after[name] = {"changed": True}
    elif change == "drop" and before:
        del after[data.draw(st.sampled_from(sorted(before)))]
    elif change == "model copy" and isinstance(before.get("model"), str):
        after["model"] = "".join(list(before["model"]))  # an equal str, not the same object
        after["stream_options"] = added["stream_options"] = {"include_usage": True}
    got = appended(raw, before, after)
    if not added or list(after)[: len(before)] != list(before):
        assert got is None  # nothing added, or a member replaced or dropped: serialised by the caller
        return
    if any(after[k] is not before[k] and not isinstance(before[k], str) for k in before):
        assert got is None
        return
    assert got is not None
    assert orjson.loads(got) == after
    assert json.loads(got) == after  # (the standard library's parser: a repeated name's last value)
    for name, value in added.items():  # a parser that keeps the first value reads the added members the same
        assert first_wins(got)[name] == value
    stripped = raw.rstrip(b" \t\n\r")
    cut = len(stripped) - 1
    assert got.startswith(stripped[:cut]) and got.endswith(raw[cut:])  # the client's bytes around the members
    assert got[cut : len(got) - len(raw) + cut].lstrip(b",") == orjson.dumps(added)[1:-1]


def test_a_chat_stream_request_gets_its_usage_option_in_its_own_bytes() -> None:
    """The bench's kind of body, spelled with spaces and escapes, and nested members named like the added one."""
    raw = (
        b'{ "model" : "gpt-4o-mini",\n "messages": [{"role": "user", "content": "caf\\u00e9 \\"q\\"",'
        b' "model": "x", "stream_options": {"include_usage": false}}],\n "stream": true }\n'
    )
    before = orjson.loads(raw)
    after = dict(before)
    after["model"] = "gpt-4o-mini"
    assert OpenAIProvider("openai", "http://127.0.0.1:1", None).prepare(after, True, "openai_chat")
    got = appended(raw, before, after)
    assert (
        got == raw[:-2] + b',"stream_options":{"include_usage":true}}\n'
    )  # (after the white space: one cut)
    assert orjson.loads(got)["messages"][0]["stream_options"] == {"include_usage": False}


def test_a_clients_own_stream_options_are_not_spliced() -> None:
    """A client's ``stream_options`` without ``include_usage`` (repeated, too): merged by ``prepare`` in its place, so
    the body is serialised (None here), never a second member of that name."""
    for raw in (
        b'{"model":"gpt-4o-mini","stream_options":{},"stream":true}',
        b'{"model":"gpt-4o-mini","stream_options":{"include_usage":true},"stream_options":null}',
        b'{"model":"gpt-4o-mini","stream\\u005foptions":null}',
    ):
        before = orjson.loads(raw)
        after = dict(before)
        assert OpenAIProvider("openai", "http://127.0.0.1:1", None).prepare(after, True, "openai_chat")
        assert appended(raw, before, after) is None
