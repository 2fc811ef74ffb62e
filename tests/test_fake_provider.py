"""The fake provider, driven by the official openai and anthropic SDKs: proof that it speaks the real wire formats."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import typing
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from openai.types.responses import (
    Response,
    ResponseCompactionItem,
    ResponseStreamEvent,
    ResponseUsage,
)

from tests.fake.behaviour import Behaviour, apply_spec, split_model
from tests.fake.conversation import THINKING_TEXT, fragments, pieces, shell_arguments, tool_arguments
from tests.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
HI: Any = [{"role": "user", "content": "say hi"}]
SHELL_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "shell",
        "description": "Run a shell command",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}
BASH_TOOL: Any = {
    "name": "Bash",
    "description": "Run a command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
        "required": ["command"],
    },
}


@pytest.fixture
async def fp() -> AsyncIterator[FakeProvider]:
    async with FakeProvider(name="openai") as provider:
        yield provider


@pytest.fixture
async def oai(fp: FakeProvider) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fp.openai_base_url, api_key="sk-client", max_retries=0) as client:
        yield client


@pytest.fixture
async def ant(fp: FakeProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=fp.base_url, api_key="sk-ant-client", max_retries=0
    ) as client:
        yield client


async def raw_post(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.read()


# --- OpenAI chat ----------------------------------------------------------------------------


async def test_openai_plain_completion(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    fp.behaviour.cache_read = 4
    r = await oai.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert r.object == "chat.completion" and r.model == "gpt-4o-mini"
    assert r.choices[0].message.content == "Hello from fake-openai: say hi"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.completion_tokens == 5
    assert r.usage.prompt_tokens == len("say hi") // 4 + 10
    assert r.usage.prompt_tokens_details is not None and r.usage.prompt_tokens_details.cached_tokens == 4
    assert r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == 0


async def test_openai_stream_with_usage(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from fake-openai: say hi"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert (
        chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    )
    assert all(c.usage is None for c in chunks[:-1])


async def test_openai_stream_without_usage_has_no_usage_chunk(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_openai_tool_call_and_round_trip(oai: openai.AsyncOpenAI) -> None:
    r = await oai.chat.completions.create(model="gpt-4o-mini", messages=HI, tools=[SHELL_TOOL])
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content is None
    assert msg.tool_calls is not None
    call = msg.tool_calls[0]
    assert call.type == "function" and call.function.name == "shell"
    assert json.loads(call.function.arguments) == {"command": "ls"}
    history: list[Any] = [
        *HI,
        msg.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "README.md\napp.py"},
    ]
    r2 = await oai.chat.completions.create(model="gpt-4o-mini", messages=history, tools=[SHELL_TOOL])
    assert r2.choices[0].message.content == "Tool said: README.md\napp.py"


async def test_openai_streamed_tool_call_rebuilds_with_sdk_helper(oai: openai.AsyncOpenAI) -> None:
    async with oai.chat.completions.stream(model="gpt-4o-mini", messages=HI, tools=[SHELL_TOOL]) as stream:
        deltas = [e async for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = await stream.get_final_completion()
    assert len(deltas) >= 2  # the arguments arrive split across chunks
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "shell" and json.loads(call.function.arguments) == {"command": "ls"}
    assert call.id.startswith("call_")


async def test_openai_tool_choice_none_answers_text(oai: openai.AsyncOpenAI) -> None:
    r = await oai.chat.completions.create(
        model="gpt-4o-mini", messages=HI, tools=[SHELL_TOOL], tool_choice="none"
    )
    assert r.choices[0].message.tool_calls is None


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("status:400", openai.BadRequestError),
        ("status:401", openai.AuthenticationError),
        ("status:404", openai.NotFoundError),
        ("status:429:retry-after=2", openai.RateLimitError),
        ("status:500", openai.InternalServerError),
        ("status:503", openai.InternalServerError),
    ],
)
async def test_openai_error_statuses(oai: openai.AsyncOpenAI, spec: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        await oai.chat.completions.create(
            model="gpt-4o-mini", messages=HI, extra_headers={"x-fake-fault": spec}
        )
    body = caught.value.body  # type: ignore[attr-defined]
    assert set(body) == {"message", "type", "param", "code"}  # the SDK unwraps {"error": …}
    if spec.startswith("status:429"):
        assert caught.value.response.headers["retry-after"] == "2"  # type: ignore[attr-defined]
        assert body["code"] == "rate_limit_exceeded"


async def test_openai_fault_in_model_name(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await oai.chat.completions.create(
            model="gpt-4o-mini@fault=status:429:code=insufficient_quota", messages=HI
        )
    assert caught.value.code == "insufficient_quota"


async def test_openai_missing_key_is_401(fp: FakeProvider) -> None:
    status, body = await raw_post(fp.openai_base_url + "/chat/completions", {"model": "m", "messages": HI})
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("error-mid-stream", openai.APIError),
        ("break-mid-stream", openai.APIConnectionError),
        ("break-before-first-byte", openai.APIConnectionError),
    ],
)
async def test_openai_stream_failures(
    oai: openai.AsyncOpenAI, fp: FakeProvider, spec: str, error: type[Exception]
) -> None:
    fp.set_fault(spec)
    texts: list[str] = []
    with pytest.raises(error):
        stream = await oai.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        async for chunk in stream:
            texts.append(chunk.choices[0].delta.content or "")
    assert "".join(texts) == ("" if spec == "break-before-first-byte" else "Hello from ")
    assert fp.last_request.dropped == spec.startswith("break")


async def test_openai_no_usage(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    fp.set_fault("no-usage")
    r = await oai.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert r.usage is None
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    assert all(c.choices for c in [c async for c in stream])


async def test_openai_models_list(oai: openai.AsyncOpenAI) -> None:
    ids = [m.id async for m in oai.models.list()]
    assert "gpt-4o-mini" in ids and "gpt-5.5" in ids


# --- OpenRouter flavour ---------------------------------------------------------------------


async def test_openrouter_quirks() -> None:
    async with FakeProvider(name="openrouter") as fp:
        headers = {"Authorization": "Bearer sk-or"}
        url = fp.openrouter_base_url + "/chat/completions"
        body = {
            "model": "openai/gpt-4o-mini",
            "messages": HI,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        status, raw = await raw_post(url, body, headers)
        assert status == 200 and raw.startswith(b": OPENROUTER PROCESSING\n\n")
        usage = json.loads(raw.split(b"data: ")[-2])["usage"]
        assert isinstance(usage["cost"], float) and usage["cost"] > 0
        status, raw = await raw_post(url, {**body, "stream": False}, headers | {"x-fake-fault": "status:429"})
        assert status == 429 and json.loads(raw)["error"]["code"] == 429
        async with openai.AsyncOpenAI(base_url=fp.openrouter_base_url, api_key="k", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="m@fault=error-mid-stream", messages=HI, stream=True
            )
            with pytest.raises(openai.APIError):
                async for _ in stream:
                    pass
        status, raw = await raw_post(url, {**body, "model": "m@fault=error-mid-stream"}, headers)
        error_chunk = json.loads(raw.split(b"data: ")[-1])
        assert error_chunk["choices"][0]["finish_reason"] == "error" and error_chunk["error"]["message"]


# --- Anthropic messages ---------------------------------------------------------------------


async def test_anthropic_plain_message(ant: anthropic.AsyncAnthropic, fp: FakeProvider) -> None:
    fp.set_fault("cache-read:5,cache-write:3")
    m = await ant.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=HI, system="Be brief.")
    assert m.type == "message" and m.stop_reason == "end_turn"
    assert m.content[0].type == "text" and m.content[0].text == "Hello from fake-openai: say hi"
    prompt = len("say hiBe brief.") // 4 + 10
    assert (m.usage.cache_read_input_tokens, m.usage.cache_creation_input_tokens) == (5, 3)
    assert m.usage.input_tokens == prompt - 8 and m.usage.output_tokens == 5


async def test_anthropic_stream_with_thinking(ant: anthropic.AsyncAnthropic) -> None:
    async with ant.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=2048,
        messages=HI,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature  # type: ignore[union-attr]
    assert final.content[1].text == "Hello from fake-openai: say hi"  # type: ignore[union-attr]
    assert final.usage.output_tokens > 5 and final.stop_reason == "end_turn"


async def test_anthropic_sse_frames_all_have_event_lines(fp: FakeProvider) -> None:
    body = {"model": "claude-x", "max_tokens": 64, "messages": HI, "stream": True}
    status, raw = await raw_post(fp.base_url + "/v1/messages?beta=true", body, {"x-api-key": "k"})
    frames = [f for f in raw.decode().split("\n\n") if f]
    events = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert all(json.loads(f.split("data: ", 1)[1])["type"] == e for f, e in zip(frames, events, strict=True))
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-2:] == ["message_delta", "message_stop"]
    assert fp.last_request.query == {"beta": "true"}


async def test_anthropic_tool_use_streamed_and_round_trip(ant: anthropic.AsyncAnthropic) -> None:
    async with ant.messages.stream(
        model="claude-x",
        max_tokens=256,
        tools=[BASH_TOOL],
        messages=[{"role": "user", "content": "list files"}],
    ) as stream:
        json_deltas = [e async for e in stream if e.type == "input_json"]
        final = await stream.get_final_message()
    tool_use = final.content[-1]
    assert final.stop_reason == "tool_use" and tool_use.type == "tool_use"
    assert tool_use.name == "Bash" and tool_use.input == {"command": "ls"}
    assert len(json_deltas) >= 2
    history: list[Any] = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": [tool_use.model_dump()]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "README.md"}],
        },
        {"role": "system", "content": "mid-conversation system text, as Claude Code sends it"},
    ]
    m = await ant.messages.create(model="claude-x", max_tokens=256, tools=[BASH_TOOL], messages=history)
    assert m.content[0].text == "Tool said: README.md"  # type: ignore[union-attr]


async def test_anthropic_tool_picked_by_mention(ant: anthropic.AsyncAnthropic, fp: FakeProvider) -> None:
    fp.set_fault("tools:mention")
    read_tool = {
        "name": "Read",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}},
            "required": ["file_path"],
        },
    }
    m = await ant.messages.create(model="claude-x", max_tokens=64, tools=[BASH_TOOL, read_tool], messages=HI)  # type: ignore[list-item]
    assert m.content[0].type == "text"
    m = await ant.messages.create(
        model="claude-x",
        max_tokens=64,
        tools=[BASH_TOOL, read_tool],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "use Read please"}],
    )
    assert m.content[0].type == "tool_use" and m.content[0].input == {"file_path": "README.md"}


@pytest.mark.parametrize(
    ("spec", "error", "error_type"),
    [
        ("status:529", anthropic.OverloadedError, "overloaded_error"),
        ("status:429", anthropic.RateLimitError, "rate_limit_error"),
        ("status:500", anthropic.InternalServerError, "api_error"),
        ("status:401", anthropic.AuthenticationError, "authentication_error"),
    ],
)
async def test_anthropic_error_statuses(
    ant: anthropic.AsyncAnthropic, spec: str, error: type[Exception], error_type: str
) -> None:
    with pytest.raises(error) as caught:
        await ant.messages.create(
            model="claude-x", max_tokens=8, messages=HI, extra_headers={"x-fake-fault": spec}
        )
    body = caught.value.body  # type: ignore[attr-defined]
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert caught.value.response.headers["request-id"] == body["request_id"]  # type: ignore[attr-defined]


async def test_anthropic_validation(fp: FakeProvider) -> None:
    url = fp.base_url + "/v1/messages"
    status, raw = await raw_post(url, {"model": "claude-x", "messages": HI}, {"x-api-key": "k"})
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    status, raw = await raw_post(url, {"model": "claude-x", "max_tokens": 8, "messages": HI})
    assert status == 401 and json.loads(raw)["error"]["type"] == "authentication_error"
    status, _ = await raw_post(
        url, {"model": "claude-x", "max_tokens": 8, "messages": HI}, {"Authorization": "Bearer k"}
    )
    assert status == 200


async def test_anthropic_mid_stream_error(ant: anthropic.AsyncAnthropic, fp: FakeProvider) -> None:
    fp.set_fault("error-mid-stream")
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with ant.messages.stream(model="claude-x", max_tokens=64, messages=HI) as stream:
            async for _ in stream:
                pass
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_anthropic_count_tokens_and_models(ant: anthropic.AsyncAnthropic) -> None:
    counted = await ant.messages.count_tokens(model="claude-x", messages=HI)
    assert counted.input_tokens == len("say hi") // 4 + 10
    ids = [m.id async for m in ant.models.list()]
    assert "claude-sonnet-4-6" not in ids and ids == [
        "gpt-4o-mini",
        "gpt-4o",
        "gpt-5",
        "gpt-5.5",
    ]  # the openai fake's list


# --- recording, timing faults, lifecycle ----------------------------------------------------


async def test_requests_are_recorded(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    await oai.chat.completions.create(
        model="gpt-4o-mini", messages=HI, extra_headers={"anthropic-beta": "a,b"}
    )
    rec = fp.last_request
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.headers["authorization"] == "Bearer sk-client" and rec.headers["anthropic-beta"] == "a,b"
    assert rec.json == {"model": "gpt-4o-mini", "messages": HI}
    fp.reset()
    assert fp.requests == []


async def test_fault_times_then_recovers(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    fp.set_fault("status:503", times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await oai.chat.completions.create(model="m", messages=HI)
    assert (await oai.chat.completions.create(model="m", messages=HI)).choices[0].message.content


async def test_latency_and_chunk_delay() -> None:
    """The delays go through the fake's injected sleep: recorded here, not timed."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with (
        FakeProvider(name="openai", sleep=sleep) as fp,
        openai.AsyncOpenAI(base_url=fp.openai_base_url, api_key="k", max_retries=0) as oai,
    ):
        fp.set_fault("latency:0.3")
        await oai.chat.completions.create(model="m", messages=HI)
        assert slept == [0.3]  # once, before the answer
        slept.clear()
        fp.set_fault("latency:0,chunk-delay:0.05")
        stream = await oai.chat.completions.create(model="m", messages=HI, stream=True)
        chunks = [c async for c in stream]
        assert slept == [0.05] * len(chunks)  # before every frame but the first ([DONE] is one)


async def test_first_byte_delay_sends_headers_first(fp: FakeProvider) -> None:
    body = {"model": "m", "messages": HI}
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as session:
        fp.set_fault("first-byte-delay:60")  # longer than the test: the body cannot have come
        async with session.post(fp.openai_base_url + "/chat/completions", json=body) as resp:
            assert resp.status == 200 and (resp.content_length or 0) > 0  # the headers are in
            assert resp.content.total_bytes == 0 and not resp.content.is_eof()  # the body is not
        fp.set_fault("first-byte-delay:0.1")
        async with session.post(fp.openai_base_url + "/chat/completions", json=body) as resp:
            assert (await resp.json())["choices"][0]["message"]["content"]  # then it comes, whole


async def test_hang_until_client_gives_up(fp: FakeProvider) -> None:
    async with openai.AsyncOpenAI(
        base_url=fp.openai_base_url, api_key="k", max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m@fault=hang", messages=HI)
    for _ in range(500):  # a handshake, not a time limit: 10 s for the cancellation to land
        if fp.last_request.client_disconnected:
            break
        await asyncio.sleep(0.02)
    assert fp.last_request.client_disconnected


async def test_stop_refuses_then_restart_on_same_port(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    port = fp.port
    await fp.stop()
    with pytest.raises(openai.APIConnectionError):
        await oai.chat.completions.create(model="m", messages=HI)
    await fp.start()
    assert fp.port == port
    assert (await oai.chat.completions.create(model="m", messages=HI)).choices[0].message.content


def test_start_in_thread_with_sync_clients() -> None:
    fp = FakeProvider.start_in_thread(name="anthropic")
    try:
        with anthropic.Anthropic(base_url=fp.base_url, api_key="k", max_retries=0) as client:
            m = client.messages.create(model="claude-x", max_tokens=32, messages=HI)
            assert m.content[0].text == "Hello from fake-anthropic: say hi"  # type: ignore[union-attr]
            fp.set_fault("status:529")
            with pytest.raises(anthropic.OverloadedError):
                client.messages.create(model="claude-x", max_tokens=32, messages=HI)
        assert len(fp.requests) == 2
    finally:
        fp.stop()
    with openai.OpenAI(base_url=fp.openai_base_url, api_key="k", max_retries=0) as sync_client:
        with pytest.raises(openai.APIConnectionError):
            sync_client.chat.completions.create(model="m", messages=HI)


def control(base_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call a /_fake/* route the way an out-of-process test would (POST when there is a body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def test_subprocess_mode_and_control_routes() -> None:
    argv = [sys.executable, "-m", "tests.fake_provider", "--port", "0", "--name", "anthropic"]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "listening on" in line
            base_url = line.split("listening on ")[1].strip()
            with anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0) as client:
                m = client.messages.create(model="claude-x", max_tokens=32, messages=HI)
                assert m.content[0].text.startswith("Hello from fake-anthropic")  # type: ignore[union-attr]
                control(base_url, "/_fake/fault", {"fault": "status:529", "times": 1})
                with pytest.raises(anthropic.OverloadedError):
                    client.messages.create(model="claude-x", max_tokens=32, messages=HI)
            recorded = control(base_url, "/_fake/requests")
            assert [r["path"] for r in recorded] == ["/v1/messages", "/v1/messages"]
            assert recorded[0]["json"]["max_tokens"] == 32 and recorded[0]["headers"]["authorization"]
            control(base_url, "/_fake/reset", {})
            assert control(base_url, "/_fake/requests") == []
        finally:
            proc.terminate()
        assert proc.wait(timeout=10) == 0


# --- the pure parts -------------------------------------------------------------------------


def test_fault_spec_grammar() -> None:
    b = apply_spec("status:429:retry-after=2:code=insufficient_quota, chunk-delay:0.2,no-usage", Behaviour())
    assert (b.status, b.retry_after, b.error_code, b.chunk_delay, b.no_usage) == (
        429,
        2,
        "insufficient_quota",
        0.2,
        True,
    )
    assert apply_spec("ok", b).status is None
    assert apply_spec("", b) == b
    for bad in ("status", "latency:-1", "explode", "status:500:retry=1", "tools:sometimes", "hang:3"):
        with pytest.raises(ValueError):
            apply_spec(bad, Behaviour())
    assert split_model("gpt-4o@fault=status:500,latency:1") == ("gpt-4o", "status:500,latency:1")


def test_tool_arguments_and_splitting() -> None:
    schema = {
        "type": "object",
        "required": ["command", "n", "mode", "opts"],
        "properties": {
            "command": {"type": "string"},
            "n": {"type": "integer"},
            "mode": {"enum": ["fast", "slow"]},
            "opts": {"type": "object", "properties": {"x": {"type": "boolean"}}, "required": ["x"]},
        },
    }
    assert tool_arguments(schema) == {"command": "ls", "n": 1, "mode": "fast", "opts": {"x": True}}
    text = "Tool said: a\nb  c"
    assert "".join(pieces(text)) == text and len(pieces(text)) == 5
    assert "".join(fragments('{"command": "ls"}')) == '{"command": "ls"}'


# --- OpenAI Responses -----------------------------------------------------------------------

EXEC_TOOL: Any = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command in a PTY.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string"}, "tty": {"type": "boolean"}},
        "required": ["cmd"],
        "additionalProperties": False,
    },
}
PATCH_TOOL: Any = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files. This is a FREEFORM tool.",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch\n"},
}
CODEX_LIKE: Any = {
    "reasoning": {"effort": "medium"},
    "include": ["reasoning.encrypted_content"],
    "store": False,
}


async def raw_responses(
    fp: FakeProvider, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """POST a streamed /v1/responses; returns the status and every frame as (event line, data)."""
    status, raw = await raw_post(
        fp.openai_base_url + "/responses",
        {**body, "stream": True},
        {"Authorization": "Bearer k", **(headers or {})},
    )
    frames = []
    for block in raw.decode().split("\n\n"):
        if block.strip():
            event, data = block.split("\n", 1)
            frames.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return status, frames


async def test_responses_plain(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    fp.set_fault("cache-read:3")
    r = await oai.responses.create(model="gpt-5.5", input="say hi", instructions="Be brief.")
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output_text == "Hello from fake-openai: say hi" and r.model == "gpt-5.5"
    assert [i.type for i in r.output] == ["message"] and r.instructions == "Be brief."
    assert r.usage is not None and r.usage.input_tokens == len("say hiBe brief.") // 4 + 10
    assert r.usage.input_tokens_details.cached_tokens == 3 and r.usage.output_tokens == 5
    assert r.usage.output_tokens_details.reasoning_tokens == 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert fp.last_request.path == "/v1/responses"


async def test_responses_stream_events_as_openai_sends_them(
    oai: openai.AsyncOpenAI, fp: FakeProvider
) -> None:
    stream = await oai.responses.create(
        model="gpt-5.5", input=[{"role": "user", "content": "say hi"}], stream=True, **CODEX_LIKE
    )
    events = [e async for e in stream]
    types = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-1] == "response.completed"
    assert types.count("response.output_item.added") == types.count("response.output_item.done") == 2
    for kind in (
        "reasoning_summary_part.added",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "content_part.added",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
    ):
        assert f"response.{kind}" in types, kind
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello from fake-openai: say hi"
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert done[0].type == "reasoning" and done[0].encrypted_content == fp.issued_reasoning[0]
    assert done[0].summary[0].text == THINKING_TEXT
    assert done[1].type == "message" and done[1].content[0].text == text  # type: ignore[union-attr]
    final = events[-1].response  # type: ignore[union-attr]
    assert [i.type for i in final.output] == ["reasoning", "message"] and final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == len(
        pieces(THINKING_TEXT)
    )
    assert final.usage.output_tokens == 5 + len(pieces(THINKING_TEXT))


async def test_responses_frames_have_event_lines(fp: FakeProvider) -> None:
    status, frames = await raw_responses(
        fp, {"model": "gpt-5.5", "input": "hi", "tools": [EXEC_TOOL, PATCH_TOOL]}
    )
    assert status == 200 and all(event == data["type"] for event, data in frames)
    assert [d["sequence_number"] for _, d in frames] == list(range(len(frames)))
    assert "encrypted_content" not in json.dumps(frames)  # not asked for in `include`


async def test_responses_function_call_with_sdk_accumulator_and_round_trip(
    oai: openai.AsyncOpenAI, fp: FakeProvider
) -> None:
    async with oai.responses.stream(
        model="gpt-5.5", input="list the files", tools=[EXEC_TOOL], **CODEX_LIKE
    ) as stream:
        deltas = [e async for e in stream if e.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    assert len(deltas) >= 2
    reasoning, call = final.output
    assert reasoning.type == "reasoning" and call.type == "function_call"
    assert call.name == "exec_command" and json.loads(call.arguments) == {"cmd": "ls"}
    assert call.call_id.startswith("call_") and call.status == "completed"
    history: list[Any] = [
        {"role": "user", "content": "list the files"},
        *[i.model_dump(exclude_none=True) for i in final.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "README.md\napp.py"},
    ]
    r = await oai.responses.create(model="gpt-5.5", input=history, tools=[EXEC_TOOL], **CODEX_LIKE)
    assert r.output_text == "Tool said: README.md\napp.py"
    sent = fp.last_request
    assert [i["encrypted_content"] for i in sent.items("reasoning")] == fp.issued_reasoning[:1]
    assert fp.issued_reasoning[0].encode() in sent.raw and len(fp.issued_reasoning) == 2


async def test_responses_custom_tool_call_streams_raw_input(
    oai: openai.AsyncOpenAI, fp: FakeProvider
) -> None:
    stream = await oai.responses.create(
        model="gpt-5.5",
        input="Create a file named notes.txt please",
        tools=[EXEC_TOOL, PATCH_TOOL],
        stream=True,
    )
    events = [e async for e in stream]
    deltas = [e.delta for e in events if e.type == "response.custom_tool_call_input.delta"]  # type: ignore[union-attr]
    patch = "*** Begin Patch\n*** Add File: notes.txt\n+hello from fake\n*** End Patch\n"
    assert "".join(deltas) == patch and len(deltas) >= 2
    assert [e.input for e in events if e.type == "response.custom_tool_call_input.done"] == [patch]  # type: ignore[union-attr]
    call = events[-1].response.output[0]  # type: ignore[union-attr]
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.input == patch
    history: list[Any] = [
        {"role": "user", "content": "Create a file named notes.txt please"},
        call.model_dump(exclude_none=True),
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Success. A notes.txt"},
    ]
    r = await oai.responses.create(model="gpt-5.5", input=history, tools=[EXEC_TOOL, PATCH_TOOL])
    assert r.output_text == "Tool said: Success. A notes.txt"


async def test_responses_tool_picked_by_intent_with_mention_policy(
    oai: openai.AsyncOpenAI, fp: FakeProvider
) -> None:
    fp.set_fault("tools:mention")
    shell = {
        "type": "function",
        "name": "shell",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "array", "items": {"type": "string"}}},
            "required": ["command"],
        },
    }
    namespace = {"type": "namespace", "name": "ns", "description": "nested", "tools": [shell]}
    hosted: list[Any] = [
        {"type": "web_search", "external_web_access": False},
        {"type": "tool_search", "execution": "client", "parameters": {}},
    ]
    tools: Any = [EXEC_TOOL, PATCH_TOOL, *hosted]
    r = await oai.responses.create(model="gpt-5.5", input="say hi", tools=tools)
    assert r.output_text == "Hello from fake-openai: say hi"
    r = await oai.responses.create(model="gpt-5.5", input="please ls here", tools=[namespace, *hosted])
    assert r.output[0].type == "function_call" and json.loads(r.output[0].arguments) == {"command": ["ls"]}
    r = await oai.responses.create(model="gpt-5.5", input="write a file", tools=tools)
    assert r.output[0].type == "custom_tool_call" and "Add File: hello.txt" in r.output[0].input


async def test_responses_truncated_at_max_output_tokens(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    r = await oai.responses.create(model="gpt-5.5", input="say hi", max_output_tokens=2)
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens" and r.output_text == "Hello from "
    status, frames = await raw_responses(fp, {"model": "gpt-5.5", "input": "say hi", "max_output_tokens": 2})
    assert frames[-1][0] == "response.incomplete"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("status:400", openai.BadRequestError),
        ("status:429:retry-after=2", openai.RateLimitError),
        ("status:500", openai.InternalServerError),
        ("status:401", openai.AuthenticationError),
    ],
)
async def test_responses_error_statuses(oai: openai.AsyncOpenAI, spec: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        await oai.responses.create(model="gpt-5.5", input="hi", extra_headers={"x-fake-fault": spec})
    assert set(caught.value.body) == {"message", "type", "param", "code"}  # type: ignore[attr-defined]


async def test_responses_mid_stream_failures(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    status, frames = await raw_responses(fp, {"model": "gpt-5.5@fault=error-mid-stream", "input": "say hi"})
    assert status == 200 and frames[-1][0] == "response.failed"
    assert [d["sequence_number"] for _, d in frames] == list(range(len(frames)))
    assert frames[-1][1]["response"]["status"] == "failed" and frames[-1][1]["response"]["error"]["code"]
    assert "".join(d.get("delta", "") for _, d in frames) == "Hello from "
    fp.set_fault("break-mid-stream")
    with pytest.raises(openai.APIConnectionError):
        stream = await oai.responses.create(model="gpt-5.5", input="say hi", stream=True)
        async for _ in stream:
            pass
    assert fp.last_request.dropped


async def test_responses_no_usage(oai: openai.AsyncOpenAI, fp: FakeProvider) -> None:
    fp.set_fault("no-usage")
    assert (await oai.responses.create(model="gpt-5.5", input="hi")).usage is None


async def test_responses_compact_endpoint(fp: FakeProvider) -> None:
    history = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first question"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "an answer"}]},
    ]
    status, raw = await raw_post(
        fp.openai_base_url + "/responses/compact",
        {"model": "gpt-5.5", "input": history, "instructions": "Summarise."},
        {"Authorization": "Bearer k"},
    )
    body = json.loads(raw)
    assert status == 200 and body["object"] == "response.compaction"
    # As OpenAI documents it: every user message, then a single compaction item.
    assert [i["type"] for i in body["output"]] == ["message", "compaction"]
    assert body["output"][1]["encrypted_content"] == fp.issued_compactions[0]
    assert body["output"][0]["role"] == "user" and body["output"][0]["content"][0]["text"] == "first question"
    assert body["usage"]["input_tokens"] > 0
    # Validated by the SDK's models (its CompactedResponse types `output` as output items only, so the
    # user messages are left out of that check).
    assert ResponseCompactionItem.model_validate(body["output"][1]).encrypted_content
    assert ResponseUsage.model_validate(body["usage"]).input_tokens_details.cache_write_tokens == 0
    status, raw = await raw_post(
        fp.openai_base_url + "/responses/compact",
        {"model": "gpt-5.5", "input": history},
        {"Authorization": "Bearer k", "x-fake-fault": "status:503"},
    )
    assert status == 503


async def test_responses_compaction_trigger_answers_one_compaction_item(fp: FakeProvider) -> None:
    history: list[Any] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]},
        {"type": "compaction_trigger"},
    ]
    status, frames = await raw_responses(
        fp, {"model": "gpt-5.5", "input": history, "tools": [EXEC_TOOL], **CODEX_LIKE}
    )
    done = [d["item"] for e, d in frames if e == "response.output_item.done"]
    assert [i["type"] for i in done] == ["compaction"] and done[0][
        "encrypted_content"
    ] == fp.issued_compactions[0]
    assert frames[-1][1]["response"]["output"] == done


def test_shell_arguments_follow_the_schema() -> None:
    assert shell_arguments(EXEC_TOOL["parameters"], "ls") == {"cmd": "ls"}
    array = {
        "type": "object",
        "properties": {"command": {"type": "array"}, "workdir": {"type": "string"}},
        "required": ["command"],
    }
    assert shell_arguments(array, "ls") == {"command": ["ls"]}
    assert shell_arguments({"type": "object", "properties": {"command": {"type": "string"}}}, "ls") == {
        "command": "ls"
    }


async def test_anthropic_wire_plans_codex_tools_as_the_gateway_presents_them(
    ant: anthropic.AsyncAnthropic, fp: FakeProvider
) -> None:
    """Through the gateway, Codex's tools reach Anthropic as plain tools: exec_command, and apply_patch
    taking {"input": <patch>}. Listing calls exec_command with ls; creating a file calls apply_patch."""
    fp.set_fault("tools:mention")
    tools: Any = [
        {"name": "exec_command", "description": "Runs a command", "input_schema": EXEC_TOOL["parameters"]},
        {
            "name": "apply_patch",
            "description": "Edit files",
            "input_schema": {
                "type": "object",
                "properties": {"input": {"type": "string"}},
                "required": ["input"],
            },
        },
    ]
    m = await ant.messages.create(model="claude-x", max_tokens=64, tools=tools, messages=HI)
    assert m.content[0].type == "text"
    listing = [{"role": "user", "content": "List the files in the current directory."}]
    m = await ant.messages.create(model="claude-x", max_tokens=64, tools=tools, messages=listing)  # type: ignore[arg-type]
    assert m.content[0].type == "tool_use" and (m.content[0].name, m.content[0].input) == (
        "exec_command",
        {"cmd": "ls"},
    )
    create = [{"role": "user", "content": "Create a file named notes.md that says hello."}]
    m = await ant.messages.create(model="claude-x", max_tokens=64, tools=tools, messages=create)  # type: ignore[arg-type]
    patch = "*** Begin Patch\n*** Add File: notes.md\n+hello from fake\n*** End Patch\n"
    assert m.content[0].type == "tool_use" and (m.content[0].name, m.content[0].input) == (
        "apply_patch",
        {"input": patch},
    )


def _event_types() -> dict[str, Any]:
    """``response.completed`` -> ``ResponseCompletedEvent``, … for every event the SDK knows."""
    union = typing.get_args(ResponseStreamEvent)
    if union and typing.get_origin(union[0]) is typing.Union:  # Annotated[Union[...], discriminator]
        union = typing.get_args(union[0])
    return {name: cls for cls in union for name in typing.get_args(cls.model_fields["type"].annotation)}


EVENT_TYPES = _event_types()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"input": "say hi", **CODEX_LIKE}, id="text-with-reasoning"),
        pytest.param({"input": "list the files", "tools": [EXEC_TOOL]}, id="function-call"),
        pytest.param({"input": "create a file", "tools": [PATCH_TOOL], **CODEX_LIKE}, id="custom-tool-call"),
        pytest.param({"input": "say hi", "max_output_tokens": 2}, id="incomplete"),
        pytest.param(
            {"input": [{"role": "user", "content": "q"}, {"type": "compaction_trigger"}]}, id="compaction"
        ),
        pytest.param({"model": "gpt-5.5@fault=error-mid-stream", "input": "say hi"}, id="failed"),
    ],
)
async def test_responses_events_validate_against_the_sdk_types(
    fp: FakeProvider, body: dict[str, Any]
) -> None:
    """Validated (not just constructed) by the SDK's pydantic models: no required field is missing."""
    status, frames = await raw_responses(fp, {"model": "gpt-5.5", **body})
    events = [EVENT_TYPES[event].model_validate(data) for event, data in frames]
    assert status == 200 and [e.type for e in events] == [event for event, _ in frames]
    if "compaction" in json.dumps(body):
        assert "response.compaction.compacting" in [e.type for e in events]
    status, raw = await raw_post(
        fp.openai_base_url + "/responses", {"model": "gpt-5.5", **body}, {"Authorization": "Bearer k"}
    )
    if "fault" not in json.dumps(body):
        Response.model_validate(json.loads(raw))


async def test_responses_websocket_attempt_gets_426(fp: FakeProvider) -> None:
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Authorization": "Bearer k"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(fp.openai_base_url + "/responses", headers=headers) as resp,
    ):
        assert resp.status == 426 and (await resp.json())["error"]["message"]


async def test_hold_mid_stream_waits_for_a_release_then_sends_the_rest(
    oai: openai.AsyncOpenAI, fp: FakeProvider
) -> None:
    """``hold-mid-stream``: two content frames, then nothing until ``POST /_fake/release``; then the whole
    rest of the answer, closing frames included (held once: the tail frames are fault points too)."""
    fp.set_fault("hold-mid-stream")
    stream = await oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "one two three"}], stream=True
    )
    chunks = aiter(stream)
    got = [(await anext(chunks)).choices[0].delta.content for _ in range(3)]  # role, then two contents
    assert got[0] == "" and all(got[1:])
    nxt = asyncio.ensure_future(anext(chunks))
    await asyncio.sleep(0)  # the read is waiting; nothing may come while held (checked after the release)
    assert not nxt.done()
    status, _ = await raw_post(fp.base_url + "/_fake/release", {}, {})
    assert status == 200
    rest = [await nxt] + [chunk async for chunk in chunks]
    text = "".join(c.choices[0].delta.content or "" for c in rest if c.choices)
    assert "".join(str(g) for g in got[1:]) + text == "Hello from fake-openai: one two three"
    assert [c.choices[0].finish_reason for c in rest if c.choices][
        -1
    ] == "stop"  # the closing frames came too
