"""The OpenAI Responses API (``POST /v1/responses``) through the real gateway and recorder processes.

Two fake providers sit behind the gateway: OpenAI (GPT models: the Responses request passes through to
its ``/v1/responses``) and Anthropic (Claude models: translated to Messages and back). Clients are the
openai SDK of today (3.x) and the previous generation (1.x, in a subprocess with ``.venv/old-sdk`` first
on the path): ``responses.create`` plain and streamed, the ``responses.stream`` accumulator, function
tools. Each call's ledger row is found by the response's ``x-request-id``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fake_provider import FakeProvider, RecordedRequest, provider_urls, running
from tests.procs import ROOT, Stack, stack

CLIENT_KEY = "sk-responses-client-key-not-forwarded"
OLD_SDK = ROOT / ".venv" / "old-sdk"
ROUTES = [
    pytest.param("gpt-4o-mini", "openai", id="gpt-passthrough"),
    pytest.param("claude-haiku-4-5", "anthropic", id="claude-translated"),
]
SHELL_TOOL: Any = {
    "type": "function",
    "name": "shell",
    "description": "Run a shell command",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
        "additionalProperties": False,
    },
    "strict": False,
}
REASONING: Any = {"reasoning": {"effort": "medium"}, "include": ["reasoning.encrypted_content"]}


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
def client(gw: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


def check_forwarded(call: RecordedRequest, model: str, provider: str, *, stream: bool) -> None:
    """The provider got its own wire and key, never the client's key."""
    assert CLIENT_KEY not in json.dumps(call.headers), call.headers
    assert call.json["model"] == model, call.json
    if provider == "openai":
        assert call.path == "/v1/responses", call.path
        assert call.headers["authorization"] == "Bearer sk-test-openai-secret-key"
        assert bool(call.json.get("stream")) == stream
    else:
        assert call.path == "/v1/messages", call.path
        key = call.headers.get("x-api-key") or call.headers.get("authorization", "").removeprefix("Bearer ")
        assert key == "sk-test-anthropic-secret-key", call.headers
        assert call.json["max_tokens"] > 0


def check_row(row: dict[str, Any], model: str, provider: str, usage: Any, *, streamed: bool) -> None:
    """The ledger row matches the usage the client saw (input includes cached tokens on this wire)."""
    assert row["status"] == 200 and row["error_type"] is None, row
    assert row["endpoint"] == "/v1/responses" and row["client_format"] == "openai_responses", row
    assert row["model"] == model and row["provider"] == provider, row
    assert row["translated"] == int(provider != "openai") and row["streamed"] == int(streamed), row
    assert row["attempts"] == 1, row
    cached = usage.input_tokens_details.cached_tokens if usage.input_tokens_details else 0
    assert row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"] == usage.input_tokens, (
        row
    )
    assert row["cache_read_tokens"] == cached, row
    assert row["output_tokens"] == usage.output_tokens > 0, row
    reasoning = usage.output_tokens_details.reasoning_tokens if usage.output_tokens_details else 0
    assert row["reasoning_tokens"] == reasoning, row
    assert row["cost_usd"] is not None and row["cost_usd"] > 0, row


def ledger_since(gw: Stack, since: float, model: str, n: int) -> list[dict[str, Any]]:
    where = "endpoint = '/v1/responses' AND model = ? AND started_at >= ? ORDER BY started_at"
    gw.wait_rows(where, (model, since), n)
    # Handshake, not a sleep: a request sent now is recorded after any late row of the ones before it.
    marker = f"ledger-marker-{time.monotonic_ns()}"
    httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        headers={"x-request-id": marker},
        json={"model": "no-such-model-marker", "messages": [{"role": "user", "content": "x"}]},
    )
    gw.row_for(marker)
    rows = gw.rows(where, (model, since))
    assert len(rows) == n, json.dumps(rows, indent=1) + gw.logs()
    return rows


# ---- plain and streamed text ----------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_plain_response(
    gw: Stack, client: openai.OpenAI, fakes: dict[str, FakeProvider], model: str, provider: str
) -> None:
    fakes[provider].set_fault("cache-read:4")
    raw = client.responses.with_raw_response.create(
        model=model, input="hello responses", instructions="Be brief."
    )
    r = raw.parse()
    assert r.object == "response" and r.status == "completed" and r.model.startswith(model)
    assert r.output_text == f"Hello from fake-{provider}: hello responses"
    assert [i.type for i in r.output] == ["message"]
    assert r.usage is not None and r.usage.input_tokens > 4 and r.usage.output_tokens == 5
    assert r.usage.input_tokens_details.cached_tokens == 4
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens

    call = fakes[provider].last_request
    check_forwarded(call, model, provider, stream=False)
    if provider == "anthropic":
        assert call.json["system"] and "Be brief." in json.dumps(call.json["system"])
    else:
        assert call.json["instructions"] == "Be brief." and call.json["input"] == "hello responses"
    check_row(gw.row_for(raw.headers["x-request-id"]), model, provider, r.usage, streamed=False)


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_streamed_events(
    gw: Stack, client: openai.OpenAI, fakes: dict[str, FakeProvider], model: str, provider: str
) -> None:
    with client.responses.with_streaming_response.create(
        model=model, input=[{"role": "user", "content": "stream me"}], stream=True
    ) as resp:
        request_id = resp.headers["x-request-id"]
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = list(resp.parse())
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed", (
        types
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added = [e.item.id for e in events if e.type == "response.output_item.added"]
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert added == [i.id for i in done] and [i.type for i in done][-1] == "message", types
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == f"Hello from fake-{provider}: stream me"
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == text and final.usage is not None and final.status == "completed"

    check_forwarded(fakes[provider].last_request, model, provider, stream=True)
    check_row(gw.row_for(request_id), model, provider, final.usage, streamed=True)


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_stream_accumulator(gw: Stack, client: openai.OpenAI, model: str, provider: str) -> None:
    since = time.time()
    with client.responses.stream(model=model, input="accumulate me", **REASONING) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == f"Hello from fake-{provider}: accumulate me"
    assert final.output[-1].type == "message" and final.usage is not None
    (row,) = ledger_since(gw, since, model, 1)
    check_row(row, model, provider, final.usage, streamed=True)


# ---- tools ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_function_tool_round_trip(
    gw: Stack, client: openai.OpenAI, fakes: dict[str, FakeProvider], model: str, provider: str
) -> None:
    raw = client.responses.with_raw_response.create(model=model, input="list the files", tools=[SHELL_TOOL])
    first = raw.parse()
    calls = [i for i in first.output if i.type == "function_call"]
    assert (
        len(calls) == 1 and calls[0].name == "shell" and json.loads(calls[0].arguments) == {"command": "ls"}
    )
    call = calls[0]
    assert call.call_id and first.status == "completed"
    check_row(gw.row_for(raw.headers["x-request-id"]), model, provider, first.usage, streamed=False)

    history: list[Any] = [
        {"role": "user", "content": "list the files"},
        *[i.model_dump(exclude_none=True) for i in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "alpha.txt beta.txt"},
    ]
    raw2 = client.responses.with_raw_response.create(model=model, input=history, tools=[SHELL_TOOL])
    second = raw2.parse()
    assert second.output_text == "Tool said: alpha.txt beta.txt"
    check_row(gw.row_for(raw2.headers["x-request-id"]), model, provider, second.usage, streamed=False)

    sent = fakes[provider].last_request
    if provider == "openai":
        assert [o["output"] for o in sent.items("function_call_output")] == ["alpha.txt beta.txt"]
        assert [c["call_id"] for c in sent.items("function_call")] == [call.call_id]
    else:
        uses = [
            b
            for m in sent.json["messages"]
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_use"
        ]
        results = [
            b
            for m in sent.json["messages"]
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_result"
        ]
        assert [(u["name"], u["input"]) for u in uses] == [("shell", {"command": "ls"})], sent.json[
            "messages"
        ]
        assert [r["tool_use_id"] for r in results] == [uses[0]["id"]]
        assert "alpha.txt beta.txt" in json.dumps(results[0]["content"])
        tools = {t["name"]: t for t in sent.json["tools"]}
        assert tools["shell"]["input_schema"]["properties"] == {"command": {"type": "string"}}


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_streamed_function_call(gw: Stack, client: openai.OpenAI, model: str, provider: str) -> None:
    since = time.time()
    with client.responses.stream(model=model, input="list the files", tools=[SHELL_TOOL]) as stream:
        arg_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    calls = [i for i in final.output if i.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "shell" and "".join(arg_deltas) == calls[0].arguments
    assert json.loads(calls[0].arguments) == {"command": "ls"} and calls[0].status == "completed"
    (row,) = ledger_since(gw, since, model, 1)
    check_row(row, model, provider, final.usage, streamed=True)


# ---- reasoning (passthrough keeps OpenAI's encrypted reasoning byte for byte) -----------------


def test_reasoning_passthrough_round_trip(
    gw: Stack, client: openai.OpenAI, fakes: dict[str, FakeProvider]
) -> None:
    fake = fakes["openai"]
    with client.responses.with_streaming_response.create(
        model="gpt-5", input="list the files", tools=[SHELL_TOOL], stream=True, store=False, **REASONING
    ) as resp:
        request_id = resp.headers["x-request-id"]
        events = list(resp.parse())
    final = events[-1].response  # type: ignore[union-attr]
    reasoning = [i for i in final.output if i.type == "reasoning"]
    assert [r.encrypted_content for r in reasoning] == fake.issued_reasoning[-1:], reasoning
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens > 0
    row = gw.row_for(request_id)
    assert row["reasoning_tokens"] == final.usage.output_tokens_details.reasoning_tokens > 0, row

    call = next(i for i in final.output if i.type == "function_call")
    history: list[Any] = [
        {"role": "user", "content": "list the files"},
        *[i.model_dump(exclude_none=True) for i in final.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "README.md"},
    ]
    second = client.responses.create(
        model="gpt-5", input=history, tools=[SHELL_TOOL], store=False, **REASONING
    )
    assert second.output_text == "Tool said: README.md"
    sent = fake.last_request
    assert [i["encrypted_content"] for i in sent.items("reasoning")] == [reasoning[0].encrypted_content]
    assert json.dumps(reasoning[0].encrypted_content).encode() in sent.raw, (
        "encrypted_content changed on its way"
    )


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_upstream_error_in_openai_shape(
    gw: Stack, client: openai.OpenAI, fakes: dict[str, FakeProvider], model: str, provider: str
) -> None:
    fakes[provider].set_fault("status:429:retry-after=3")
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model=model, input="x")
    body = info.value.body
    assert isinstance(body, dict) and {"message", "type"} <= set(body), body
    row = gw.row_for(info.value.response.headers["x-request-id"])
    assert (
        row["status"] == 429 and row["client_format"] == "openai_responses" and row["provider"] == provider
    ), row


# ---- the previous SDK generation ----------------------------------------------------------------

OLD_CLIENT = r"""
import json, sys, openai
assert openai.__version__.startswith("1."), openai.__version__
c = openai.OpenAI(base_url=sys.argv[1], api_key="sk-old-client", max_retries=0)
tool = {"type": "function", "name": "shell", "description": "Run a shell command", "strict": False,
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}
out = {"version": openai.__version__}
for model in sys.argv[2:]:
    raw = c.responses.with_raw_response.create(model=model, input="old sdk " + model)
    plain = raw.parse()
    events = list(c.responses.create(model=model, input="old stream", stream=True))
    with c.responses.stream(model=model, input="list the files", tools=[tool]) as s:
        final = s.get_final_response()
    call = [i for i in final.output if i.type == "function_call"][0]
    out[model] = {"plain": plain.output_text, "request_id": raw.headers["x-request-id"],
                  "output_tokens": plain.usage.output_tokens,
                  "streamed": "".join(e.delta for e in events if e.type == "response.output_text.delta"),
                  "last_event": events[-1].type, "call": [call.name, json.loads(call.arguments)]}
print(json.dumps(out))
"""


def test_old_openai_sdk_generation(gw: Stack) -> None:
    assert OLD_SDK.exists(), "run `make old-sdk` (make test does) to install openai 1.x"
    env = {**os.environ, "PYTHONPATH": str(OLD_SDK)}
    models = ["gpt-4o-mini", "claude-haiku-4-5"]
    proc = subprocess.run(
        [sys.executable, "-c", OLD_CLIENT, gw.gateway_url + "/v1", *models],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + gw.logs()
    out = json.loads(proc.stdout)
    assert out["version"].startswith("1.")
    for model, provider in zip(models, ("openai", "anthropic"), strict=True):
        got = out[model]
        assert got["plain"] == f"Hello from fake-{provider}: old sdk {model}" and got["output_tokens"] > 0
        assert got["streamed"] == f"Hello from fake-{provider}: old stream"
        assert got["last_event"] == "response.completed"
        assert got["call"] == ["shell", {"command": "ls"}]
        row = gw.row_for(got["request_id"])
        assert row["client_format"] == "openai_responses" and row["provider"] == provider, row
        assert row["output_tokens"] == got["output_tokens"] and row["status"] == 200, row


# ---- remote compaction ----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), ROUTES)
def test_compact_cannot_stream(gw: Stack, fakes: dict[str, FakeProvider], model: str, provider: str) -> None:
    """``/v1/responses/compact`` answers one JSON object: ``stream: true`` is the client's mistake (400), not an
    empty stream blamed on every provider in turn."""
    before = len(fakes[provider].requests)
    resp = httpx.post(
        gw.gateway_url + "/v1/responses/compact",
        json={"model": model, "input": "hi", "stream": True},
        timeout=30,
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "stream", resp.text
    assert len(fakes[provider].requests) == before  # nothing was sent
    row = gw.row_for(resp.headers["x-request-id"])
    assert row["status"] == 400 and row["failed_attempts"] in ("[]", []), row
