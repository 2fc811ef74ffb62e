"""Gemini's streamed tool calls on its OpenAI-compatible endpoint, to translated clients (s21 variants 01-noindex;
bugcase 01's kind: a tool call's arguments as the client joins them).

Gemini sends each call whole (id, name, complete arguments) and without ``tool_calls[].index``, and has been seen
to send a call again in the finish chunk: same id, same arguments. OpenAI's chunk object joins a call's argument
fragments by index; a call repeated under its own id is the same call, so a translated client must get its
arguments once: before the fix the repeat was appended, and a no-parameter call read ``"{}{}"`` (the anthropic SDK
raises on the tool_use input; a Responses client's ``arguments`` no longer parse). Parallel calls without index
stay separate calls. Real processes: recorder and gateway; the scripted upstream stands for Google's endpoint (a
catalog provider); the official anthropic and openai SDKs are the clients.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog_gw
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

GEMINI = "/gemini/v1/chat/completions"
MODEL = "gemini-2.5-flash"
CATALOG = """
[[providers]]
name = "gemini"
base_url = "{url}/gemini/v1"
models = ["gemini-2.5-flash"]
price = {{ input = 0.3, output = 2.5 }}
"""
NO_PARAMS = {"type": "object", "properties": {}}
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("gemini-stream-tools", CATALOG)


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    obj: dict[str, Any] = {"id": "g", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    obj["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage is not None:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


USAGE = {"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40}


def _repeated(call: dict[str, Any]) -> list[bytes | Any]:
    """A whole call without index, then the finish chunk that carries it again."""
    first = _chunk({"role": "assistant", "tool_calls": [call]})
    return [first, _chunk({"tool_calls": [call]}, "tool_calls", USAGE), b"data: [DONE]\n\n"]


@pytest.mark.parametrize(
    ("name", "arguments", "schema", "want"),
    [("snooze", "{}", NO_PARAMS, {}), ("weather", '{"city":"Rome"}', CITY, {"city": "Rome"})],
)
def test_a_call_gemini_repeats_in_its_finish_chunk_reaches_claude_code_once(
    gw: Stack, up: ScriptedUpstream, name: str, arguments: str, schema: dict[str, Any], want: dict[str, Any]
) -> None:
    up.script(GEMINI, sse(_repeated(_call("function-call-9", name, arguments))))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tool: Any = {"name": name, "input_schema": schema}
    joined = ""  # the input_json_delta fragments, joined as Claude Code joins them (then JSON.parse)
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=[tool], messages=[{"role": "user", "content": "go"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                joined += event.delta.partial_json
        message = stream.get_final_message()
    calls = [(b.id, b.name) for b in message.content if b.type == "tool_use"]
    assert calls == [("function-call-9", name)]
    assert json.loads(joined or "{}") == want, joined  # the SDK's partial parser would hide "{}{}"
    assert message.stop_reason == "tool_use"


def test_a_call_gemini_repeats_reaches_a_responses_client_once(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(GEMINI, sse(_repeated(_call("function-call-9", "snooze", "{}"))))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    tool: Any = {"type": "function", "name": "snooze", "parameters": NO_PARAMS, "strict": False}
    with client.responses.stream(model=MODEL, input="go", tools=[tool]) as stream:
        final = stream.get_final_response()
    calls = [(i.call_id, i.arguments) for i in final.output if i.type == "function_call"]
    assert calls == [("function-call-9", "{}")]


def test_parallel_calls_without_index_stay_separate(gw: Stack, up: ScriptedUpstream) -> None:
    rome, paris = (
        _call("function-call-1", "weather", '{"city":"Rome"}'),
        _call("function-call-2", "weather", '{"city":"Paris"}'),
    )
    pieces = [_chunk({"role": "assistant", "tool_calls": [rome]}), _chunk({"tool_calls": [paris]})]
    up.script(GEMINI, sse([*pieces, _chunk({}, "tool_calls", USAGE), b"data: [DONE]\n\n"]))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tool: Any = {"name": "weather", "input_schema": CITY}
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=[tool], messages=[{"role": "user", "content": "go"}]
    ) as stream:
        message = stream.get_final_message()
    calls = [(b.id, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("function-call-1", {"city": "Rome"}), ("function-call-2", {"city": "Paris"})]


def _on_index_0(arguments: str, call_id: str | None = None, name: str = "") -> dict[str, Any]:
    item: dict[str, Any] = {"index": 0, "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        item.update(id=call_id, type="function")
    return item


GLOB = {"type": "object", "properties": {"path": {"type": "string"}, "pattern": {"type": "string"}}}
FIRST, SECOND = '{"path":"","pattern":"**/*"}', '{"path":"content/wiki","pattern":""}'


def _glued() -> list[bytes | Any]:
    """dyedd/lens#49 (gemini-3.1-pro behind a relay): call 1 opens on index 0 with its id and name, its whole
    arguments follow (name ""), then call 2's whole arguments come on index 0 too, without an id, name ""."""
    return [
        _chunk({"role": "assistant", "tool_calls": [_on_index_0("", "toolu_530f", "glob")]}),
        _chunk({"tool_calls": [_on_index_0(FIRST)]}),
        _chunk({"tool_calls": [_on_index_0(SECOND)]}),
        _chunk({}, "tool_calls", USAGE),
        b"data: [DONE]\n\n",
    ]


def test_a_second_call_glued_on_index_0_reaches_claude_code_as_its_own_call(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Two calls, as the same answer non-streamed has, both named glob (the only name index 0 was given); not one
    call whose input reads '{..}{..}' (s22 variant 01-glued-vA)."""
    up.script(GEMINI, sse(_glued()))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tool: Any = {"name": "glob", "input_schema": GLOB}
    joined: dict[int, str] = {}
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=[tool], messages=[{"role": "user", "content": "go"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                joined[event.index] = joined.get(event.index, "") + event.delta.partial_json
        message = stream.get_final_message()
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("glob", json.loads(FIRST)), ("glob", json.loads(SECOND))]
    assert [json.loads(v) for _, v in sorted(joined.items())] == [json.loads(FIRST), json.loads(SECOND)]
    ids = [b.id for b in message.content if b.type == "tool_use"]
    assert ids[0] == "toolu_530f" and len(set(ids)) == 2
    assert message.stop_reason == "tool_use"


def test_parallel_calls_all_on_index_0_without_ids_reach_a_responses_client_apart(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Each call whole on index 0 with its own name and no id (gcli2api#406, hermes-agent#57939), and two
    no-parameter calls "{}" "{}": every call is its own function_call (s22 variants 01-glued-vB, vC)."""
    pieces = [
        _chunk({"role": "assistant", "tool_calls": [_on_index_0('{"city":"Beijing"}', name="weather")]}),
        _chunk({"tool_calls": [_on_index_0('{"city":"Shanghai"}', name="weather")]}),
        _chunk({"tool_calls": [_on_index_0("{}", name="snooze")]}),
        _chunk({"tool_calls": [_on_index_0("{}")]}),
    ]
    up.script(GEMINI, sse([*pieces, _chunk({}, "tool_calls", USAGE), b"data: [DONE]\n\n"]))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    tools: Any = [
        {"type": "function", "name": "weather", "parameters": CITY, "strict": False},
        {"type": "function", "name": "snooze", "parameters": NO_PARAMS, "strict": False},
    ]
    with client.responses.stream(model=MODEL, input="go", tools=tools) as stream:
        final = stream.get_final_response()
    calls = [(i.name, json.loads(i.arguments)) for i in final.output if i.type == "function_call"]
    assert calls == [
        ("weather", {"city": "Beijing"}),
        ("weather", {"city": "Shanghai"}),
        ("snooze", {}),
        ("snooze", {}),
    ]
    assert len({i.call_id for i in final.output if i.type == "function_call"}) == 4


def _chat_calls(gw: Stack, tools: list[Any]) -> list[tuple[str, str, str]]:
    """A chat client's calls as the openai SDK's stream helper assembles them (``ChatCompletionStreamState``,
    which requires ``tool_calls[].index``): (id, name, arguments)."""
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    with client.chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "go"}], tools=tools
    ) as stream:
        final = stream.get_final_completion()
    return [(c.id, c.function.name, c.function.arguments) for c in final.choices[0].message.tool_calls or []]


def _chat_tool(name: str, schema: dict[str, Any]) -> Any:
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def test_two_calls_without_index_in_one_chunk_reach_a_chat_client_apart(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """bug30a variant 01-gemini-noindex-two-calls-chat-vK: Gemini's two parallel calls in ONE chunk, without
    ``index``, with the finish and usage, passed through to a chat client: each gets its own index (the openai
    SDK raised on the chunk before: openai/openai-python#2806)."""
    calls = [_call("function-call-1", "snooze", "{}"), _call("function-call-2", "weather", '{"city":"Rome"}')]
    up.script(
        GEMINI,
        sse([_chunk({"role": "assistant", "tool_calls": calls}, "tool_calls", USAGE), b"data: [DONE]\n\n"]),
    )
    got = _chat_calls(gw, [_chat_tool("snooze", NO_PARAMS), _chat_tool("weather", CITY)])
    assert got == [("function-call-1", "snooze", "{}"), ("function-call-2", "weather", '{"city":"Rome"}')]


def test_calls_without_index_in_two_chunks_reach_a_chat_client_apart(gw: Stack, up: ScriptedUpstream) -> None:
    """Gemini's parallel calls one chunk each, without ``index`` (each at position 0 of its chunk): a chat client
    gets indexes 0 and 1, so the SDK keeps two calls."""
    rome, paris = (
        _call("function-call-1", "weather", '{"city":"Rome"}'),
        _call("function-call-2", "weather", '{"city":"Paris"}'),
    )
    pieces = [_chunk({"role": "assistant", "tool_calls": [rome]}), _chunk({"tool_calls": [paris]})]
    up.script(GEMINI, sse([*pieces, _chunk({}, "tool_calls", USAGE), b"data: [DONE]\n\n"]))
    got = _chat_calls(gw, [_chat_tool("weather", CITY)])
    assert got == [
        ("function-call-1", "weather", '{"city":"Rome"}'),
        ("function-call-2", "weather", '{"city":"Paris"}'),
    ]


def test_a_call_gemini_repeats_reaches_a_chat_client_once(gw: Stack, up: ScriptedUpstream) -> None:
    """The whole call again in the finish chunk (same id, no ``index``), passed through to a chat client: the
    SDK joins fragments by index, so the repeat must not add its arguments again ("{}{}" parses to nothing)."""
    up.script(GEMINI, sse(_repeated(_call("function-call-9", "snooze", "{}"))))
    assert _chat_calls(gw, [_chat_tool("snooze", NO_PARAMS)]) == [("function-call-9", "snooze", "{}")]


def test_a_call_flushed_whole_after_its_beginning_reaches_a_chat_client_whole(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """review31: a call without ``index`` streamed in pieces, then its whole arguments flushed again in the finish
    chunk (vLLM's end-of-stream flush, vllm-project/vllm#51697, here from a server that omits ``index``): the
    chat client gets only what the flush adds, under the call's index. Before, ``indexes_given`` built that
    fragment but left the chunk's item as it came (no ``index``: the SDK raised ``TypeError``)."""
    start = {
        "id": "function-call-3",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":'},
    }
    flush = {"function": {"arguments": '{"city":"Rome"}'}}
    pieces = [
        _chunk({"role": "assistant", "tool_calls": [start]}),
        _chunk({"tool_calls": [flush]}, "tool_calls"),
    ]
    up.script(GEMINI, sse([*pieces, _chunk({}, None, USAGE), b"data: [DONE]\n\n"]))
    got = _chat_calls(gw, [_chat_tool("weather", CITY)])
    assert got == [("function-call-3", "weather", '{"city":"Rome"}')]
