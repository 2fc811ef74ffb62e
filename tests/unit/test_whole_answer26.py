"""A passed-through plain answer goes to its client before it is parsed when its bytes look whole
(``whole_answer.looks_whole``; issue 13, session 26): the parse, its usage and served model come with the ledger
event (``Attempt.read_usage``); every answer the proxy refuses (not JSON, not an object, a 200 carrying an
error) still fails the byte tests and is refused before a byte is sent."""

from __future__ import annotations

import json
import sys
from types import FrameType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.calls import Attempt, Call
from services.gateway.dialects import ir, registry
from services.gateway.dialects.view import passthrough_view
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Provider, Route
from services.gateway.proxy import Proxy
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Limits
from services.gateway.upstream import UpstreamClient
from services.gateway.whole_answer import looks_whole

PROVIDER = Provider("p", "http://127.0.0.1:9", None)
ANSWER = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "model": "gpt-4o-mini-2024-07-18",
    "output": [
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "text": 'a "error": {} in text'}],
        }
    ],
    "usage": {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 17,
    },
}


def _relay(raw: bytes) -> tuple[Any, Attempt, int]:
    """``Proxy._relay_json`` of ``raw`` as a Responses passthrough answer: its response, the attempt, and
    how many times ``orjson.loads`` was called before it returned."""
    upstream = UpstreamClient(None, first_byte_timeout_s=5, chunk_timeout_s=5)  # type: ignore[arg-type]
    proxy = Proxy(upstream, {}, ProviderHealth(BreakerConfig()), Limits(4, 5))
    endpoint = registry.ENDPOINTS["/v1/responses"]
    pair = registry.pairing("openai_responses", "openai_responses")
    call = Call(endpoint, "req_1", {}, 0.0, 0.0)
    att = Attempt(Route("p", "gpt-4o-mini"), pair.wire.name, pair.translated)
    call.attempts.append(att)
    loads = 0

    def seen(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal loads
        loads += event == "c_call" and arg is orjson.loads

    coro = proxy._relay_json(
        call, att, pair, passthrough_view("gpt-4o-mini", False, True, False), PROVIDER, raw
    )
    sys.setprofile(seen)
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value.response, att, loads
    finally:
        sys.setprofile(None)
    raise AssertionError("_relay_json suspended")


def test_a_whole_answer_goes_out_unparsed_and_the_ledger_reads_it_after() -> None:
    raw = orjson.dumps(ANSWER)
    response, att, loads = _relay(raw)
    assert loads == 0  # before session 26: parsed before the write (36k of 77k instructions)
    assert response.status == 200 and response.body == raw  # the bytes as they came
    assert att.answered and att.served_model is None and att.read_usage is not None
    usage = att.read_usage()  # with the event: the parse, the usage and the served model
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (8, 4, 5)
    assert att.served_model == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize(
    "raw",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"[]",
        b'{"error":{"message":"Internal error","type":"server_error"}}',
        b'{"error" :\n {"message":"Internal error"}}',
        b'{"type":"error","error":{"type":"api_error","message":"Internal error"}}',
        b'{"id":"resp_1","output":[{"type":"mess',  # cut short (a cut at an object's end: next test)
    ],
)
def test_a_refused_answer_is_still_refused_before_the_write(raw: bytes) -> None:
    assert not looks_whole(raw)
    with pytest.raises(UpstreamError) as refused:
        _relay(raw)
    assert (refused.value.status, refused.value.error_type) == (502, "bad_response")


def test_a_function_call_answer_is_parsed_first_and_mended() -> None:
    answer = {**ANSWER, "output": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": " "}]}
    response, att, loads = _relay(orjson.dumps(answer))
    assert loads == 1 and orjson.loads(response.body)["output"][0]["arguments"] == "{}"
    assert att.served_model == "gpt-4o-mini-2024-07-18"


def test_an_invalid_body_that_looks_whole_has_no_usage() -> None:
    # what the byte tests cannot see (``whole_answer``: relayed as a proxy that parses nothing would)
    for raw in (
        b'{"id":"resp_1","usage":{"input_tokens":1,}}',
        b'{"id":"resp_1","output":[{"type":"message"}',
    ):
        response, att, _ = _relay(raw)
        assert response.body == raw and att.read_usage is not None
        assert att.read_usage() == ir.Usage() and att.served_model is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["error", '"error":{']),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["error", "usage", "model", "output", "x", "error "]), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(value=_JSON, indent=st.sampled_from([None, 1, 2]), gap=st.sampled_from([":", " : ", ":\n", "\t:  "]))
def test_what_looks_whole_is_an_object_the_proxy_takes(value: Any, indent: int | None, gap: str) -> None:
    """Over JSON texts of every shape (written with any white space around the colons), an answer that passes
    the byte tests is one the parse would have taken: a JSON object without an ``error`` object."""
    text = json.dumps(value, indent=indent, separators=(",", gap)).encode()
    if looks_whole(text):
        assert isinstance(value, dict) and not isinstance(value.get("error"), dict)


def test_a_cut_reason_in_the_bytes_sends_the_answer_the_parsed_way() -> None:
    """Every CUT_FINISH reason as a JSON string is seen in the bytes (the cut check needs the parse); a finish
    reason that ends an answer whole, or a reason's word only inside text, is not."""
    from services.gateway.dialects._openai_stream import CUT_FINISH
    from services.gateway.dialects.openai_chat import may_cut_answer

    for reason in CUT_FINISH:
        assert may_cut_answer(b'{"choices":[{"finish_reason":"' + reason.encode() + b'"}]}')
    for reason in ("stop", "length", "tool_calls", "content_filter"):
        assert not may_cut_answer(b'{"choices":[{"finish_reason":"' + reason.encode() + b'"}]}')
    assert not may_cut_answer(b'{"choices":[{"message":{"content":"an abort of the network_error"}}]}')


def test_may_cut_answer_sees_a_reason_written_with_escapes() -> None:
    """review26: ``may_cut_answer`` False must mean ``cut_answer`` finds no cut; a reason spelled with ``\\u``
    escapes (RFC 8259 section 7) is the same string to the parser. Usual escapes (non-ASCII, Go's ``<``) stay out."""
    import orjson

    from services.gateway.dialects._openai_stream import CUT_FINISH
    from services.gateway.dialects.openai_chat import cut_answer, may_cut_answer

    for reason in CUT_FINISH:
        for at in range(len(reason)):
            for spelled in (b"\\u%04x" % ord(reason[at]), b"\\u%04X" % ord(reason[at])):
                raw = b'{"choices":[{"index":0,"finish_reason":"%b%b%b"}]}' % (
                    reason[:at].encode(),
                    spelled,
                    reason[at + 1 :].encode(),
                )
                assert cut_answer(orjson.loads(raw)) is not None
                assert may_cut_answer(raw), raw
    plain = (
        b'{"choices":[{"index":0,"message":{"content":"caf\\u00e9 \\u003c\\u003e"},"finish_reason":"stop"}]}'
    )
    assert cut_answer(orjson.loads(plain)) is None and not may_cut_answer(plain)
