"""The Responses passthrough's blank-event filter turns on at the first read that may need it (session 25,
``ClientSpec.blank_guard``, ``openai_responses.blank_end``): the reads before go as they came, every read from
it on goes through the filter, so no blank event reaches the openai SDK (s25 variants 18-retry-resp-vF,
18-blank-resp-vG, 18-evonly-resp-vH), whether or not that later read looks odd itself."""

from __future__ import annotations

import json

import pytest

from services.gateway.dialects import openai_responses as resp
from tests.unit.test_sse_framing25 import RESPONSES, _relayed, _sdk

# A block the openai SDK dispatches with data "" (an id, then a comment: no data) that ``blank_end`` does
# not flag on its own (it ends "}" LF LF, as a usual frame does): only a filter turned on before drops it
QUIET_ODD = b"id: 5\n: {}\n\n"


def test_a_usual_read_is_not_flagged_and_odd_ones_are() -> None:
    assert resp.blank_end(b"".join(RESPONSES)) is None
    for odd in (b"retry: 3000\n\n", b"id: 7\n\n", b"event: ping\n\n", b"data:\n\n", b"data:  \n\n", b"\n"):
        assert resp.blank_end(RESPONSES[0] + odd) is not None, odd
        assert resp.blank_end(RESPONSES[0] + odd + RESPONSES[1]) is not None, odd


@pytest.mark.parametrize("odd", [b"retry: 3000\n\n", b"data:\n\n", b"event: keepalive\n\n"])
def test_a_stream_turning_odd_midway_is_filtered_from_there_on(odd: bytes) -> None:
    reads = [RESPONSES[0], RESPONSES[1], odd, QUIET_ODD + RESPONSES[2]]
    out = _relayed("openai_responses", "openai_responses", reads)
    # the reads before the odd one went as they came
    assert out.startswith(RESPONSES[0] + RESPONSES[1])
    events = _sdk(out)
    for _, data in events:
        json.loads(data)  # an empty event: JSONDecodeError in the openai SDK
    assert [json.loads(d)["type"] for _, d in events] == [
        "response.created",
        "response.output_text.delta",
        "response.completed",
    ]


def test_an_ordinary_stream_goes_as_it_came() -> None:
    body = b"".join(RESPONSES)
    assert _relayed("openai_responses", "openai_responses", [body]) == body
    assert _relayed("openai_responses", "openai_responses", list(RESPONSES)) == body
