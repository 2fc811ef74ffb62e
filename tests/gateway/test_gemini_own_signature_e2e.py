"""Gemini 3's own thought signature comes back to it through Claude Code and Codex (s24 variant 04-ownsig-vA;
bugcase 04's kind: a provider's own signature must come back to it intact, and never reach another provider).

Gemini 3 signs a step's first function call (Google's OpenAI-compatible endpoint: ``tool_calls[].extra_content.
google.thought_signature``) and wants that signature back on the next turn (Gemini API docs, "Thought
signatures"). An Anthropic Messages or Responses client has no field for it; before the fix the gateway dropped
it, and the next turn went to Gemini with the documented dummy ``skip_thought_signature_validator``, which Gemini
accepts with "degraded model performance". The gateway now folds it into the call id those clients echo back
(``dialects/_call_signature``), gives it back to Gemini on the next turn, and restores the plain id when the
conversation moves to Claude or OpenAI. Real processes: recorder and gateway; the scripted upstream stands for
Google's endpoint (a catalog provider), Anthropic and OpenAI; the official anthropic and openai SDKs are the clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, catalog_gw, chat_answer, provider
from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream, json_answer, sse

GEMINI = "/gemini/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
OPENAI_RESPONSES = "/openai/v1/responses"
MODEL = "gemini-3-pro-preview"
CATALOG = catalog(provider("gemini", MODEL, price=(2, 12)))
SIGNATURE = "CiQBjz1rX2Zha2VHZW1pbmlTaWduYXR1cmUrL0FCQ0RFRkdISUpLTA=="
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CALL = {
    "id": "function-call-1",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
    "extra_content": {"google": {"thought_signature": SIGNATURE}},
}
USAGE = {"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40}

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("gemini-own-signature", CATALOG, paths={"anthropic": "/anthropic", "openai": "/openai/v1"})


def _gemini_calls(streamed: bool) -> Answer:
    """Gemini 3's answer calling ``weather`` with its signature, whole or streamed (each call whole, as Gemini
    streams them)."""
    if not streamed:
        message = {"role": "assistant", "content": None, "tool_calls": [CALL]}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        return json_answer(
            {"id": "g1", "object": "chat.completion", "model": MODEL, "choices": [choice], "usage": USAGE}
        )
    pieces = [
        {"index": 0, "delta": {"role": "assistant", "tool_calls": [CALL]}, "finish_reason": None},
        {"index": 0, "delta": {}, "finish_reason": "tool_calls"},
    ]
    chunks = [{"id": "g1", "object": "chat.completion.chunk", "model": MODEL, "choices": [p]} for p in pieces]
    chunks[-1]["usage"] = USAGE
    return sse([*(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks), b"data: [DONE]\n\n"])


def _gemini_text() -> Answer:
    return json_answer(chat_answer("Sunny, 24 C.", ident="g2", model=MODEL, usage=(30, 10)))


def _sent_step(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The tool call of the one step Gemini got back, and its tool message's id."""
    call = next(m for m in body["messages"] if m.get("tool_calls"))["tool_calls"][0]
    return call, next(m for m in body["messages"] if m["role"] == "tool")["tool_call_id"]


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "whole"])
def test_claude_code_gives_gemini_its_own_signature_back_and_claude_none(
    gw: Stack, up: ScriptedUpstream, streamed: bool
) -> None:
    up.script(GEMINI, _gemini_calls(streamed), _gemini_text())
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tools: Any = [{"name": "weather", "input_schema": CITY}]
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    if streamed:
        with client.messages.stream(model=MODEL, max_tokens=512, tools=tools, messages=messages) as stream:
            turn = stream.get_final_message()
    else:
        turn = client.messages.create(model=MODEL, max_tokens=512, tools=tools, messages=messages)
    [use] = [b for b in turn.content if b.type == "tool_use"]
    assert use.input == {"city": "Rome"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in turn.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 24 C"}],
        },
    ]
    answer = client.messages.create(model=MODEL, max_tokens=512, tools=tools, messages=messages)
    assert answer.content[0].type == "text" and answer.content[0].text == "Sunny, 24 C."
    call, result_id = _sent_step(up.seen(GEMINI)[-1].json)
    assert call["extra_content"] == {"google": {"thought_signature": SIGNATURE}}  # not the dummy
    assert call["id"] == result_id == "function-call-1"

    claude = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5"}
    claude |= {"content": [{"type": "text", "text": "Sunny."}], "stop_reason": "end_turn"}
    up.script(ANTHROPIC, json_answer({**claude, "usage": {"input_tokens": 9, "output_tokens": 2}}))
    client.messages.create(model="claude-sonnet-4-5", max_tokens=512, tools=tools, messages=messages)
    sent = up.seen(ANTHROPIC)[-1].json
    assert sent["messages"][1]["content"][0]["id"] == "function-call-1"
    assert sent["messages"][2]["content"][0]["tool_use_id"] == "function-call-1"
    assert SIGNATURE.rstrip("=") not in json.dumps(sent)  # Gemini's signature never reaches Anthropic


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "whole"])
def test_codex_gives_gemini_its_own_signature_back_and_openai_none(
    gw: Stack, up: ScriptedUpstream, streamed: bool
) -> None:
    up.script(GEMINI, _gemini_calls(streamed), _gemini_text())
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    tools: Any = [{"type": "function", "name": "weather", "parameters": CITY, "strict": False}]
    history: list[Any] = [{"type": "message", "role": "user", "content": "Weather in Rome?"}]
    if streamed:
        with client.responses.stream(model=MODEL, input=history, tools=tools) as stream:
            turn = stream.get_final_response()
    else:
        turn = client.responses.create(model=MODEL, input=history, tools=tools)
    [call_item] = [i for i in turn.output if i.type == "function_call"]
    assert json.loads(call_item.arguments) == {"city": "Rome"}
    history += [i.model_dump(exclude_none=True) for i in turn.output]
    history.append({"type": "function_call_output", "call_id": call_item.call_id, "output": "sunny, 24 C"})
    answer = client.responses.create(model=MODEL, input=history, tools=tools)
    assert answer.output_text == "Sunny, 24 C."
    call, result_id = _sent_step(up.seen(GEMINI)[-1].json)
    assert call["extra_content"] == {"google": {"thought_signature": SIGNATURE}}  # not the dummy
    assert call["id"] == result_id == "function-call-1"

    done = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5"}
    text = {"type": "output_text", "text": "Sunny.", "annotations": []}
    done["output"] = [
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [text]}
    ]
    done["usage"] = {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}
    up.script(OPENAI_RESPONSES, json_answer(done))
    client.responses.create(model="gpt-5", input=history, tools=tools)
    sent = up.seen(OPENAI_RESPONSES)[-1].json
    ids = [i["call_id"] for i in sent["input"] if "call_id" in i]
    assert ids == ["function-call-1", "function-call-1"]  # within OpenAI's 64 characters
    assert SIGNATURE.rstrip("=") not in json.dumps(sent)  # Gemini's signature never reaches OpenAI


# The signature in a later chunk than the call's start, as a relay in front of Google's endpoint may stream the call
# (name first, arguments after; s25 variants 04-gemsig-argchunk-vA, 04-gemsig-finishchunk-vB, 04-gemsig-afterargs-vC)
_START = {
    "index": 0,
    "id": "function-call-1",
    "type": "function",
    "function": {"name": "weather", "arguments": ""},
}
_EXTRA = {"google": {"thought_signature": SIGNATURE}}
LATE = {
    "with-the-arguments": [
        {"role": "assistant", "tool_calls": [_START]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Rome"}'}, "extra_content": _EXTRA}]},
    ],
    "restated-at-the-finish": [
        {"role": "assistant", "tool_calls": [{**CALL, "index": 0, "extra_content": None}]},
        {"tool_calls": [{**CALL, "index": 0}]},
    ],
    "a-chunk-of-its-own": [
        {
            "role": "assistant",
            "tool_calls": [{**_START, "function": {"name": "weather", "arguments": '{"city":'}}],
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Rome"}'}}]},
        {"tool_calls": [{"index": 0, "extra_content": _EXTRA}]},
    ],
}


def _late_signature(deltas: list[dict[str, Any]]) -> Answer:
    pieces: list[dict[str, Any]] = [{"index": 0, "delta": d, "finish_reason": None} for d in deltas]
    pieces.append({"index": 0, "delta": {}, "finish_reason": "tool_calls"})
    if "id" in deltas[-1]["tool_calls"][0]:  # (restated whole with the finish)
        pieces = [*pieces[:-2], {**pieces[-2], "finish_reason": "tool_calls"}]
    chunks = [{"id": "g1", "object": "chat.completion.chunk", "model": MODEL, "choices": [p]} for p in pieces]
    chunks[-1]["usage"] = USAGE
    return sse([*(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks), b"data: [DONE]\n\n"])


@pytest.mark.parametrize("deltas", list(LATE.values()), ids=list(LATE))
def test_a_signature_after_the_call_start_still_comes_back_to_gemini(
    gw: Stack, up: ScriptedUpstream, deltas: list[dict[str, Any]]
) -> None:
    up.script(GEMINI, _late_signature(deltas), _gemini_text(), _late_signature(deltas), _gemini_text())
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tools: Any = [{"name": "weather", "input_schema": CITY}]
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    with claude.messages.stream(model=MODEL, max_tokens=512, tools=tools, messages=messages) as stream:
        turn = stream.get_final_message()
    [use] = [b for b in turn.content if b.type == "tool_use"]
    assert use.input == {"city": "Rome"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in turn.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    claude.messages.create(model=MODEL, max_tokens=512, tools=tools, messages=messages)
    call, result_id = _sent_step(up.seen(GEMINI)[-1].json)
    assert call["extra_content"] == _EXTRA  # its own, not the dummy
    assert call["id"] == result_id == "function-call-1"

    codex = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    functions: Any = [{"type": "function", "name": "weather", "parameters": CITY, "strict": False}]
    history: list[Any] = [{"type": "message", "role": "user", "content": "Weather in Rome?"}]
    with codex.responses.stream(model=MODEL, input=history, tools=functions) as responses:
        answer = responses.get_final_response()
    [item] = [i for i in answer.output if i.type == "function_call"]
    history += [i.model_dump(exclude_none=True) for i in answer.output]
    history.append({"type": "function_call_output", "call_id": item.call_id, "output": "sunny"})
    codex.responses.create(model=MODEL, input=history, tools=functions)
    call, result_id = _sent_step(up.seen(GEMINI)[-1].json)
    assert call["extra_content"] == _EXTRA
    assert call["id"] == result_id == "function-call-1"


# Gemini 3 through OpenRouter: its signature comes as a reasoning_details entry (reasoning.encrypted, format
# google-gemini-v1, id = the call's id; OpenRouter docs, "Reasoning Tokens") and must go back there, not as the
# dummy (s25 variants 04-orgem-sig-vG/vH)
OPENROUTER = "/openrouter/api/v1/chat/completions"
OR_MODEL = "google/gemini-3-pro-preview"
_ENTRY = {
    "type": "reasoning.encrypted",
    "data": SIGNATURE,
    "id": "function-call-1",
    "format": "google-gemini-v1",
}


@pytest.fixture(scope="module")
def gw_openrouter(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    paths = {"openrouter": "/openrouter/api/v1", "anthropic": "/anthropic"}
    with scripted_stack("gemini-own-signature-openrouter", paths) as st:
        yield st


def _openrouter_call(entry_after_call: bool) -> Answer:
    call = {k: v for k, v in CALL.items() if k != "extra_content"}
    pieces = [{"role": "assistant", "content": "", "tool_calls": [{"index": 0, **call}]}]
    if entry_after_call:
        pieces.append({"content": "", "reasoning_details": [{**_ENTRY, "index": 0}]})
    else:
        pieces[0]["reasoning_details"] = [{**_ENTRY, "index": 0}]
    choices = [{"index": 0, "delta": d, "finish_reason": None} for d in pieces]
    choices.append({"index": 0, "delta": {}, "finish_reason": "tool_calls"})
    chunks = [
        {"id": "gen-1", "object": "chat.completion.chunk", "model": OR_MODEL, "choices": [c]} for c in choices
    ]
    chunks[-1]["usage"] = USAGE
    return sse([*(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks), b"data: [DONE]\n\n"])


def _openrouter_text() -> Answer:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "Sunny, 24 C."},
        "finish_reason": "stop",
    }
    return json_answer(
        {"id": "gen-2", "object": "chat.completion", "model": OR_MODEL, "choices": [choice], "usage": USAGE}
    )


def _given_back(body: dict[str, Any]) -> tuple[list[Any], str, str]:
    step = next(m for m in body["messages"] if m.get("tool_calls"))
    tool_id = next(m for m in body["messages"] if m["role"] == "tool")["tool_call_id"]
    return step.get("reasoning_details") or [], step["tool_calls"][0]["id"], tool_id


@pytest.mark.parametrize("entry_after_call", [False, True], ids=["with-the-call", "after-the-call"])
def test_gemini_on_openrouter_gets_its_own_signature_back_from_claude_code_and_codex(
    gw_openrouter: Stack, up: ScriptedUpstream, entry_after_call: bool
) -> None:
    up.script(
        OPENROUTER,
        _openrouter_call(entry_after_call),
        _openrouter_text(),
        _openrouter_call(entry_after_call),
        _openrouter_text(),
    )
    claude = anthropic.Anthropic(base_url=gw_openrouter.gateway_url, api_key="sk-ant-client", max_retries=0)
    tools: Any = [{"name": "weather", "input_schema": CITY}]
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    with claude.messages.stream(model=OR_MODEL, max_tokens=512, tools=tools, messages=messages) as stream:
        turn = stream.get_final_message()
    [use] = [b for b in turn.content if b.type == "tool_use"]
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in turn.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    claude.messages.create(model=OR_MODEL, max_tokens=512, tools=tools, messages=messages)
    details, call_id, tool_id = _given_back(up.seen(OPENROUTER)[-1].json)
    assert [{k: d.get(k) for k in _ENTRY} for d in details] == [_ENTRY]  # Gemini's own, not the dummy
    assert call_id == tool_id == "function-call-1"

    codex = openai.OpenAI(base_url=gw_openrouter.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    functions: Any = [{"type": "function", "name": "weather", "parameters": CITY, "strict": False}]
    history: list[Any] = [{"type": "message", "role": "user", "content": "Weather in Rome?"}]
    with codex.responses.stream(model=OR_MODEL, input=history, tools=functions) as responses:
        answer = responses.get_final_response()
    [item] = [i for i in answer.output if i.type == "function_call"]
    history += [i.model_dump(exclude_none=True) for i in answer.output]
    history.append({"type": "function_call_output", "call_id": item.call_id, "output": "sunny"})
    codex.responses.create(model=OR_MODEL, input=history, tools=functions)
    details, call_id, tool_id = _given_back(up.seen(OPENROUTER)[-1].json)
    assert [{k: d.get(k) for k in _ENTRY} for d in details] == [_ENTRY]
    assert call_id == tool_id == "function-call-1"

    claude_answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5"}
    claude_answer |= {"content": [{"type": "text", "text": "Sunny."}], "stop_reason": "end_turn"}
    up.script(ANTHROPIC, json_answer({**claude_answer, "usage": {"input_tokens": 9, "output_tokens": 2}}))
    claude.messages.create(model="claude-sonnet-4-5", max_tokens=512, tools=tools, messages=messages)
    assert SIGNATURE.rstrip("=") not in json.dumps(up.seen(ANTHROPIC)[-1].json)  # never to Anthropic


# A non-streamed request the relay answers with an event stream anyway, the signature in a later chunk than the
# call's start (review25: bug25a's ``wait_for_signatures`` x bug25c's ``Proxy._stream_as_json``): the gathered
# answer's decoder gave each call's start as soon as it had a name, so the signature never reached the client's
# call id and Gemini got the dummy on the next turn.
@pytest.mark.parametrize("deltas", list(LATE.values()), ids=list(LATE))
def test_a_late_signature_in_a_stream_answering_a_whole_request_comes_back_to_gemini(
    gw: Stack, up: ScriptedUpstream, deltas: list[dict[str, Any]]
) -> None:
    up.script(GEMINI, _late_signature(deltas), _gemini_text(), _late_signature(deltas), _gemini_text())
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tools: Any = [{"name": "weather", "input_schema": CITY}]
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    turn = claude.messages.create(model=MODEL, max_tokens=512, tools=tools, messages=messages)
    assert up.seen(GEMINI)[-1].json.get("stream") is not True  # a whole request, answered with a stream
    [use] = [b for b in turn.content if b.type == "tool_use"]
    assert use.input == {"city": "Rome"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in turn.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    claude.messages.create(model=MODEL, max_tokens=512, tools=tools, messages=messages)
    call, result_id = _sent_step(up.seen(GEMINI)[-1].json)
    assert call["extra_content"] == _EXTRA  # its own, not the dummy
    assert call["id"] == result_id == "function-call-1"

    codex = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    functions: Any = [{"type": "function", "name": "weather", "parameters": CITY, "strict": False}]
    history: list[Any] = [{"type": "message", "role": "user", "content": "Weather in Rome?"}]
    answer = codex.responses.create(model=MODEL, input=history, tools=functions)
    [item] = [i for i in answer.output if i.type == "function_call"]
    history += [i.model_dump(exclude_none=True) for i in answer.output]
    history.append({"type": "function_call_output", "call_id": item.call_id, "output": "sunny"})
    codex.responses.create(model=MODEL, input=history, tools=functions)
    call, result_id = _sent_step(up.seen(GEMINI)[-1].json)
    assert call["extra_content"] == _EXTRA
    assert call["id"] == result_id == "function-call-1"
