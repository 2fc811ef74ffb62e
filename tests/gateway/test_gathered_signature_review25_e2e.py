"""A non-streamed request Gemini's relay answers with an event stream anyway, the call's thought signature in a
later chunk than the call's start (review25: bug25a's ``wait_for_signatures`` × bug25c's ``Proxy._stream_as_json``).

The gathered answer read the stream with a decoder that gave each call's start as soon as it had a name, so a
signature on the arguments' chunk, a chunk of its own or the finish chunk never reached the client's call id, and
Gemini got the dummy ``skip_thought_signature_validator`` on the next turn (Gemini API docs, "Thought signatures").
Real processes: recorder and gateway; the scripted upstream stands for the relay in front of Google's endpoint; the
official anthropic and openai SDKs are the clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.gateway.test_gemini_own_signature_e2e import (
    _EXTRA,
    CATALOG,
    CITY,
    GEMINI,
    LATE,
    MODEL,
    _gemini_text,
    _late_signature,
    _sent_step,
)
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(
    scripted_stack: Callable[..., AbstractContextManager[Stack]],
    up: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    catalog = tmp_path_factory.mktemp("gathered-signature-catalog") / "catalog.toml"
    catalog.write_text(CATALOG.format(url=up.url))
    paths = {"anthropic": "/anthropic", "openai": "/openai/v1"}
    with scripted_stack("gathered-signature", paths, CATALOG_PATH=str(catalog)) as st:
        yield st


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
