"""Review of the translator's text lane over a chat upstream (``ChatStreamDecoder.text_of``): the lane gives
a client the general path's bytes and the relay its facts for streams whose chunks mix text with other
delta keys (a refusal, reasoning, a role), each chunk's other keys drawn from a few, so that a later chunk
often repeats an earlier one's shape with another text."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_text_lane import _chat_relays, _run

HEAD = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
START = (
    b"data: "
    + (HEAD + '"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}').encode()
)
END = (
    b"data: " + (HEAD + '"delta":{},"finish_reason":"stop"}],"usage":null}').encode() + b"\n\n"
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n'
    b"data: [DONE]\n\n"
)
# keys a delta may carry before and after its content (some OpenAI-compatible servers send "content":""
# beside a refusal or reasoning)
BEFORE = ("", '"refusal":"No.",', '"reasoning_content":"r",', '"refusal":null,')
AFTER = ("", ',"refusal":"No."', ',"refusal":""', ',"reasoning_content":""', ',"role":"assistant"')


def _chunk(delta: str) -> bytes:
    return (
        b"data: " + (HEAD + '"delta":{' + delta + '},"finish_reason":null}],"usage":null}').encode() + b"\n\n"
    )


@st.composite
def chunks(draw: Any) -> bytes:
    text = draw(st.sampled_from(["", "", "a", "b", 'q"', "é"]))
    before, after = draw(st.sampled_from(BEFORE)), draw(st.sampled_from(AFTER))
    return _chunk(before + '"content":' + orjson.dumps(text).decode() + after)


def test_a_refusal_beside_empty_content_teaches_no_text_shape() -> None:
    """A chunk whose one TextDelta is its refusal (its content "") is not the shape of a text chunk: a
    later chunk with content and that same refusal makes two TextDeltas, not one."""
    lane, general = _chat_relays("anthropic")
    refusal = _chunk('"content":"","refusal":"No."')
    both = _chunk('"content":"Y","refusal":"No."')
    reads = [START + b"\n\n" + refusal, both, END]
    said, _ = _run(lane, reads)
    assert said == _run(general, reads)[0]
    assert said.count(b'"text":"No."') == 2  # the second chunk's refusal reached the client too


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(chunks(), max_size=8), st.lists(st.integers(0, 4000), max_size=4))
def test_the_chat_lane_matches_the_general_path_beside_other_delta_keys(
    frames: list[bytes], cuts: list[int]
) -> None:
    body = START + b"\n\n" + b"".join(frames) + END
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    reads = [body[a:b] for a, b in pairwise(points)]
    for client in ("anthropic", "openai_responses"):
        lane, general = _chat_relays(client)
        assert _run(lane, reads) == _run(general, reads)
