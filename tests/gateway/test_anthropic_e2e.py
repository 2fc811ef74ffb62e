"""Anthropic Messages and two-way translation through the real gateway and recorder processes.

Two fake providers sit behind the gateway: one speaking Anthropic (Claude models: passthrough for
Anthropic clients, translated for OpenAI clients) and one speaking OpenAI chat (GPT models: translated
for Anthropic clients). Clients are the official SDKs: anthropic 2.x (Bearer credentials), anthropic
0.7x (x-api-key, in a subprocess with the old SDK first on the path) and openai.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from shared.pricing import Pricer
from tests.fake_provider import FakeProvider, provider_urls, running
from tests.procs import ROOT, Stack, stack

CLIENT_KEY = "sk-ant-client-key-not-forwarded"
OLD_SDK = ROOT / ".venv" / "old-sdk"
BASH_TOOL = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
OPENAI_BASH_TOOL = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "Run a shell command",
        "parameters": BASH_TOOL["input_schema"],
    },
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with running("anthropic", "openai") as fps:
        yield fps


@pytest.fixture(autouse=True)
def clean_fakes(fakes: dict[str, FakeProvider]) -> None:
    for fp in fakes.values():
        fp.clear_fault()


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    urls = provider_urls(fakes)
    with stack(tmp_path_factory.mktemp("stack"), urls) as st:
        yield st


@pytest.fixture()
def ant(gw: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.gateway_url, api_key=CLIENT_KEY, max_retries=0)


@pytest.fixture()
def oai(gw: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)


def text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# ---- Anthropic client, Claude model: passthrough ---------------------------------------------------


def test_passthrough_plain_forwards_body_and_headers_untouched(
    gw: Stack, ant: anthropic.Anthropic, fakes: dict[str, FakeProvider]
) -> None:
    params: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "system": "be brief",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi claude", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    }
    raw = ant.messages.with_raw_response.create(**params, extra_headers={"anthropic-beta": "beta-a,beta-b"})
    message = raw.parse()
    assert "hi claude" in text_of(message)
    seen = fakes["anthropic"].last_request
    assert seen.json == params  # body untouched
    assert seen.headers["x-api-key"] == "sk-test-anthropic-secret-key"
    assert "authorization" not in seen.headers
    assert seen.headers["anthropic-beta"] == "beta-a,beta-b"
    assert seen.headers["anthropic-version"] == ant.default_headers.get(
        "anthropic-version", seen.headers["anthropic-version"]
    )
    row = gw.row_for(raw.headers["x-request-id"])
    assert (row["provider"], row["client_format"], row["provider_format"], row["translated"]) == (
        "anthropic",
        "anthropic",
        "anthropic",
        0,
    )
    assert row["input_tokens"] == message.usage.input_tokens
    assert row["output_tokens"] == message.usage.output_tokens
    assert row["cost_usd"] > 0


def test_passthrough_stream_with_cache_tokens(
    gw: Stack, ant: anthropic.Anthropic, fakes: dict[str, FakeProvider]
) -> None:
    fakes["anthropic"].set_fault("cache-read:20,cache-write:7")
    with ant.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "stream to me please " * 20}],
    ) as stream:
        request_id = stream.response.headers["x-request-id"]
        final = stream.get_final_message()
    assert "stream to me" in text_of(final)
    row = gw.row_for(request_id)
    assert row["streamed"] == 1 and row["translated"] == 0
    assert row["input_tokens"] == final.usage.input_tokens
    assert row["cache_read_tokens"] == final.usage.cache_read_input_tokens == 20
    assert row["cache_write_tokens"] == final.usage.cache_creation_input_tokens == 7
    assert row["output_tokens"] == final.usage.output_tokens > 0
    # Cache reads and writes are priced apart from plain input: the same prompt, uncached, costs otherwise.
    fakes["anthropic"].clear_fault()
    with ant.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "stream to me please " * 20}],
    ) as stream:
        plain_id = stream.response.headers["x-request-id"]
        # read to the end: a client that leaves mid-stream is recorded with what it got (flaky before)
        assert "stream to me" in text_of(stream.get_final_message())
    plain = gw.row_for(plain_id)
    assert (
        plain["cache_read_tokens"] == plain["cache_write_tokens"] == 0
        and plain["output_tokens"] == row["output_tokens"]
    )
    assert plain["input_tokens"] == row["input_tokens"] + 20 + 7
    rates = Pricer().rates("anthropic", "claude-haiku-4-5")
    assert rates is not None and rates.cache_read.at(0) < rates.input.at(0) < rates.cache_write.at(0)
    assert row["cost_usd"] == pytest.approx(rates.cost(row["input_tokens"], row["output_tokens"], 20, 7))
    assert plain["cost_usd"] == pytest.approx(rates.cost(plain["input_tokens"], plain["output_tokens"]))
    assert row["cost_usd"] != pytest.approx(plain["cost_usd"])


def tool_round_trip(ant: anthropic.Anthropic, model: str, stream: bool) -> tuple[str, list[str]]:
    first_msgs: list[dict[str, Any]] = [{"role": "user", "content": "list files please"}]
    ids: list[str] = []
    if stream:
        with ant.messages.stream(model=model, max_tokens=200, tools=[BASH_TOOL], messages=first_msgs) as s:
            ids.append(s.response.headers["x-request-id"])
            first = s.get_final_message()
    else:
        raw = ant.messages.with_raw_response.create(
            model=model, max_tokens=200, tools=[BASH_TOOL], messages=first_msgs
        )
        ids.append(raw.headers["x-request-id"])
        first = raw.parse()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "Bash" and call.input == {"command": "ls"}
    second_msgs = first_msgs + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": [{"type": "text", "text": "README.md\nsecret_plan.txt"}],
                }
            ],
        },
    ]
    if stream:
        with ant.messages.stream(model=model, max_tokens=200, tools=[BASH_TOOL], messages=second_msgs) as s:
            ids.append(s.response.headers["x-request-id"])
            second = s.get_final_message()
    else:
        raw = ant.messages.with_raw_response.create(
            model=model, max_tokens=200, tools=[BASH_TOOL], messages=second_msgs
        )
        ids.append(raw.headers["x-request-id"])
        second = raw.parse()
    assert second.stop_reason == "end_turn"
    return text_of(second), ids


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "provider", "translated"), [("claude-haiku-4-5", "anthropic", 0), ("gpt-4o-mini", "openai", 1)]
)
def test_anthropic_client_tool_round_trip(
    gw: Stack, ant: anthropic.Anthropic, model: str, provider: str, translated: int, stream: bool
) -> None:
    answer, ids = tool_round_trip(ant, model, stream)
    assert "secret_plan.txt" in answer
    for rid in ids:
        row = gw.row_for(rid)
        assert (row["provider"], row["translated"], row["streamed"]) == (provider, translated, int(stream))
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0 and row["cost_usd"] > 0


# ---- Anthropic client, GPT model: translated ---------------------------------------------------------


def test_translated_plain_and_forwarded_as_openai(
    gw: Stack, ant: anthropic.Anthropic, fakes: dict[str, FakeProvider]
) -> None:
    raw = ant.messages.with_raw_response.create(
        model="gpt-4o-mini",
        max_tokens=20000,
        system=[{"type": "text", "text": "sys prompt"}],
        messages=[{"role": "user", "content": "translate me"}],
        stop_sequences=["END"],
        extra_body={"temperature": 0.5},
    )
    message = raw.parse()
    assert message.model == "gpt-4o-mini" and message.stop_reason == "end_turn"
    assert "translate me" in text_of(message)
    seen = fakes["openai"].last_request
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer sk-test-openai-secret-key"
    assert seen.json["messages"][0] == {"role": "system", "content": "sys prompt"}
    assert seen.json["stop"] == ["END"] and seen.json["temperature"] == 0.5
    row = gw.row_for(raw.headers["x-request-id"])
    assert (row["provider"], row["client_format"], row["provider_format"], row["translated"]) == (
        "openai",
        "anthropic",
        "openai_chat",
        1,
    )
    assert row["input_tokens"] == message.usage.input_tokens
    assert row["output_tokens"] == message.usage.output_tokens


def test_translated_stream_has_event_lines_and_usage(gw: Stack) -> None:
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "frames please"}],
    }
    with httpx.stream(
        "POST",
        gw.gateway_url + "/v1/messages?beta=true",
        json=body,
        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
    ) as resp:
        assert resp.status_code == 200
        text = resp.read().decode()
    frames = [f for f in text.split("\n\n") if f.strip()]
    names = []
    for frame in frames:
        lines = frame.split("\n")
        assert lines[0].startswith("event: "), frame  # every frame has an event line
        name = lines[0][7:]
        data = json.loads(lines[1][6:])
        assert data["type"] == name
        names.append(name)
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert "content_block_delta" in names and "message_delta" in names
    delta = json.loads(frames[names.index("message_delta")].split("\n")[1][6:])
    assert delta["usage"]["output_tokens"] > 0 and delta["usage"]["input_tokens"] > 0


def test_translated_error_mid_stream_becomes_error_event(
    gw: Stack, ant: anthropic.Anthropic, fakes: dict[str, FakeProvider]
) -> None:
    fakes["openai"].set_fault("error-mid-stream")
    with pytest.raises(anthropic.APIStatusError):
        with ant.messages.stream(
            model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "will break"}]
        ) as s:
            s.get_final_message()
    rows = gw.wait_rows("model = ? AND status >= 400 AND streamed = 1", ("gpt-4o-mini",))
    assert rows and rows[-1]["error_type"]


def test_overloaded_upstream_maps_to_529_for_anthropic_clients(
    gw: Stack, ant: anthropic.Anthropic, fakes: dict[str, FakeProvider]
) -> None:
    fakes["openai"].set_fault("status:503")
    with pytest.raises(anthropic.APIStatusError) as info:
        ant.messages.create(model="gpt-4o-mini", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    fakes["anthropic"].set_fault("status:529")
    with pytest.raises(anthropic.APIStatusError) as info2:
        ant.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info2.value.status_code == 529


def test_missing_max_tokens_is_an_anthropic_400(gw: Stack) -> None:
    resp = httpx.post(
        gw.gateway_url + "/v1/messages",
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": CLIENT_KEY},
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"] and resp.headers["request-id"]


@pytest.mark.parametrize(
    ("raw_value", "message"),
    [
        ("null", "max_tokens: Input should be a valid integer"),  # present: judged by its type
        ("1e30", "max_tokens: Input should be a valid integer"),
        ('"100"', "max_tokens: Input should be a valid integer"),
        ("true", "max_tokens: Input should be a valid integer"),
        ("0", "max_tokens: Input should be greater than or equal to 1"),
        ("-5", "max_tokens: Input should be greater than or equal to 1"),
    ],
)
def test_a_wrong_max_tokens_is_named_as_anthropic_words_it(gw: Stack, raw_value: str, message: str) -> None:
    # present but wrong is not "Field required" (Anthropic's Pydantic wording; raw JSON: 1e30 is a float)
    raw = (
        '{"model": "claude-haiku-4-5", "max_tokens": '
        + raw_value
        + ', "messages": [{"role": "user", "content": "x"}]}'
    )
    for model in ("claude-haiku-4-5", "gpt-4o-mini"):  # passthrough and translated to chat
        for stream in ("", ', "stream": true'):  # a streamed request's 400 is JSON too, before any event
            resp = httpx.post(
                gw.gateway_url + "/v1/messages",
                content=raw.replace("claude-haiku-4-5", model).replace("}]}", "}]" + stream + "}").encode(),
                headers={"x-api-key": CLIENT_KEY, "content-type": "application/json"},
            )
            assert resp.status_code == 400, (model, stream, resp.text)
            assert resp.headers["content-type"].startswith("application/json"), resp.headers
            body = resp.json()
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["message"] == message, (model, stream, body)


def test_unknown_model_is_an_anthropic_404(gw: Stack, ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        ant.messages.create(
            model="nonexistent-model-q", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert "available" in str(info.value)


# ---- OpenAI client, Claude model: translated ---------------------------------------------------------


def test_openai_client_to_claude_plain(gw: Stack, oai: openai.OpenAI, fakes: dict[str, FakeProvider]) -> None:
    fakes["anthropic"].set_fault("cache-read:10")
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-haiku-4-5",
        messages=[
            {"role": "system", "content": "sys one"},
            {"role": "developer", "content": "sys two"},
            {"role": "user", "content": "hello claude from openai"},
        ],
    )
    completion = raw.parse()
    assert "hello claude from openai" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 10
    seen = fakes["anthropic"].last_request
    assert seen.path == "/v1/messages" and seen.json["system"][0]["text"] == "sys one\nsys two"
    assert seen.json["max_tokens"] > 0 and seen.headers["x-api-key"] == "sk-test-anthropic-secret-key"
    row = gw.row_for(raw.headers["x-request-id"])
    assert (row["provider"], row["client_format"], row["translated"]) == ("anthropic", "openai_chat", 1)
    assert row["cache_read_tokens"] == 10
    assert row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"] == usage.prompt_tokens


def test_openai_client_to_claude_stream_include_usage(gw: Stack, oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="claude-haiku-4-5",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "stream claude"}],
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "stream claude" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert (
        chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    )


@pytest.mark.parametrize("stream", [False, True])
def test_openai_client_to_claude_tool_round_trip(gw: Stack, oai: openai.OpenAI, stream: bool) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "list the files"}]
    if stream:
        with oai.chat.completions.stream(
            model="claude-haiku-4-5",
            messages=messages,  # type: ignore[arg-type]
            tools=[OPENAI_BASH_TOOL],
        ) as s:  # type: ignore[list-item]
            first = s.get_final_completion()
    else:
        first = oai.chat.completions.create(
            model="claude-haiku-4-5",
            messages=messages,  # type: ignore[arg-type]
            tools=[OPENAI_BASH_TOOL],
        )  # type: ignore[list-item]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = (choice.message.tool_calls or [])[0]
    assert call.function.name == "Bash" and json.loads(call.function.arguments) == {"command": "ls"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "alpha.txt beta.txt"},
    ]
    second = oai.chat.completions.create(
        model="claude-haiku-4-5",
        messages=messages,  # type: ignore[arg-type]
        tools=[OPENAI_BASH_TOOL],
        stream=False,
    )  # type: ignore[list-item]
    assert "alpha.txt" in (second.choices[0].message.content or "")


def test_openai_client_gets_openai_errors_from_anthropic(
    gw: Stack, oai: openai.OpenAI, fakes: dict[str, FakeProvider]
) -> None:
    fakes["anthropic"].set_fault("status:429:retry-after=3")
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "x"}])
    assert set(info.value.body) >= {"message", "type"}  # type: ignore[arg-type]


# ---- the old SDK generation, count_tokens, models, preflight ----------------------------------------

OLD_CLIENT = r"""
import json, sys, anthropic
assert anthropic.__version__.startswith("0."), anthropic.__version__
c = anthropic.Anthropic(base_url=sys.argv[1], api_key="sk-old-client", max_retries=0)
out = {"version": anthropic.__version__}
for model in ("claude-haiku-4-5", "gpt-4o-mini"):
    raw = c.messages.with_raw_response.create(model=model, max_tokens=50,
                                              messages=[{"role": "user", "content": "old sdk " + model}])
    m = raw.parse()
    with c.messages.stream(model=model, max_tokens=50, messages=[{"role": "user", "content": "old stream"}]) as s:
        f = s.get_final_message()
    ids = [raw.headers["request-id"], s.response.headers["request-id"]]
    out[model] = [m.content[0].text, f.content[0].text, f.usage.output_tokens, ids]
print(json.dumps(out))
"""


def test_old_anthropic_sdk_generation(gw: Stack) -> None:
    assert OLD_SDK.exists(), "run `make old-sdk` (make test does) to install anthropic 0.7x"
    env = {**os.environ, "PYTHONPATH": str(OLD_SDK)}
    proc = subprocess.run(
        [sys.executable, "-c", OLD_CLIENT, gw.gateway_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + gw.logs()
    out = json.loads(proc.stdout)
    assert out["version"].startswith("0.7")
    for model, provider in (("claude-haiku-4-5", "anthropic"), ("gpt-4o-mini", "openai")):
        plain, streamed, output_tokens, ids = out[model]
        assert f"old sdk {model}" in plain and "old stream" in streamed and output_tokens > 0
        rows = [gw.row_for(request_id) for request_id in ids]  # the rows of these requests, no others
        assert [(r["model"], r["provider"], r["status"], r["streamed"]) for r in rows] == [
            (model, provider, 200, 0),
            (model, provider, 200, 1),
        ]
        assert rows[1]["output_tokens"] == output_tokens


def test_count_tokens_forwarded_for_claude_and_estimated_otherwise(
    gw: Stack, ant: anthropic.Anthropic, fakes: dict[str, FakeProvider]
) -> None:
    messages = [{"role": "user", "content": "count these tokens " * 10}]
    claude = ant.messages.count_tokens(model="claude-haiku-4-5", messages=messages)  # type: ignore[arg-type]
    seen = fakes["anthropic"].last_request
    assert seen.path == "/v1/messages/count_tokens" and claude.input_tokens > 0
    gpt = ant.messages.count_tokens(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    assert gpt.input_tokens == (len("count these tokens " * 10) + 3) // 4
    resp = httpx.post(
        gw.gateway_url + "/v1/messages/count_tokens?beta=true",
        json={"model": "gpt-4o-mini", "messages": messages},
        headers={"x-api-key": CLIENT_KEY},
    )
    assert resp.status_code == 200 and resp.json()["input_tokens"] == gpt.input_tokens


def test_models_in_both_shapes(gw: Stack, ant: anthropic.Anthropic, oai: openai.OpenAI) -> None:
    anthropic_ids = [m.id for m in ant.models.list(limit=1000)]
    openai_ids = [m.id for m in oai.models.list()]
    assert anthropic_ids and sorted(anthropic_ids) == sorted(openai_ids)
    assert any(i.startswith("claude") for i in anthropic_ids) and any(i.startswith("gpt") for i in openai_ids)
    raw = httpx.get(gw.gateway_url + "/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert {"data", "has_more", "first_id", "last_id"} <= set(raw) and raw["data"][0]["type"] == "model"


def test_head_preflight(gw: Stack) -> None:
    assert httpx.head(gw.gateway_url + "/").status_code == 200


def test_oversized_body_is_a_413_in_the_clients_format(gw: Stack) -> None:
    big = (
        b'{"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "'
        + b"x" * (33 * 1024 * 1024)
        + b'"}]}'
    )
    resp = httpx.post(
        gw.gateway_url + "/v1/messages",
        content=big,
        headers={"content-type": "application/json", "x-api-key": CLIENT_KEY},
        timeout=60,
    )
    assert resp.status_code == 413
    assert resp.json()["error"]["type"] == "request_too_large"
    row = gw.row_for(resp.headers["request-id"])
    assert row["status"] == 413 and row["error_type"] == "request_too_large"
