"""The Responses stream state machines: the decoder on real-shaped OpenAI streams and odd ones, the
encoder's edge cases, decoder→encoder round trips, and a property: any delta sequence gives a well-formed
event sequence that the openai SDK's accumulator accepts."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from responses_helpers import (
    CLIENT_MODEL,
    RESPONSES_FIXTURES,
    deltas_of,
    encode_responses,
    events,
    strict_event,
)
from test_dialect_responses_sdk import check_well_formed

from services.gateway.dialects.ir import (
    Delta,
    Finish,
    KeepAlive,
    MessageStart,
    ReasoningDelta,
    SignatureDelta,
    StreamError,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from services.gateway.dialects.openai_responses import ResponsesStreamDecoder, ResponsesStreamEncoder
from services.gateway.dialects.view import View
from shared.sse import SSEEvent


def ev(obj: dict[str, Any]) -> SSEEvent:
    return SSEEvent(event=obj["type"], data=json.dumps(obj))


# ---- decoder -------------------------------------------------------------------------------------


def test_decoder_on_a_full_openai_stream() -> None:
    dec = ResponsesStreamDecoder()
    from dialect_helpers import decode
    from responses_helpers import raw_fixture

    deltas = decode([raw_fixture("openai_responses_reasoning_text_tools")], dec)
    usage = Usage(input_tokens=1172, output_tokens=412, cache_read_tokens=8704, reasoning_tokens=256)
    assert deltas == [
        MessageStart(id="resp_0a1b2c3d4e5f60718293a4b5c6d7e8f9", model="gpt-5.1-codex-2025-11-13"),
        ReasoningDelta(text="**Planning"),
        ReasoningDelta(text=" the listing**\n\nThe user wants"),
        ReasoningDelta(text=" the files listed."),
        ReasoningDelta(text="\n\n**Reading"),  # a new summary part is a new paragraph
        ReasoningDelta(text=" the README**\n\nThen read it — ✓."),
        TextDelta(text="I'll list"),
        TextDelta(text=" the files and read"),
        TextDelta(text=" the README — ✓."),
        ToolCallStart(index=0, id="call_Qm2Zp8TnW4rYb1LxK7v", name="exec_command"),
        ToolArgsDelta(index=0, fragment='{"cmd"'),
        ToolArgsDelta(index=0, fragment=':"ls -la",'),
        ToolArgsDelta(index=0, fragment='"workdir":"/work"}'),
        ToolCallStart(index=1, id="call_B4nT8sWc1dQe6uHjR2m", name="exec_command"),
        ToolArgsDelta(index=1, fragment='{"cmd":"cat README'),
        ToolArgsDelta(index=1, fragment='.md"}'),
        UsageUpdate(usage=usage),
        Finish(reason="tool_use"),
    ]
    assert dec.done and dec.usage == usage and dec.model == "gpt-5.1-codex-2025-11-13"


def test_decoder_custom_tool_call_becomes_input_arguments_at_done() -> None:
    deltas = deltas_of("openai_responses_apply_patch")
    patch = '*** Begin Patch\n*** Add File: hello.txt\n+Hello, wörld "quoted"\n*** End Patch'
    tools = [d for d in deltas if isinstance(d, ToolCallStart | ToolArgsDelta)]
    assert tools == [
        ToolCallStart(index=0, id="call_Vd3kR8pL2xQw9nZb", name="apply_patch"),
        ToolArgsDelta(index=0, fragment=orjson.dumps({"input": patch}).decode()),
    ]
    assert deltas[-1] == Finish(reason="tool_use")


def test_decoder_relays_whole_items_from_their_done_event() -> None:
    deltas = deltas_of("openai_responses_whole_items")
    assert deltas[1:4] == [
        TextDelta(text="Checking the weather."),
        ToolCallStart(index=0, id="call_Zz9Yy8Xx7Ww6Vv5U", name="get_weather"),
        ToolArgsDelta(index=0, fragment='{"location":"Tōkyō"}'),
    ]
    assert deltas[-1] == Finish(reason="tool_use")


def test_decoder_incomplete_failed_and_error_events() -> None:
    deltas = deltas_of("openai_responses_incomplete")
    assert deltas[-2:] == [
        UsageUpdate(usage=Usage(input_tokens=42, output_tokens=16)),
        Finish(reason="max_tokens"),
    ]
    failed = deltas_of("openai_responses_failed")
    assert isinstance(failed[-1], StreamError) and failed[-1].status == 500
    assert failed[-1].message.startswith("The model produced invalid content")
    dec = ResponsesStreamDecoder()
    from dialect_helpers import decode
    from responses_helpers import raw_fixture

    deltas = decode([raw_fixture("openai_responses_error_event")], dec)
    assert deltas[1] == KeepAlive()
    assert deltas[-1] == StreamError(
        status=429,
        type="rate_limit_error",
        message="Rate limit reached for gpt-5.1-codex on tokens per min (TPM). Please try again in 1.2s.",
    )
    assert not dec.done  # an error event is not a terminal response event


def test_decoder_tool_index_is_not_the_output_index() -> None:
    dec = ResponsesStreamDecoder()
    out: list[Delta] = []
    out += dec.feed(ev({"type": "response.created", "response": {"id": "resp_1", "model": "m"}}))
    for i, idx in enumerate((5, 9)):
        item = {"type": "function_call", "id": f"fc_{i}", "call_id": f"c{i}", "name": "f", "arguments": ""}
        out += dec.feed(ev({"type": "response.output_item.added", "output_index": idx, "item": item}))
        out += dec.feed(
            ev({"type": "response.function_call_arguments.delta", "output_index": idx, "delta": "{}"})
        )
        out += dec.feed(
            ev({"type": "response.function_call_arguments.done", "output_index": idx, "arguments": "{}"})
        )
        out += dec.feed(
            ev(
                {
                    "type": "response.output_item.done",
                    "output_index": idx,
                    "item": {**item, "arguments": "{}"},
                }
            )
        )
    assert [d for d in out if isinstance(d, ToolCallStart | ToolArgsDelta)] == [
        ToolCallStart(index=0, id="c0", name="f"),
        ToolArgsDelta(index=0, fragment="{}"),
        ToolCallStart(index=1, id="c1", name="f"),
        ToolArgsDelta(index=1, fragment="{}"),
    ]


def test_decoder_arguments_only_in_the_arguments_done_event() -> None:
    dec = ResponsesStreamDecoder()
    item = {"type": "function_call", "id": "fc_0", "call_id": "c0", "name": "f", "arguments": ""}
    dec.feed(ev({"type": "response.output_item.added", "output_index": 0, "item": item}))
    assert dec.feed(
        ev({"type": "response.function_call_arguments.done", "output_index": 0, "arguments": '{"a":1}'})
    ) == [ToolArgsDelta(index=0, fragment='{"a":1}')]
    assert (
        dec.feed(
            ev(
                {
                    "type": "response.output_item.done",
                    "output_index": 0,
                    "item": {**item, "arguments": '{"a":1}'},
                }
            )
        )
        == []
    )


def test_decoder_garbage_and_events_after_the_end() -> None:
    dec = ResponsesStreamDecoder()
    assert dec.feed(SSEEvent(event=None, data="{not json")) == [
        StreamError(status=502, type="api_error", message="malformed event from upstream")
    ]
    assert dec.feed(ev({"type": "response.output_text.delta", "delta": "late"})) == []
    dec = ResponsesStreamDecoder()
    dec.feed(ev({"type": "response.completed", "response": {"id": "r", "status": "completed"}}))
    assert dec.done and dec.feed(ev({"type": "response.output_text.delta", "delta": "late"})) == []
    assert dec.feed(SSEEvent(event=None, data="", comment=True)) == [KeepAlive()]
    dec = ResponsesStreamDecoder()  # data-only frames (no event: line) and numeric error codes
    out = dec.feed(SSEEvent(event=None, data='{"type":"error","error":{"code":503,"message":"down"}}'))
    assert out == [StreamError(status=503, type="overloaded_error", message="down")]


# ---- encoder edge cases ----------------------------------------------------------------------------


def test_encoder_empty_answer_and_keepalives() -> None:
    out = encode_responses([KeepAlive(), MessageStart(id="x", model="m"), Finish(reason="end_turn")])
    assert out.startswith(
        b"event: response.created\n"
    )  # a silence first opens the response (s27; was a comment)
    evs = events(out)
    assert [e["type"] for e in evs] == ["response.created", "response.in_progress", "response.completed"]
    assert evs[-1]["response"]["output"] == [] and evs[-1]["response"]["usage"]["total_tokens"] == 0


def test_encoder_tool_call_without_arguments_gets_an_empty_object() -> None:
    evs = events(encode_responses([ToolCallStart(index=0, id="c", name="f"), Finish(reason="tool_use")]))
    deltas = [e["delta"] for e in evs if e["type"] == "response.function_call_arguments.delta"]
    done = [e["item"] for e in evs if e["type"] == "response.output_item.done"]
    assert deltas == ["{}"] and done[0]["arguments"] == "{}"


def test_encoder_nothing_after_failure_and_open_item_not_done() -> None:
    enc = ResponsesStreamEncoder(View(model=CLIENT_MODEL), response_id="resp_x")
    body = enc.feed(ToolCallStart(index=0, id="c", name="f")) + enc.feed(
        ToolArgsDelta(index=0, fragment='{"cmd":')
    )
    body += enc.feed(StreamError(status=429, type="rate_limit_error", message="slow"))
    assert enc.feed(TextDelta(text="late")) == b"" and enc.finish() == b""
    evs = events(body)
    assert evs[-1]["type"] == "response.failed"
    assert evs[-1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow"}
    assert not any(
        e["type"] == "response.output_item.done" for e in evs
    )  # a cut-off call is never handed over


def test_encoder_second_thinking_block_is_a_second_reasoning_item() -> None:
    deltas: list[Delta] = [
        ReasoningDelta(text="one"),
        SignatureDelta(signature="sig1"),
        SignatureDelta(signature="sig2"),  # a block with no text (display omitted)
        ReasoningDelta(text="three"),
        TextDelta(text="hi"),
    ]
    evs = events(encode_responses(deltas))
    items = [e["item"] for e in evs if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in items] == ["reasoning", "reasoning", "reasoning", "message"]
    from services.gateway.dialects.openai_responses import decode_thinking

    assert decode_thinking(items[0]["encrypted_content"]) == {
        "type": "thinking",
        "thinking": "one",
        "signature": "sig1",
    }
    assert items[1]["summary"] == [] and decode_thinking(items[1]["encrypted_content"]) == {
        "type": "thinking",
        "thinking": "",
        "signature": "sig2",
    }
    assert "encrypted_content" not in items[2]


def test_encoder_custom_input_falls_back_to_one_delta_when_not_input_first() -> None:
    view = View(model=CLIENT_MODEL, custom_tools=frozenset({"apply_patch"}))
    deltas: list[Delta] = [
        ToolCallStart(index=0, id="c", name="apply_patch"),
        ToolArgsDelta(index=0, fragment='{"patch": "a\\nb'),
        ToolArgsDelta(index=0, fragment='"}'),
    ]
    evs = events(encode_responses(deltas, view))
    assert [e["delta"] for e in evs if e["type"] == "response.custom_tool_call_input.delta"] == ["a\nb"]
    assert evs[-1]["response"]["output"][0]["input"] == "a\nb"


# ---- round trip ------------------------------------------------------------------------------------


def _summary(deltas: list[Delta]) -> tuple[Any, ...]:
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    reasoning = "".join(d.text for d in deltas if isinstance(d, ReasoningDelta))
    calls: dict[int, list[str]] = {}
    for d in deltas:
        if isinstance(d, ToolCallStart):
            calls[d.index] = [d.id, d.name, ""]
        elif isinstance(d, ToolArgsDelta):
            calls[d.index][2] += d.fragment
    usage = [d.usage for d in deltas if isinstance(d, UsageUpdate)]
    ends = [d for d in deltas if isinstance(d, Finish | StreamError)]
    end = ends[-1] if ends else None
    end_key = (end.reason,) if isinstance(end, Finish) else (end.status, end.message) if end else None
    return text, reasoning, [tuple(c) for c in calls.values()], usage[-1] if usage else None, end_key


def test_round_trip_decoder_encoder_decoder_preserves_the_answer() -> None:
    from dialect_helpers import decode

    for fixture in RESPONSES_FIXTURES:
        first = deltas_of(fixture)
        view = View(
            model=CLIENT_MODEL,
            custom_tools=frozenset({"apply_patch"}) if "apply_patch" in fixture else frozenset(),
        )
        again = decode([encode_responses(first, view)], ResponsesStreamDecoder())
        assert _summary(again) == _summary(first), fixture
        if (
            "apply_patch" in fixture
        ):  # the custom call went out as a custom_tool_call and came back as input JSON
            assert '"input"' in _summary(again)[2][0][2]


# ---- property: any delta sequence → a well-formed stream the SDK accepts ------------------------------

NAMES = ["exec_command", "apply_patch", "renamed_upstream", "ns__tool"]
VIEWS = st.builds(
    View,
    model=st.just(CLIENT_MODEL),
    reasoning=st.booleans(),
    compaction=st.booleans(),
    tool_names=st.just({"renamed_upstream": "Client.Tool", "ns__tool": "multi_agent_v1:spawn"}),
    custom_tools=st.sampled_from([frozenset(), frozenset({"apply_patch"})]),
)
TEXT = st.text(min_size=0, max_size=12)
DELTA = st.one_of(
    st.builds(TextDelta, text=TEXT),
    st.builds(ReasoningDelta, text=TEXT),
    st.builds(SignatureDelta, signature=st.sampled_from(["", "sig", "ekai-gateway-synthetic-signature"])),
    st.builds(
        ToolCallStart, index=st.integers(0, 3), id=st.sampled_from(["c1", "c2"]), name=st.sampled_from(NAMES)
    ),
    st.builds(
        ToolArgsDelta,
        index=st.integers(0, 3),
        fragment=st.sampled_from(['{"input": "a\\n', 'b"}', '{"cmd":"ls"}', "{", "}", '"x\\u00e9', ""]),
    ),
    st.builds(
        UsageUpdate, usage=st.builds(Usage, input_tokens=st.integers(0, 99), output_tokens=st.integers(0, 99))
    ),
    st.just(KeepAlive()),
    st.builds(Finish, reason=st.sampled_from(["end_turn", "max_tokens", "tool_use", "refusal"])),
    st.builds(
        StreamError,
        status=st.sampled_from([429, 500, 529]),
        type=st.just("api_error"),
        message=st.just("boom"),
    ),
    st.builds(MessageStart, id=st.sampled_from(["resp_up", "msg_up", ""]), model=st.just("m")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(view=VIEWS, deltas=st.lists(DELTA, max_size=25))
# a custom tool's arguments cut off inside their string: the final input is what was streamed
@example(
    view=View(model="m", custom_tools=frozenset({"apply_patch"})),
    deltas=[
        ToolCallStart(index=3, id="c1", name="apply_patch"),
        ToolArgsDelta(index=3, fragment='{"input": "a\\n'),
    ],
)
def test_any_delta_sequence_gives_a_well_formed_stream(view: View, deltas: list[Delta]) -> None:
    enc = ResponsesStreamEncoder(view)
    body = b"".join(enc.feed(d) for d in deltas) + enc.finish()
    assert enc.finish() == b"" and enc.feed(TextDelta(text="late")) == b""
    evs = events(body)
    check_well_formed(evs, json_arguments=False)
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for payload in evs:
        strict_event(payload)
        # a keepalive as the SDK's stream makes it (``construct_type``: no model of its own), which its
        # accumulator must pass over
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=payload))
    kinds = [e["type"] for e in evs]
    if kinds[-1] == "response.completed":
        final = state._completed_response
        assert final is not None and final.status == "completed"
    items = evs[-1]["response"]["output"]
    if view.compaction and kinds[-1] != "response.failed":
        assert [i["type"] for i in items] == ["compaction"]
    if not view.reasoning or view.compaction:
        assert all(i["type"] != "reasoning" for i in items)
    for item in items:
        if item["type"] in ("function_call", "custom_tool_call"):
            assert item["name"] in ("exec_command", "apply_patch", "Client.Tool", "spawn")
            assert (item["type"] == "custom_tool_call") == (
                item["name"] == "apply_patch" and "apply_patch" in view.custom_tools
            )
            assert item.get("namespace") == ("multi_agent_v1" if item["name"] == "spawn" else None)


# ---- the custom tool input decoder -----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=st.text(), ascii_only=st.booleans(), data=st.data())
def test_input_extractor_streams_any_string_at_any_cuts(
    text: str, ascii_only: bool, data: st.DataObject
) -> None:
    from services.gateway.dialects._responses_stream import InputExtractor

    raw = json.dumps({"input": text}, ensure_ascii=ascii_only)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(raw) - 1, 1)), max_size=12)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    ext = InputExtractor()
    streamed = "".join(ext.feed(p) for p in pieces)
    rest, whole = ext.close()
    assert whole == text and streamed == text and rest == ""  # all of it streamed, none held to the end


def test_compaction_cut_by_max_tokens_still_completes() -> None:
    view = View(model=CLIENT_MODEL, compaction=True)
    evs = events(encode_responses([TextDelta(text="Summary so f"), Finish(reason="max_tokens")], view))
    assert evs[-1]["type"] == "response.completed"
    (item,) = evs[-1]["response"]["output"]
    from services.gateway.dialects.openai_responses import decode_compaction

    assert item["type"] == "compaction" and decode_compaction(item["encrypted_content"]) == "Summary so f"
