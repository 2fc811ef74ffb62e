"""The Responses streams the gateway sends, read by the openai SDK: its event models (strictly: no unknown
field, none lost), its stream accumulator (``ResponseStreamState`` behind ``client.responses.stream``) and
its raw event iterator (``client.responses.create(stream=True)``)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from dialect_helpers import openai_client
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
)
from responses_helpers import (
    CASE,
    CASES,
    CLIENT_MODEL,
    RESPONSE_ID,
    Case,
    assert_no_extra,
    deltas_of,
    events,
    strict_event,
)

from services.gateway.dialects.ir import Delta, TextDelta, ToolArgsDelta, ToolCallStart, UsageUpdate
from services.gateway.dialects.openai_responses import decode_compaction, decode_thinking, stream_error_frame
from shared.sse import SSEDecoder

RESPONSES_CASES = [c for c in CASES if c.target == "responses"]
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def _ids(case: Case) -> str:
    return case.id


@pytest.mark.parametrize("case", RESPONSES_CASES, ids=_ids)
def test_every_event_is_a_strict_sdk_event(case: Case) -> None:
    body = case.run()
    sse = SSEDecoder()
    frames = sse.feed(body) + sse.flush()
    data_frames = [f for f in frames if not f.comment]
    assert data_frames and all(f.event is not None for f in data_frames)
    for f in data_frames:
        payload = json.loads(f.data)
        assert f.event == payload["type"]
        strict_event(payload)


@pytest.mark.parametrize("case", RESPONSES_CASES, ids=_ids)
def test_event_sequence_is_well_formed(case: Case) -> None:
    check_well_formed(events(case.run()))


def check_well_formed(evs: list[dict[str, Any]], json_arguments: bool = True) -> None:
    """The contract Codex and the SDK rely on (conformance §4). ``json_arguments``: every call's arguments
    parse as a JSON object (true whenever the upstream's did)."""
    assert [e["sequence_number"] for e in evs] == list(range(len(evs)))
    kinds = [e["type"] for e in evs]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert sum(k in TERMINAL for k in kinds) == 1 and kinds[-1] in TERMINAL
    rid = evs[0]["response"]["id"]
    assert rid.startswith("resp_") and all(e["response"]["id"] == rid for e in evs if "response" in e)
    failed = kinds[-1] == "response.failed"
    added: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    streamed: dict[str, str] = {}  # item id → its argument / input deltas joined
    open_index: int | None = None
    for e in evs[2:-1]:
        if e["type"] == "keepalive":  # a silence's event (numbered, no content): anywhere after the opening
            continue
        if e["type"] == "response.output_item.added":
            assert open_index is None and e["output_index"] == len(added)  # one item at a time, in order
            added.append(e["item"])
            open_index = e["output_index"]
        elif e["type"] == "response.output_item.done":
            assert e["output_index"] == open_index == len(done)
            assert e["item"]["id"] == added[-1]["id"] and e["item"]["type"] == added[-1]["type"]
            done.append(e["item"])
            open_index = None
        else:
            assert e["output_index"] == open_index and e["item_id"] == added[-1]["id"]
            if e["type"] in (
                "response.function_call_arguments.delta",
                "response.custom_tool_call_input.delta",
            ):
                streamed[e["item_id"]] = streamed.get(e["item_id"], "") + e["delta"]
    assert len(done) == len(added) - (1 if failed and open_index is not None else 0)
    final = evs[-1]["response"]
    assert final["output"] == done
    if not failed:
        assert final["usage"] is not None
        assert final["status"] == ("incomplete" if kinds[-1] == "response.incomplete" else "completed")
    for item in done:
        if item["type"] == "function_call":
            assert item["arguments"] and streamed.get(item["id"]) == item["arguments"]
            if json_arguments:
                assert isinstance(json.loads(item["arguments"]), dict)
        elif item["type"] == "custom_tool_call":
            assert streamed.get(item["id"], "") == item["input"]


def _fed(deltas: list[Delta]) -> tuple[str, list[tuple[str, str, str]], Any]:
    """Text, tool calls (id, name, arguments) and the last usage carried by IR deltas."""
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    calls: dict[int, list[str]] = {}
    for d in deltas:
        if isinstance(d, ToolCallStart):
            calls[d.index] = [d.id, d.name, ""]
        elif isinstance(d, ToolArgsDelta):
            calls[d.index][2] += d.fragment
    usage = [d.usage for d in deltas if isinstance(d, UsageUpdate)]
    return text, [(c[0], c[1], c[2]) for c in calls.values()], usage[-1] if usage else None


COMPLETED = [
    c
    for c in RESPONSES_CASES
    if events(c.run())[-1]["type"] == "response.completed" and not c.view.compaction
]


@pytest.mark.parametrize("case", COMPLETED, ids=_ids)
def test_sdk_accumulator_rebuilds_what_was_fed(case: Case) -> None:
    client = openai_client(case.run())
    with client.responses.stream(model=CLIENT_MODEL, input="hi") as stream:
        streamed = [ev for ev in stream]
        final = stream.get_final_response()
    assert_no_extra(final.usage)
    assert isinstance(streamed[-1], ResponseCompletedEvent)
    text, calls, usage = _fed(deltas_of(case.fixture))
    assert final.id == RESPONSE_ID and final.model == CLIENT_MODEL and final.status == "completed"
    assert final.output_text == text
    got = []
    for item in final.output:
        if item.type == "function_call":
            got.append((item.call_id, item.name, json.loads(item.arguments)))
        elif item.type == "custom_tool_call":
            got.append((item.call_id, item.name, {"input": item.input}))
    assert got == [(i, n, json.loads(a) if a else {}) for i, n, a in calls]
    assert usage is not None and final.usage is not None
    assert final.usage.input_tokens == usage.prompt_tokens
    assert final.usage.input_tokens_details.cached_tokens == usage.cache_read_tokens
    assert final.usage.output_tokens == usage.output_tokens
    assert final.usage.output_tokens_details.reasoning_tokens == usage.reasoning_tokens
    assert final.usage.total_tokens == usage.prompt_tokens + usage.output_tokens


def test_sdk_reads_reasoning_text_and_tool_calls_from_an_anthropic_upstream() -> None:
    case = Case("anthropic_thinking_text_tools")
    client = openai_client(case.run())
    with client.responses.stream(model=CLIENT_MODEL, input="hi") as stream:
        final = stream.get_final_response()
    kinds = [item.type for item in final.output]
    assert kinds == ["reasoning", "message", "function_call", "function_call"]
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert [s.text for s in reasoning.summary] == ["The user wants the files listed, and the README read."]
    assert reasoning.encrypted_content is not None
    thinking = decode_thinking(reasoning.encrypted_content)
    assert (
        thinking is not None
        and thinking["thinking"] == "The user wants the files listed, and the README read."
    )
    assert thinking["signature"] == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
    assert final.output_text == "I'll list the files and read the README — ✓."
    calls = [(i.call_id, i.name, json.loads(i.arguments)) for i in final.output if i.type == "function_call"]
    assert calls == [
        (
            "toolu_01D7FLrfh4GYq7yT1ULFeyMV",
            "Bash",
            {"command": "ls -la", "description": "List files in the current directory"},
        ),
        ("toolu_01Hq8Wn3ZfXk2Lp9Rt4Vb6Mc", "Read", {"file_path": "/work/README.md"}),
    ]
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12 + 1532 + 18210, 187)
    assert final.usage.input_tokens_details.cached_tokens == 18210


def test_sdk_sees_the_custom_tool_call_with_the_raw_patch() -> None:
    client = openai_client(CASE["chat_apply_patch.to_responses"].run())
    with client.responses.stream(model=CLIENT_MODEL, input="hi") as stream:
        deltas = [ev.delta for ev in stream if ev.type == "response.custom_tool_call_input.delta"]
        final = stream.get_final_response()
    call = final.output[-1]
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.call_id == "call_82637413"
    patch = '*** Begin Patch\n*** Add File: hello.txt\n+Hello, wörld "quoted" \\ 😀\n*** End Patch'
    assert call.input == patch
    assert len(deltas) > 3 and "".join(deltas) == patch  # streamed as it came, not in one piece


@pytest.mark.parametrize(
    "case", [c for c in RESPONSES_CASES if "error" in c.fixture or "failed" in c.fixture], ids=_ids
)
def test_failure_reaches_the_sdk_as_response_failed(case: Case) -> None:
    client = openai_client(case.run())
    received = list(client.responses.create(model=CLIENT_MODEL, input="hi", stream=True))
    last = received[-1]
    assert isinstance(last, ResponseFailedEvent)
    assert last.response.status == "failed" and last.response.error is not None
    assert last.response.error.message
    assert not any(isinstance(e, ResponseCompletedEvent) for e in received)


def test_max_tokens_reaches_the_sdk_as_response_incomplete() -> None:
    client = openai_client(Case("chat_max_tokens").run())
    received = list(client.responses.create(model=CLIENT_MODEL, input="hi", stream=True))
    last = received[-1]
    assert isinstance(last, ResponseIncompleteEvent)
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert last.response.output_text == "Once upon a time, in a land far"
    assert last.response.usage is not None and last.response.usage.output_tokens == 16


def test_compaction_stream_has_exactly_one_compaction_item_and_no_message() -> None:
    case = CASE["openai_text_usage.compaction.to_responses"]
    evs = events(case.run())
    items = [e["item"] for e in evs if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in items] == ["compaction"]
    assert not any(e["type"].startswith("response.output_text") for e in evs)
    text, _, _ = _fed(deltas_of("openai_text_usage"))
    assert decode_compaction(items[0]["encrypted_content"]) == text
    client = openai_client(case.run())
    with client.responses.stream(model=CLIENT_MODEL, input="hi") as stream:
        final = stream.get_final_response()
    assert [i.type for i in final.output] == ["compaction"]


def test_stream_error_frame_makes_the_sdk_raise() -> None:
    head = Case("openai_text_usage").run().split(b"event: response.output_item.added")[0]
    client = openai_client(head + stream_error_frame(502, "upstream connection lost"))
    with pytest.raises(openai.APIError) as info:
        list(client.responses.create(model=CLIENT_MODEL, input="hi", stream=True))
    assert info.value.message == "upstream connection lost"


def test_stream_error_frame_is_a_response_failed_for_codex() -> None:
    frame = stream_error_frame(429, "slow down", sequence_number=7)
    sse = SSEDecoder()
    (ev,) = sse.feed(frame)
    payload = json.loads(ev.data)
    assert ev.event == payload["type"] == "response.failed" and payload["sequence_number"] == 7
    assert payload["response"]["status"] == "failed"
    assert payload["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}
    assert payload["error"]["type"] == "rate_limit_error"
    ResponseFailedEvent.model_validate(payload)


async def test_async_sdk_over_a_real_socket_frame_by_frame() -> None:
    """The encoder's frames written one by one by an aiohttp server, read by ``AsyncOpenAI`` over HTTP."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from services.gateway.dialects.openai_responses import ResponsesStreamEncoder

    case = CASE["anthropic_thinking_text_tools.to_responses"]
    deltas = deltas_of(case.fixture)
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(await request.json())
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        resp.force_close()  # no keep-alive: the server shuts down at once
        await resp.prepare(request)
        enc = ResponsesStreamEncoder(case.view)
        for d in deltas:
            if chunk := enc.feed(d):
                await resp.write(chunk)
        await resp.write(enc.finish())
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/responses", handler)
    async with TestServer(app) as server:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=str(server.make_url("/v1")), max_retries=0)
        async with client.responses.stream(model=CLIENT_MODEL, input="hi") as stream:
            kinds = [ev.type async for ev in stream]
            final = await stream.get_final_response()
        await client.close()
    assert seen[0]["stream"] is True and seen[0]["input"] == "hi"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    text, calls, usage = _fed(deltas)
    assert final.output_text == text and final.id.startswith("resp_")
    assert [(i.call_id, i.name, i.arguments) for i in final.output if i.type == "function_call"] == calls
    assert final.usage is not None and usage is not None and final.usage.output_tokens == usage.output_tokens
