"""``MessagesStreamEncoder.finish``'s usage object from a template (session 32, issue 13: ``_usage_json``): the
bytes of ``orjson.dumps(usage_to_anthropic(usage))`` for any usage, the usual one (no cache writes, searches or
reasoning) written without a dict, any other (or one whose counts are not exactly ints) the general way."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import _usage_json
from services.gateway.dialects._anthropic_wire import usage_to_anthropic
from services.gateway.dialects.ir import Usage

NUMBERS = st.integers(-3, 10**19) | st.integers(0, 3) | st.booleans() | st.floats(0, 5, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS)
def test_the_finish_usage_template_is_usage_to_anthropics_bytes(
    inputs: Any, outputs: Any, reads: Any, writes: Any, writes_1h: Any, searches: Any, reasoning: Any
) -> None:
    """``_usage_json`` is ``orjson.dumps`` of ``usage_to_anthropic``'s object, for any counts (a bool or a float
    where an int belongs included)."""
    usage = Usage(
        input_tokens=inputs,
        output_tokens=outputs,
        cache_read_tokens=reads,
        cache_write_tokens=writes,
        cache_write_1h_tokens=writes_1h,
        web_search_requests=searches,
        reasoning_tokens=reasoning,
    )
    assert _usage_json(usage) == orjson.dumps(usage_to_anthropic(usage))


def test_the_usual_usage_is_written_from_the_template() -> None:
    """The usual usage's bytes (as OpenAI's usage chunk gives it to an Anthropic client)."""
    usage = Usage(input_tokens=8, output_tokens=5, cache_read_tokens=4)
    assert _usage_json(usage) == (
        b'{"input_tokens":8,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":5}'
    )
