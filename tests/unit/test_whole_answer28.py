"""Session 28: ``whole_answer.looks_whole`` tells the compact ``"error":null`` member (every Responses answer has
it) by one slice, without the general look past white space and the colon, and answers as session 26's test did
over generated bodies: ``error`` members of every spelling and value (null, objects, strings that say
``error``, gaps of white space, nested, repeated, cut short), among other members."""

from __future__ import annotations

import sys
from types import FrameType

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.upstream import fake_answers
from services.gateway.whole_answer import looks_whole

_ERROR_KEY = b'"error"'


def _session26(raw: bytes) -> bool:
    """``looks_whole`` as session 26 wrote it: the reference."""
    if raw[:1] != b"{" or not raw.endswith((b"}", b"}\n")):
        return False
    at = raw.find(_ERROR_KEY)
    while at != -1:
        after = raw[at + 7 : at + 7 + 16].lstrip(b" \t\r\n:")
        if after[:1] == b"{" or not after:
            return False
        at = raw.find(_ERROR_KEY, at + 7)
    return True


PIECES = [
    b'"error":null',
    b'"error": null',
    b'"error" :null',
    b'"error":nullx',
    b'"error":{"message":"x"}',
    b'"error": {}',
    b'"error":\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n{}',
    b'"error":"error"',
    b'"error":"error":{}',
    b'"error":null"error":{}',
    b'"error":nu',
    b'"error"',
    b'"x":"\\"error\\":{}"',
    b'"a":1',
    b'"output":[{"type":"message"}]',
    b'"nested":{"error":null}',
    b'"nested":{"error":{"code":1}}',
    b",",
    b" ",
    b"\n",
]


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=8),
    st.sampled_from([b"{", b"", b" {"]),
    st.sampled_from([b"}", b"}\n", b"", b"}}"]),
)
def test_looks_whole_answers_as_session_26(pieces: list[bytes], head: bytes, tail: bytes) -> None:
    raw = head + b"".join(pieces) + tail
    assert looks_whole(raw) == _session26(raw)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=60).map(lambda b: b"{" + b + b"}"))
def test_looks_whole_answers_as_session_26_on_any_bytes(raw: bytes) -> None:
    assert looks_whole(raw) == _session26(raw)


def test_the_responses_answer_needs_no_general_look() -> None:
    """The canned Responses answer (``"error":null``, no other ``error``): passed with no ``lstrip`` (main: one)."""
    raw = fake_answers()["responses.json"]
    assert b'"error":null' in raw
    called: list[str] = []

    def prof(frame: FrameType, event: str, arg: object) -> None:
        if event == "c_call":
            called.append(getattr(arg, "__name__", ""))

    sys.setprofile(prof)
    try:
        passed = looks_whole(raw)
    finally:
        sys.setprofile(None)
    assert passed and "lstrip" not in called
