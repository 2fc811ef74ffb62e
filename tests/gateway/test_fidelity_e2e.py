"""Faithful translation and Claude Code's gateway protocol through the real gateway and recorder processes
(issue 9): each bugcase of ../shared/bugcases/ replayed against a scripted upstream, its right value
asserted, plus other instances of the same kinds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from shared.sse import SSEDecoder, SSEEvent
from tests.e2e_builders import LLAMACPP_OVERFLOW
from tests.procs import Stack, stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, json_answer, sse
from tests.thinking_refusals import invalid_request, text_then_tool_turn

KEEPALIVE_S = 1.0
CATALOG = """
[[providers]]
name = "local"
base_url = "{up}/local/v1"
models = ["local-llama", "llama-3.1-8b-instruct"]
price = {{ input = 0.20, output = 0.60 }}

[[providers]]
name = "deepseek"
base_url = "{up}/deepseek/v1"
models = ["deepseek-chat", "strict-chat", "roomy-chat", "pydantic-chat", "vertex-chat", "kimi-chat", "inband-chat",
          "window-chat", "inband-window-chat", "scaleway-chat", "gofield-chat", "tgi-chat", "tgi-window-chat",
          "cerebras-chat", "cerebras-full-chat", "llamacpp-chat", "ernie-chat", "tgi-stream-chat",
          "ollama-chat", "zai-chat", "grouped-chat",
          "litellm-chat"]
price = {{ input = 0.27, output = 1.10 }}

[[providers]]
name = "configured"
base_url = "{up}/configured/v1"
models = ["house-model", "house-small"]
max_output_tokens = 4096
limits = {{ "house-small" = {{ max_output_tokens = 1024, context_window = 8192 }} }}
"""
# providers of one model each, NAME-chat at deepseek-chat's price: the upstreams of tests that need one of their own
ONE_MODEL = ("capped", "resetonly", "resetshort", "bodyreset", "inbandreset", "unpaid", "unpaid-too")
LOCAL = "/local/v1/chat/completions"
OPENAI = "/openai/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
XAI = "/xai/v1/chat/completions"
AV = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("fidelity")
    catalog = tmp / "catalog.toml"
    one_model = (
        f'[[providers]]\nname = "{n}"\nbase_url = "{up.url}/{n}/v1"\nmodels = ["{n}-chat"]\n'
        "price = { input = 0.27, output = 1.10 }\n"
        for n in ONE_MODEL
    )
    catalog.write_text(CATALOG.format(up=up.url) + "\n" + "\n".join(one_model))
    providers = {
        "openai": f"{up.url}/openai/v1",
        "anthropic": f"{up.url}/anthropic",
        "xai": f"{up.url}/xai/v1",
    }
    with stack(tmp, providers, CATALOG_PATH=str(catalog), STREAM_KEEPALIVE_S=str(KEEPALIVE_S)) as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


def frames(*objs: Any, event: bool = False) -> list[bytes]:
    """One SSE event per piece; ``event`` adds Anthropic-style ``event:`` lines."""
    out = []
    for o in objs:
        if isinstance(o, bytes):
            out.append(o)
            continue
        head = f"event: {o['type']}\n".encode() if event else b""
        out.append(head + b"data: " + json.dumps(o).encode() + b"\n\n")
    return out


def chat_chunk(
    model: str,
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    choices = (
        []
        if delta is None and finish is None
        else [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}]
    )
    obj: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1775000000,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        obj["usage"] = usage
    return obj


def assert_rows(gw: Stack, rids: Sequence[str], want: tuple[int, str | None, int, int]) -> None:
    """Each request's ledger row has ``want``: (status, error_type, input_tokens, output_tokens)."""
    for rid in rids:
        row = gw.row_for(rid)
        assert (row["status"], row["error_type"], row["input_tokens"], row["output_tokens"]) == want, rid


def client_events(raw: bytes) -> list[SSEEvent]:
    dec = SSEDecoder()
    return dec.feed(raw) + dec.flush()


def anthropic_assembled(raw: bytes) -> dict[str, Any]:
    text, stop, stopped, errors, pings = "", None, False, [], 0
    for ev in client_events(raw):
        if ev.comment:
            continue
        obj = json.loads(ev.data)
        if obj["type"] == "content_block_delta" and obj["delta"]["type"] == "text_delta":
            text += obj["delta"]["text"]
        elif obj["type"] == "message_delta":
            stop = obj["delta"]["stop_reason"]
        elif obj["type"] == "message_stop":
            stopped = True
        elif obj["type"] == "error":
            errors.append(obj["error"])
        elif obj["type"] == "ping":
            pings += 1
    return {"text": text, "stop_reason": stop, "stopped": stopped, "errors": errors, "pings": pings}


def post(
    gw: Stack,
    path: str,
    body: dict[str, Any],
    rid: str,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> httpx.Response:
    return httpx.post(
        gw.gateway_url + path,
        json=body,
        timeout=timeout,
        headers={"x-request-id": rid, "authorization": "Bearer client", **(headers or {})},
    )


def messages_stream(gw: Stack, model: str, rid: str, content: str = "Say hello.") -> httpx.Response:
    """A streamed Anthropic Messages request through the gateway: one user message, ``max_tokens`` 100."""
    body = {
        "model": model,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": content}],
    }
    return post(gw, "/v1/messages", body, rid, AV)


# ---- kind 1: tool calls close with JSON-object arguments (bugcase 01) --------------------------------

CASE01 = frames(
    {
        "type": "message_start",
        "message": {
            "id": "msg_01FakeSnooze",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 352, "output_tokens": 1},
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_01FakeSnooze", "name": "snooze", "input": {}},
    },
    {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 31},
    },
    {"type": "message_stop"},
    event=True,
)


def test_case01_tool_without_arguments_reaches_openai_sdk_as_empty_object(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(ANTHROPIC, sse(CASE01))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(
        model="claude-sonnet-4-5",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Press the snooze button for me."}],
        tools=[
            {
                "type": "function",
                "function": {"name": "snooze", "parameters": {"type": "object", "properties": {}}},
            }
        ],
    )
    args: dict[int, str] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                args[call.index] = args.get(call.index, "") + (
                    (call.function and call.function.arguments) or ""
                )
            finish = choice.finish_reason or finish
    assert args == {0: "{}"} and json.loads(args[0]) == {}
    assert finish == "tool_calls"


# ---- kind 2: completion is semantic (bugcase 13) -------------------------------------------------------

CASE13 = frames(
    chat_chunk("local-llama", {"role": "assistant", "content": "Hello"}),
    chat_chunk("local-llama", {"content": " there!"}),
    chat_chunk("local-llama", {}, "stop"),
    chat_chunk("local-llama", usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}),
)  # and no `data: [DONE]`


def test_case13_stream_without_done_is_a_success(gw: Stack, up: ScriptedUpstream) -> None:
    for _ in range(8):
        up.script(LOCAL, sse(CASE13))
    a = post(
        gw,
        "/v1/chat/completions",
        {"model": "local-llama", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]},
        "t13-a",
    )
    events = [json.loads(e.data) for e in client_events(a.content) if not e.comment and e.data != "[DONE]"]
    assert not [e for e in events if "error" in e]
    assert "".join(c["delta"].get("content") or "" for e in events for c in e["choices"]) == "Hello there!"
    # the stream ends as OpenAI's do (s7 variant 13-g: passed through without its [DONE])
    assert a.content.endswith(b"data: [DONE]\n\n") and a.content.count(b"[DONE]") == 1
    b = messages_stream(gw, "local-llama", "t13-b")
    got = anthropic_assembled(b.content)
    assert got["text"] == "Hello there!" and got["stopped"] and not got["errors"]
    assert_rows(gw, ("t13-a", "t13-b"), (200, None, 12, 3))
    for n in range(6):  # healthy answers never bench the provider
        r = post(
            gw,
            "/v1/chat/completions",
            {"model": "local-llama", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]},
            f"t13-{n}",
        )
        assert r.status_code == 200
    health = httpx.get(gw.gateway_url + "/health").json()["providers"]["local"]
    assert health.get("state") != "cooling_down"


def billed_both_ways(gw: Stack, up: ScriptedUpstream, last: dict[str, Any], rid: str, i: int, o: int) -> None:
    """local-llama's stream of 40 text chunks (a read long enough to scan) ending in the chunk ``last``, to a chat
    client (passed through; request ``RID-a``) and a Messages one (translated; ``RID-b``): the Messages client is
    told ``o`` output tokens, and each row has ``i`` input and ``o`` output tokens, priced at local-llama's rates."""
    tokens = [chat_chunk("local-llama", {"content": f"w{n} "}) for n in range(40)]
    body = frames(
        chat_chunk("local-llama", {"role": "assistant", "content": ""}), *tokens, last, b"data: [DONE]\n\n"
    )
    for _ in range(2):
        up.script(LOCAL, sse([b"".join(body)]))
    chat = {"model": "local-llama", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    assert post(gw, "/v1/chat/completions", chat, f"{rid}-a").status_code == 200
    b = post(gw, "/v1/messages", chat | {"max_tokens": 100}, f"{rid}-b", AV)
    told = [json.loads(e.data)["usage"] for e in client_events(b.content) if e.event == "message_delta"]
    assert told and told[-1]["output_tokens"] == o
    for each in (f"{rid}-a", f"{rid}-b"):
        row = gw.row_for(each)
        assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, i, o)
        assert row["cost_usd"] == pytest.approx((i * 0.20 + o * 0.60) / 1e6)


def test_usage_only_in_x_groq_is_billed_on_both_paths(gw: Stack, up: ScriptedUpstream) -> None:
    """s10 variant 28-g: a Groq-style stream reports its usage only in the last chunk's ``x_groq.usage``.
    Passed through (the scan must decode that frame) and translated, the ledger has the tokens and their cost
    (before: 0 tokens, cost 0), and an Anthropic client is told them."""
    last = chat_chunk("local-llama", {}, "stop") | {
        "x_groq": {"id": "req_1", "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}}
    }
    billed_both_ways(gw, up, last, "t28g", 50, 20)


def test_usage_in_other_servers_places_and_spellings_is_billed(gw: Stack, up: ScriptedUpstream) -> None:
    """s11 variants 28-a, 28-c, 29-a, 29-b: servers on the OpenAI wire that report billed usage elsewhere.
    Moonshot/Kimi streams put it in the finish chunk's ``choices[0].usage`` (before: 0 tokens, cost 0 on
    both paths); DeepSeek spells cache hits ``prompt_cache_hit_tokens`` and Kimi ``usage.cached_tokens``
    (before: every prompt token billed as uncached input); Perplexity gives its bill, request fee included,
    as ``usage.cost.total_cost`` (before: the tokens alone were priced)."""
    kimi = chat_chunk("local-llama", {}, "stop")
    kimi["choices"][0]["usage"] = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}
    billed_both_ways(gw, up, kimi, "t28a", 19, 13)

    def answer(usage: dict[str, Any]) -> dict[str, Any]:
        message = {"role": "assistant", "content": "Hi."}
        return {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "local-llama",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }

    hits = {"prompt_tokens": 1000, "completion_tokens": 50, "prompt_cache_hit_tokens": 800}
    up.script(LOCAL, json_answer(answer(hits)))
    up.script(LOCAL, sse(frames(chat_chunk("local-llama", {"content": "Hi."}, "stop", hits))))
    plain = {"model": "local-llama", "messages": [{"role": "user", "content": "hi"}]}
    assert post(gw, "/v1/chat/completions", plain, "t29a-a").status_code == 200
    b = post(gw, "/v1/messages", plain | {"max_tokens": 100, "stream": True}, "t29a-b", AV)
    told = [
        json.loads(e.data)["message"]["usage"] for e in client_events(b.content) if e.event == "message_start"
    ]
    told += [json.loads(e.data)["usage"] for e in client_events(b.content) if e.event == "message_delta"]
    assert told and (told[-1]["input_tokens"], told[-1]["cache_read_input_tokens"]) == (200, 800)
    up.script(
        LOCAL, json_answer(answer({"prompt_tokens": 2000, "completion_tokens": 30, "cached_tokens": 1500}))
    )
    assert post(gw, "/v1/chat/completions", plain, "t29b").status_code == 200
    for rid, want in (("t29a-a", (200, 800, 50)), ("t29a-b", (200, 800, 50)), ("t29b", (500, 1500, 30))):
        row = gw.row_for(rid)
        assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == want, rid

    bill = {
        "input_tokens_cost": 1.2e-05,
        "output_tokens_cost": 0.0002,
        "request_cost": 0.005,
        "total_cost": 0.005212,
    }
    up.script(LOCAL, json_answer(answer({"prompt_tokens": 12, "completion_tokens": 200, "cost": bill})))
    assert post(gw, "/v1/chat/completions", plain, "t28c").status_code == 200
    assert gw.row_for("t28c")["cost_usd"] == pytest.approx(0.005212)


def test_xai_bill_in_ticks_is_the_cost(gw: Stack, up: ScriptedUpstream) -> None:
    """s11 variant 28-f: xAI bills server-side tool calls ($5 per 1000 web searches) only inside its exact bill,
    ``usage.cost_in_usd_ticks`` (10^10 ticks per USD); passed through and translated, the ledger's cost is
    that bill (before: the tokens alone, $0.000375 of $0.010375)."""
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "total_tokens": 1150,
        "completion_tokens_details": {"reasoning_tokens": 100},
        "num_server_side_tools_used": 2,
        "cost_in_usd_ticks": 103_750_000,
    }
    message = {"role": "assistant", "content": "Found."}
    answer = {
        "id": "x1",
        "object": "chat.completion",
        "created": 1,
        "model": "grok-3-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage,
    }
    up.script(XAI, json_answer(answer))
    up.script(
        XAI,
        sse(
            frames(
                chat_chunk("grok-3-mini", {"role": "assistant", "content": "Found."}, "stop"),
                chat_chunk("grok-3-mini", usage=usage),
                b"data: [DONE]\n\n",
            )
        ),
    )
    chat = {"model": "grok-3-mini", "messages": [{"role": "user", "content": "Search."}]}
    assert post(gw, "/v1/chat/completions", chat, "t28f-a").status_code == 200
    assert (
        post(gw, "/v1/messages", chat | {"max_tokens": 100, "stream": True}, "t28f-b", AV).status_code == 200
    )
    for rid in ("t28f-a", "t28f-b"):
        row = gw.row_for(rid)
        assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (1000, 150, 100), rid
        assert row["cost_usd"] == pytest.approx(0.010375), rid


def test_passthrough_streams_get_their_closing_frame(gw: Stack, up: ScriptedUpstream) -> None:
    """s7 variant 13-g: a finished answer whose body ended without its closing frame reaches a client of
    the same API with it (chat's ``data: [DONE]``, Anthropic's ``message_stop``), once, also when the
    body's last frame lacks its blank line; a stream that had it is not given a second one."""
    up.script(XAI, sse([*CASE13[:3], CASE13[3]]))  # finish and usage, no [DONE]
    a = post(
        gw,
        "/v1/chat/completions",
        {"model": "grok-3", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        "t13-close-a",
    )
    assert a.content.endswith(b"\n\ndata: [DONE]\n\n") and a.content.count(b"[DONE]") == 1
    no_stop = CASE01[:-1]
    half_stop = [*no_stop, b"event: message_stop\n"]  # its first line only: ended before it is added
    for body in (no_stop, half_stop, CASE01):
        up.script(ANTHROPIC, sse(body))
        b = messages_stream(gw, "claude-sonnet-4-5", "t13-close-b", "x")
        got = anthropic_assembled(b.content)
        assert got["stopped"] and got["stop_reason"] == "tool_use" and not got["errors"]
        stops = [
            e for e in client_events(b.content) if e.data and json.loads(e.data)["type"] == "message_stop"
        ]
        assert len(stops) == 1


def test_body_broken_off_after_finish_and_usage_is_a_success(gw: Stack, up: ScriptedUpstream) -> None:
    """s10 variant 13-u: the connection closes without ending the body (no [DONE], chunked encoding
    unfinished) after the finish and usage chunks: the answer is complete, so each client gets its normal
    ending and the ledger a 200 with the tokens, as for a clean end of the body."""
    up.script(LOCAL, sse(CASE13, abort=True), sse(CASE13, abort=True))
    a = post(
        gw,
        "/v1/chat/completions",
        {"model": "local-llama", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]},
        "t13-abort-a",
    )
    events = [json.loads(e.data) for e in client_events(a.content) if not e.comment and e.data != "[DONE]"]
    assert not [e for e in events if "error" in e] and a.content.endswith(b"data: [DONE]\n\n")
    b = messages_stream(gw, "local-llama", "t13-abort-b")
    got = anthropic_assembled(b.content)
    assert got["text"] == "Hello there!" and got["stopped"] and not got["errors"]
    assert_rows(gw, ("t13-abort-a", "t13-abort-b"), (200, None, 12, 3))


def test_body_broken_off_before_its_finish_still_gets_an_error(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LOCAL, sse(CASE13[:2], abort=True))
    r = messages_stream(gw, "local-llama", "t13-abort-cut")
    got = anthropic_assembled(r.content)
    assert got["errors"] and not got["stopped"]
    assert gw.row_for("t13-abort-cut")["status"] == 502


def test_a_broken_stream_records_the_model_its_text_chunks_named(gw: Stack, up: ScriptedUpstream) -> None:
    """An OpenAI-compatible server that opens with ``"model":""`` and names its model in the text chunks,
    then breaks before its finish: the ledger's served model is the one the chunks named (the relay's
    first-token shortcut must not skip the chunk that names it; OpenAI's compact JSON, as servers send it)."""
    compact = [
        b"data: " + orjson.dumps(c) + b"\n\n"
        for c in (
            chat_chunk("", {"role": "assistant", "content": ""}),
            chat_chunk("local-llama-q4", {"content": "Hello"}),
            chat_chunk("local-llama-q4", {"content": " there"}),
        )
    ]
    up.script(LOCAL, sse(compact, abort=True))
    r = post(
        gw,
        "/v1/chat/completions",
        {"model": "local-llama", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]},
        "t13-model-late",
    )
    events = [json.loads(e.data) for e in client_events(r.content) if not e.comment and e.data != "[DONE]"]
    assert [e for e in events if "error" in e]  # broken before its finish: an error ends the stream
    row = gw.row_for("t13-model-late")
    assert (row["status"], row["served_model"]) == (502, "local-llama-q4")


def test_a_body_cut_inside_its_closing_frame_reaches_the_client_whole(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s10 variant 13-x: Claude Code (passthrough) had the beginning of message_stop when the body ended (and
    when the connection broke): the rest follows, so every event parses and there is one message_stop."""
    cut = [*CASE01[:-1], b'event: message_stop\ndata: {"ty']
    up.script(ANTHROPIC, sse(cut), sse(cut, abort=True))
    for n in range(2):
        b = messages_stream(gw, "claude-sonnet-4-5", f"t13-cut-stop-{n}", "x")
        events = [e for e in client_events(b.content) if e.data]
        assert [json.loads(e.data)["type"] for e in events].count("message_stop") == 1
        got = anthropic_assembled(b.content)
        assert got["stopped"] and got["stop_reason"] == "tool_use" and not got["errors"]
        assert gw.row_for(f"t13-cut-stop-{n}")["status"] == 200


def test_stream_cut_before_its_finish_still_gets_an_error(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LOCAL, sse(CASE13[:2]))
    r = messages_stream(gw, "local-llama", "t13-cut")
    got = anthropic_assembled(r.content)
    assert got["text"] == "Hello there!" and got["errors"] and not got["stopped"]
    assert gw.row_for("t13-cut")["status"] == 502


# ---- kind 7: SSE per the WHATWG spec (bugcase 18) -------------------------------------------------------

CASE18 = (
    b": keep-alive from the upstream\n\n"
    b"retry: 2500\nid: evt-1\n"
    b'data: {"id":"chatcmpl-1818","object":"chat.completion.chunk","created":1775000000,"model":"llama-3.1-8b-instruct","choices":[{"index":0,"delta":{"role":"assistant","content":"Two data lines,"},"logprobs":null,"finish_reason":null}]}\n\n'
    b"id: evt-2\n"
    b'data: {"id":"chatcmpl-1818","object":"chat.completion.chunk","created":1775000000,\n'
    b'data: "model":"llama-3.1-8b-instruct","choices":[{"index":0,"delta":{"content":" one event."},"logprobs":null,"finish_reason":null}]}\n\n'
    b": a comment between events\n"
    b"id: evt-3\n"
    b'data: {"id":"chatcmpl-1818","object":"chat.completion.chunk",\n'
    b'data: "created":1775000000,"model":"llama-3.1-8b-instruct",\n'
    b'data: "choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n'
    b"id: evt-4\n"
    b'data: {"id":"chatcmpl-1818","object":"chat.completion.chunk","created":1775000000,"model":"llama-3.1-8b-instruct","choices":[],\n'
    b'data: "usage":{"prompt_tokens":27,"completion_tokens":9,"total_tokens":36}}\n\n'
    b"data: [DONE]\n\n"
)
CASE18_PIECES: list[bytes | Pause] = [CASE18[i : i + 37] for i in range(0, len(CASE18), 37)]


def test_case18_multi_line_events_survive_the_passthrough(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LOCAL, sse(CASE18_PIECES), sse(CASE18_PIECES), sse(CASE18_PIECES))
    request = {
        "model": "llama-3.1-8b-instruct",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(**request, extra_headers={"x-request-id": "t18-a"}):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    assert (text, finish) == ("Two data lines, one event.", "stop")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (27, 9)

    raw = post(gw, "/v1/chat/completions", request, "t18-b").content
    events = [e for e in client_events(raw) if not e.comment and e.data != "[DONE]"]
    assert all(e.data for e in events), raw
    chunks = [json.loads(e.data) for e in events]  # every event parses
    assert "".join(c["delta"].get("content") or "" for ch in chunks for c in ch["choices"]) == text
    assert [e.id for e in events] == ["evt-1", "evt-2", "evt-3", "evt-4"]  # id: forwarded too

    c = messages_stream(gw, "llama-3.1-8b-instruct", "t18-c", "hi")
    got = anthropic_assembled(c.content)
    assert got["text"] == text and got["stop_reason"] == "end_turn" and not got["errors"]
    for rid in ("t18-a", "t18-b", "t18-c"):
        row = gw.row_for(rid)
        assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 27, 9), rid
        assert row["cost_usd"] == pytest.approx(0.0000108)


# ---- kind 8: keep-alives while the upstream is silent (bugcase 19) --------------------------------------

SILENCE_S = 3.5


def sse_events(response: httpx.Response) -> list[SSEEvent]:
    dec, out = SSEDecoder(), []
    for piece in response.iter_bytes():
        out += dec.feed(piece)
    return out


def silent_stream(fmt: str, before: str, after: str) -> tuple[str, list[bytes | Pause]]:
    """The upstream path and stream for a ``fmt`` client: ``before`` (no text when empty), a silence of
    SILENCE_S, then ``after``, the finish and usage (19 in, 8 out). The Anthropic client is translated from
    an OpenAI upstream; the chat client is relayed from Anthropic's wire."""
    if fmt == "anthropic":
        texts = [{"content": before}] if before else []
        return OPENAI, [
            *frames(*(chat_chunk("gpt-4o-mini", d) for d in [{"role": "assistant", "content": ""}, *texts])),
            Pause(SILENCE_S),
            *frames(
                chat_chunk("gpt-4o-mini", {"content": after}),
                chat_chunk("gpt-4o-mini", {}, "stop"),
                chat_chunk(
                    "gpt-4o-mini", usage={"prompt_tokens": 19, "completion_tokens": 8, "total_tokens": 27}
                ),
            ),
            b"data: [DONE]\n\n",
        ]
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

    def delta(text: str) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}

    opening = [start, delta(before)] if before else []
    return ANTHROPIC, [
        *CASE01[:1],
        *frames(*opening, event=True),
        Pause(SILENCE_S),
        *frames(
            *([] if before else [start]),
            delta(after),
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 8}},
            {"type": "message_stop"},
            event=True,
        ),
    ]


def ask_streamed(gw: Stack, fmt: str, rid: str, model: str | None = None) -> list[SSEEvent]:
    """One streamed request of a ``fmt`` client (its model as ``silent_stream`` scripts it, unless ``model``
    names another); its events, after checking the answer was a 200."""
    body = {
        "model": model or ("gpt-4o-mini" if fmt == "anthropic" else "claude-sonnet-4-5"),
        "max_tokens": 1024,
        "stream": True,
        "messages": [{"role": "user", "content": "6*7?"}],
    }
    endpoint = "/v1/messages" if fmt == "anthropic" else "/v1/chat/completions"
    with httpx.stream(
        "POST", gw.gateway_url + endpoint, json=body, timeout=30, headers={"x-request-id": rid, **AV}
    ) as r:
        assert r.status_code == 200
        return sse_events(r)


def assembled(timeline: list[SSEEvent]) -> dict[str, Any]:
    """An Anthropic client's stream as the SDK assembles it, from its decoded events (comments left out)."""
    return anthropic_assembled(
        b"".join(
            (f"event: {ev.event}\n".encode() if ev.event else b"") + b"data: " + ev.data.encode() + b"\n\n"
            for ev in timeline
            if not ev.comment
        )
    )


def keepalives(fmt: str, events: list[SSEEvent]) -> int:
    """The client format's keep-alives among ``events``: pings for Anthropic, SSE comments for OpenAI."""
    return sum(1 for ev in events if (ev.event == "ping" if fmt == "anthropic" else ev.comment))


@pytest.mark.parametrize("fmt", ["anthropic", "openai_chat"])
def test_case19_pings_during_upstream_silence(gw: Stack, up: ScriptedUpstream, fmt: str) -> None:
    path, pieces = silent_stream(fmt, "Let me think", " about that: 42.")
    up.script(path, sse(pieces))
    timeline = ask_streamed(gw, fmt, f"t19-{fmt}")
    # Order, not time: what the gateway sent between the text before the silence and the text after it.
    first = next(i for i, ev in enumerate(timeline) if "Let me think" in ev.data)
    resume = next(i for i, ev in enumerate(timeline) if "about that" in ev.data)
    assert first < resume
    # during the silence, not only once when the upstream speaks again
    assert keepalives(fmt, timeline[first + 1 : resume]) >= 2
    row = gw.row_for(f"t19-{fmt}")
    assert (row["status"], row["error_type"]) == (200, None)
    if fmt == "anthropic":
        got = assembled(timeline)
        assert got["text"] == "Let me think about that: 42." and got["stopped"] and not got["errors"]
        assert (row["input_tokens"], row["output_tokens"]) == (19, 8)


@pytest.mark.parametrize("fmt", ["anthropic", "openai_chat"])
def test_case19_silence_in_the_middle_of_a_passed_through_event(
    gw: Stack, up: ScriptedUpstream, fmt: str
) -> None:
    """s10 variant 19-f: a passed-through upstream that goes silent in the middle of an event (its first half
    sent) still gets the client its keep-alives: the half event is held back until its end, so the client is
    between two events. Before: nothing at all reached the client during the silence."""
    if fmt == "anthropic":
        path, model = ANTHROPIC, "claude-sonnet-4-5"
        start = [
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 19, "output_tokens": 1},
                },
            },
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Let me think"},
            },
        ]
        cut = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " about that: 42."},
        }
        end = [
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 8}},
            {"type": "message_stop"},
        ]
        head, middle, tail = frames(*start, event=True), frames(cut, event=True)[0], frames(*end, event=True)
    else:
        path, model = OPENAI, "gpt-4o-mini"
        head = frames(
            *(
                chat_chunk(model, d)
                for d in [{"role": "assistant", "content": ""}, {"content": "Let me think"}]
            )
        )
        middle = frames(chat_chunk(model, {"content": " about that: 42."}))[0]
        tail = frames(
            chat_chunk(model, {}, "stop"),
            chat_chunk(model, usage={"prompt_tokens": 19, "completion_tokens": 8, "total_tokens": 27}),
        ) + [b"data: [DONE]\n\n"]
    up.script(path, sse([*head, middle[:30], Pause(SILENCE_S), middle[30:], *tail]))
    body = {
        "model": model,
        "max_tokens": 1024,
        "stream": True,
        "messages": [{"role": "user", "content": "6*7?"}],
    }
    endpoint = "/v1/messages" if fmt == "anthropic" else "/v1/chat/completions"
    with httpx.stream(
        "POST",
        gw.gateway_url + endpoint,
        json=body,
        timeout=30,
        headers={"x-request-id": f"t19f-{fmt}", **AV},
    ) as r:
        assert r.status_code == 200
        timeline = sse_events(r)
    first = next(i for i, ev in enumerate(timeline) if "Let me think" in ev.data)
    resume = next(i for i, ev in enumerate(timeline) if "about that" in ev.data)
    assert keepalives(fmt, timeline[first + 1 : resume]) >= 2
    assert all(ev.comment or ev.data == "[DONE]" or json.loads(ev.data) for ev in timeline)  # no broken event
    row = gw.row_for(f"t19f-{fmt}")
    assert (row["status"], row["error_type"], row["output_tokens"]) == (200, None, 8)


@pytest.mark.parametrize("fmt", ["anthropic", "openai_chat"])
def test_case19_an_event_trickled_byte_by_byte_gets_keepalives(
    gw: Stack, up: ScriptedUpstream, fmt: str
) -> None:
    """s11 variants 19-f/19-g: the upstream is never silent for STREAM_KEEPALIVE_S, yet one event comes a few
    bytes at a time for several keep-alive periods (a slow link, a trickling proxy), so the client gets no
    whole event for that long: an Anthropic client (translated from OpenAI) and a chat client (passed
    through, the unfinished event held back) still get their keep-alives. Before: nothing reached either
    client until the event ended."""
    model = "gpt-4o-mini"
    head = frames(
        *(chat_chunk(model, d) for d in [{"role": "assistant", "content": ""}, {"content": "Let me"}])
    )
    middle = frames(chat_chunk(model, {"content": " think: 42."}))[0]
    tail = frames(
        chat_chunk(model, {}, "stop"),
        chat_chunk(model, usage={"prompt_tokens": 19, "completion_tokens": 8, "total_tokens": 27}),
    ) + [b"data: [DONE]\n\n"]
    step = -(-len(middle) // 8)  # 8 pieces, 0.6 keep-alive periods apart: 4.2 periods for the event
    trickled: list[bytes | Pause] = []
    for at in range(0, len(middle), step):
        trickled += [middle[at : at + step], Pause(KEEPALIVE_S * 0.6)]
    up.script(OPENAI, sse([*head, *trickled[:-1], *tail]))
    timeline = ask_streamed(gw, fmt, f"t19t-{fmt}", model=model)
    first = next(i for i, ev in enumerate(timeline) if "Let me" in ev.data)
    resume = next(i for i, ev in enumerate(timeline) if "think: 42." in ev.data)
    assert keepalives(fmt, timeline[first + 1 : resume]) >= 2, timeline[first:resume]
    assert all(ev.comment or ev.data in ("", "[DONE]") or json.loads(ev.data) for ev in timeline)
    row = gw.row_for(f"t19t-{fmt}")
    assert (row["status"], row["error_type"], row["output_tokens"]) == (200, None, 8)


@pytest.mark.parametrize("fmt", ["anthropic", "openai_chat"])
def test_case19_silence_before_the_first_token_starts_the_answer(
    gw: Stack, up: ScriptedUpstream, fmt: str
) -> None:
    """A model that thinks before its first token: after STREAM_KEEPALIVE_S the client gets its answer's
    headers and keep-alives (not nothing, until its idle watchdog gives up), then the whole answer."""
    path, pieces = silent_stream(fmt, "", "42.")
    up.script(path, sse(pieces))
    timeline = ask_streamed(gw, fmt, f"t19b-{fmt}")
    text_at = next(i for i, ev in enumerate(timeline) if "42." in ev.data)
    assert keepalives(fmt, timeline[:text_at]) >= 2, timeline[:text_at]
    if fmt == "anthropic":
        got = assembled(timeline)
        assert got["text"] == "42." and got["stopped"] and not got["errors"]
    row = gw.row_for(f"t19b-{fmt}")
    assert (row["status"], row["error_type"], row["output_tokens"]) == (200, None, 8)


# ---- kind 3: what the gateway mints never reaches the provider (bugcase 04) ---------------------------

ANTHROPIC_OK = {
    "id": "msg_2",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Paris."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 30, "output_tokens": 3},
}


def test_a_signature_anthropic_refuses_costs_one_retry_without_thinking(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s7 variant 04-g: a conversation begun on another Anthropic-compatible provider carries thinking
    signatures nothing marks as foreign; Anthropic refuses them (400 "Invalid `signature` in `thinking`
    block"). The gateway sends once more without the history's thinking (and, since the last assistant
    turn lost its thinking, without ``thinking``): the client gets its answer."""
    foreign = "c2lnbmVkLWVsc2V3aGVyZQ"
    refused = invalid_request("messages.1.content.0: Invalid `signature` in `thinking` block")
    answer = {
        **ANTHROPIC_OK,
        "id": "msg_04g",
        "content": [{"type": "text", "text": "Done."}],
        "usage": {"input_tokens": 20, "output_tokens": 2},
    }
    up.script(ANTHROPIC, json_answer(refused, 400), json_answer(answer))
    before = len(up.seen(ANTHROPIC))
    messages = [
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use ls.", "signature": foreign},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py"}]},
    ]
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2000,
        "thinking": {"type": "adaptive"},
        "messages": messages,
    }
    r = post(gw, "/v1/messages", body, "t04-g", AV)
    assert r.status_code == 200 and r.json()["content"][0]["text"] == "Done."
    first, retry = up.seen(ANTHROPIC)[before:]
    assert foreign in json.dumps(first.json) and foreign not in json.dumps(retry.json)
    assert "thinking" not in retry.json and retry.json["messages"][1]["content"][0]["type"] == "tool_use"


def test_latest_thinking_refused_after_a_model_switch_costs_one_retry(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s12 variant 04-g: Claude Code switched models mid tool loop; Anthropic refuses the latest assistant
    turn's thinking (400 "`thinking` or `redacted_thinking` blocks in the latest assistant message cannot be
    modified"), which every later turn would resend. Streamed: the gateway retries once without the
    history's thinking (and without ``thinking``), as for a refused signature, before any byte is sent."""
    refused = invalid_request(
        "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest assistant "
        "message cannot be modified. These blocks must remain as they were in the original response."
    )
    events = [
        {"type": "message_start", "message": {**ANTHROPIC_OK, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    up.script(ANTHROPIC, json_answer(refused, 400), sse(frames(*events, event=True)))
    before = len(up.seen(ANTHROPIC))
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 2000,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "messages": [
            {"role": "user", "content": "list files"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Use ls.", "signature": "c2lnbmVkLWZvci1vcHVz"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py"}],
            },
        ],
    }
    r = post(gw, "/v1/messages", body, "t04-g-switch", AV)
    assert r.status_code == 200 and b"event: message_stop" in r.content and b"Done." in r.content
    first, retry = up.seen(ANTHROPIC)[before:]
    assert "c2lnbmVkLWZvci1vcHVz" in json.dumps(first.json) and "c2lnbmVkLWZvci1vcHVz" not in json.dumps(
        retry.json
    )
    assert "thinking" not in retry.json and retry.json["messages"][1]["content"][0]["type"] == "tool_use"


def test_a_tool_turn_another_model_answered_goes_to_claude_without_thinking(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s13 variants 04-b, 04-c: Claude Code (thinking on) continues a tool loop whose last assistant turn another
    model answered ([text, tool_use], no thinking block: nothing minted, nothing to drop). Anthropic refuses
    that with thinking on (400 "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When
    `thinking` is enabled, a final `assistant` message must start with a thinking block"): the passthrough
    body and the count_tokens body go without ``thinking``, the history unchanged."""
    path = "/anthropic/v1/messages/count_tokens"
    up.script(ANTHROPIC, json_answer({**ANTHROPIC_OK, "id": "msg_s13"}))
    up.script(path, json_answer({"input_tokens": 61}))
    before, before_count = len(up.seen(ANTHROPIC)), len(up.seen(path))
    messages = [
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "call_s13", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_s13", "content": "a.py"}]},
    ]
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2000,
        "thinking": {"type": "adaptive"},
        "messages": messages,
    }
    r = post(gw, "/v1/messages", body, "t04-s13", AV)
    assert r.status_code == 200 and r.json()["content"][0]["text"] == "Paris."
    (sent,) = up.seen(ANTHROPIC)[before:]
    assert "thinking" not in sent.json and sent.json["messages"] == messages
    count = {k: v for k, v in body.items() if k != "max_tokens"}
    count["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    r = post(gw, "/v1/messages/count_tokens", count, "t04-s13-count", AV)
    assert r.status_code == 200 and r.json() == {"input_tokens": 61}
    (counted,) = up.seen(path)[before_count:]
    assert "thinking" not in counted.json and counted.json["messages"] == messages


def test_claude_codes_own_adaptive_tool_loop_goes_as_it_came_and_a_refusal_costs_one_retry(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """With adaptive thinking Claude may answer a tool turn without thinking ("thinking is optional for the
    model": adaptive-thinking docs): Claude Code's next request (its own toolu_ ids, no thinking block) goes to
    Anthropic as it came, thinking and history untouched (s13 review of 84af4e6). Were Anthropic to refuse it
    (400 "Expected `thinking` or `redacted_thinking`, but found `tool_use`"), one retry without ``thinking``."""
    refused = invalid_request(
        "messages.1.content.1: Expected `thinking` or `redacted_thinking`, but found `tool_use`. "
        "When `thinking` is enabled, a final `assistant` message must start with a thinking block."
    )
    messages = text_then_tool_turn(ask="list files", said="Listing.", tool_id="toolu_01S13own", result="a")
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2000,
        "thinking": {"type": "adaptive"},
        "messages": messages,
    }
    up.script(ANTHROPIC, json_answer({**ANTHROPIC_OK, "id": "msg_s13own"}))
    before = len(up.seen(ANTHROPIC))
    r = post(gw, "/v1/messages", body, "t04-s13-own", AV)
    assert r.status_code == 200
    (sent,) = up.seen(ANTHROPIC)[before:]
    assert sent.json["thinking"] == {"type": "adaptive"} and sent.json["messages"] == messages
    up.script(ANTHROPIC, json_answer(refused, 400), json_answer({**ANTHROPIC_OK, "id": "msg_s13own2"}))
    before = len(up.seen(ANTHROPIC))
    r = post(gw, "/v1/messages", body, "t04-s13-own2", AV)
    assert r.status_code == 200
    first, retry = up.seen(ANTHROPIC)[before:]
    assert first.json["thinking"] == {"type": "adaptive"}
    assert "thinking" not in retry.json and retry.json["messages"] == messages


def test_a_text_first_tool_turn_refused_as_found_text_is_retried_without_thinking(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s14 variant 04-a: Claude Code's own adaptive tool loop whose last turn is [text, tool_use] goes as it came;
    Anthropic's refusal of such a turn names its first block: 400 "messages.1.content.0.type: Expected
    `thinking` or `redacted_thinking`, but found `text`" (n8n-io/n8n#22550, zed-industries/zed#46508), which
    the gateway did not read as a refusal (only "found `tool_use`"): the client got the 400. Now the one retry
    without thinking answers it, streamed as the client asked."""
    refused = invalid_request(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. "
        "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
        "(preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
    )
    messages = text_then_tool_turn(ask="list files", said="Listing.", tool_id="toolu_01S14txt", result="a")
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_s14txt",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 30, "output_tokens": 1},
        },
    }
    stream = frames(
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "One file."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
        event=True,
    )
    up.script(ANTHROPIC, json_answer(refused, 400), sse(stream))
    before = len(up.seen(ANTHROPIC))
    body = {
        "model": "claude-opus-4-6",
        "max_tokens": 2000,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "messages": messages,
    }
    r = post(gw, "/v1/messages", body, "t04-s14-text", AV)
    assert r.status_code == 200
    got = anthropic_assembled(r.content)
    assert got["text"] == "One file." and got["stop_reason"] == "end_turn" and not got["errors"]
    first, retry = up.seen(ANTHROPIC)[before:]
    assert first.json["thinking"] == {"type": "adaptive"}
    assert "thinking" not in retry.json and retry.json["messages"] == messages


def test_count_tokens_retries_a_refused_signature_without_thinking(gw: Stack, up: ScriptedUpstream) -> None:
    """bug8a variant 04-f: count_tokens carries the same history as /v1/messages; a thinking block signed
    elsewhere got Claude Code Anthropic's 400 "Invalid `signature` in `thinking` block" there, while the
    messages call itself is retried without the history's thinking. Now count_tokens is retried too."""
    foreign = "c2lnbmVkLWJ5LWFub3RoZXItZ2F0ZXdheQ"
    refused = invalid_request("messages.1.content.0: Invalid `signature` in `thinking` block")
    path = "/anthropic/v1/messages/count_tokens"
    up.script(path, json_answer(refused, 400), json_answer({"input_tokens": 57}))
    before = len(up.seen(path))
    body = {
        "model": "claude-sonnet-4-5",
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "2+2?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "4.", "signature": foreign},
                    {"type": "text", "text": "4"},
                ],
            },
            {"role": "user", "content": "3+3?"},
        ],
    }
    r = post(gw, "/v1/messages/count_tokens", body, "t04-f-count", AV)
    assert r.status_code == 200 and r.json() == {"input_tokens": 57}
    first, retry = up.seen(path)[before:]
    assert foreign in json.dumps(first.json) and foreign not in json.dumps(retry.json)
    assert [b["type"] for b in retry.json["messages"][1]["content"]] == ["text"]


def test_case04_gateway_signature_is_not_sent_to_anthropic(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(
        XAI,
        json_answer(
            {
                "id": "x1",
                "object": "chat.completion",
                "created": 1775000000,
                "model": "grok-3-mini",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": "Paris",
                            "reasoning_content": "The capital of France is Paris.",
                        },
                    }
                ],
                "usage": {"prompt_tokens": 24, "completion_tokens": 31, "total_tokens": 55},
            }
        ),
    )
    up.script(ANTHROPIC, json_answer(ANTHROPIC_OK))
    headers = {**AV, "anthropic-beta": "interleaved-thinking-2025-05-14"}
    question = {"role": "user", "content": "What is the capital of France? One word."}
    turn1 = post(
        gw,
        "/v1/messages",
        {
            "model": "grok-3-mini",
            "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [question],
        },
        "t04-1",
        headers,
    )
    content = turn1.json()["content"]
    minted = [b["signature"] for b in content if b["type"] == "thinking"]
    assert minted  # the gateway had to sign xAI's reasoning itself
    turn2 = post(
        gw,
        "/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [
                question,
                {"role": "assistant", "content": content},
                {"role": "user", "content": "And of Italy?"},
            ],
        },
        "t04-2",
        headers,
    )
    assert turn2.status_code == 200
    sent = up.seen(ANTHROPIC)[-1].json
    blocks = [b for m in sent["messages"] if isinstance(m["content"], list) for b in m["content"]]
    assert not [b for b in blocks if b.get("signature") in minted]
    assert {"type": "text", "text": "Paris"} in blocks  # the answer itself stays in the history


# ---- kind 4: errors keep their meaning (bugcase 10) -------------------------------------------------------

OPENAI_OVERFLOW = {
    "error": {
        "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 "
        "tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}


def test_case10_openai_context_overflow_reaches_claude_code_as_prompt_is_too_long(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(OPENAI, json_answer(OPENAI_OVERFLOW, 400))
    r = post(
        gw,
        "/v1/messages",
        {
            "model": "gpt-4o-mini",
            "max_tokens": 32000,
            "stream": True,
            "messages": [{"role": "user", "content": "x " * 100}],
        },
        "t10",
        AV,
    )
    body = r.json()
    assert r.status_code == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "prompt is too long: 131072 tokens > 128000 maximum"


def test_anthropic_overflow_reaches_openai_sdk_as_context_length_exceeded(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(
        ANTHROPIC,
        json_answer(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 210000 tokens > 200000 maximum",
                },
            },
            400,
        ),
    )
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "context_length_exceeded"
    assert "maximum context length is 200000 tokens" in info.value.message


def test_overflow_told_inside_a_stream_reaches_claude_code_as_prompt_is_too_long(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """OpenRouter (or any OpenAI-compatible server) may answer 200 and tell the overflow in an in-band error
    chunk before any token; that error comes without an error body, and its meaning is in its message."""
    overflow = {
        "code": 400,
        "message": "This endpoint's maximum context length is 128000 tokens. However, you requested about "
        "131072 tokens (131000 of text input, 72 in the output). Please reduce the length of either one.",
    }
    chunk = {**chat_chunk("grok-3-mini", {"content": ""}, "error"), "error": overflow}
    up.script(XAI, sse([b": OPENROUTER PROCESSING\n\n", *frames(chunk)]))
    body = {
        "model": "grok-3-mini",
        "max_tokens": 72,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    r = post(gw, "/v1/messages", body, "t10-in-stream", AV)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert (
        r.json()["error"]["message"] == "prompt is too long: 131000 tokens > 128000 maximum"
    )  # the input's own count (s20)


def test_anthropic_overflow_error_event_reaches_openai_sdk_as_context_length_exceeded(
    gw: Stack, up: ScriptedUpstream
) -> None:
    error = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }
    up.script(ANTHROPIC, sse(frames(error, event=True)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="claude-sonnet-4-5", stream=True, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.code == "context_length_exceeded"
    assert "maximum context length is 200000 tokens" in info.value.message


OVERFLOW_IN_STREAM = {
    "code": 400,
    "message": "This endpoint's maximum context length is 128000 tokens. However, you requested about "
    "131072 tokens (131000 of text input, 72 in the output). Please reduce the length of either one.",
}


def test_overflow_after_the_answer_started_is_still_told_as_prompt_is_too_long(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The upstream's keep-alives outlast STREAM_KEEPALIVE_S, so the client's answer has started when the
    in-band overflow comes: the error event must still carry the meaning in Anthropic's words."""
    chunk = {**chat_chunk("grok-3-mini", {"content": ""}, "error"), "error": OVERFLOW_IN_STREAM}
    up.script(XAI, sse([b": OPENROUTER PROCESSING\n\n", Pause(KEEPALIVE_S * 2.5), *frames(chunk)]))
    body = {
        "model": "grok-3-mini",
        "max_tokens": 72,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    r = post(gw, "/v1/messages", body, "t10-started", AV)
    got = anthropic_assembled(r.content)
    assert r.status_code == 200 and got["pings"] >= 1  # the answer had started
    assert got["errors"] == [
        {"type": "invalid_request_error", "message": "prompt is too long: 131000 tokens > 128000 maximum"}
    ]


@pytest.mark.parametrize("client", ["chat", "responses"])
def test_overflow_after_the_answer_started_reaches_openai_clients_as_context_length_exceeded(
    gw: Stack, up: ScriptedUpstream, client: str
) -> None:
    error = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }
    up.script(ANTHROPIC, sse([*CASE01[:1], Pause(KEEPALIVE_S * 2.5), *frames(error, event=True)]))
    if client == "chat":
        body: dict[str, Any] = {
            "model": "claude-sonnet-4-5",
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        }
        r = post(gw, "/v1/chat/completions", body, "t10-started-chat")
    else:
        body = {"model": "claude-sonnet-4-5", "stream": True, "input": "x"}
        r = post(gw, "/v1/responses", body, "t10-started-responses")
    assert r.status_code == 200  # the answer had started
    objs = [json.loads(e.data) for e in client_events(r.content) if not e.comment and e.data != "[DONE]"]
    if client == "chat":
        err = objs[-1]["error"]
    else:
        assert objs[-1]["type"] == "response.failed"
        err = objs[-1]["response"]["error"]
    assert err["code"] == "context_length_exceeded"
    assert "maximum context length is 200000 tokens" in err["message"]


def test_same_format_error_bodies_go_through_unmodified(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(OPENAI, json_answer(OPENAI_OVERFLOW, 400))
    r = post(
        gw,
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        "t10-same",
    )
    assert r.status_code == 400 and r.json() == OPENAI_OVERFLOW


# ---- kind 5: the provider's rate-limit and retry headers go back (bugcase 11) ----------------------------

RATE_HEADERS = {
    "retry-after": "287441",
    "anthropic-ratelimit-unified-status": "rejected",
    "anthropic-ratelimit-unified-reset": "1775600000",
    "x-should-retry": "false",
    "request-id": "req_011FakeRateLimited",
}


@pytest.fixture()
def gw_alone(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    """A gateway of its own with only Anthropic: a week-long Retry-After rests its provider for the rest of
    the process, which must not touch the other tests' gateway."""
    with stack(tmp_path, {"anthropic": f"{up.url}/anthropic"}) as st:
        yield st


def test_a_429_whose_body_names_an_endless_reset_is_still_a_429(
    gw_alone: Stack, up: ScriptedUpstream
) -> None:
    """Review of s12 (11-b): a 429 whose body's ``RetryInfo.retryDelay`` reads as infinity (400 digits) reaches
    the client as the provider's 429, without a ``retry-after`` (none can be told), not as a 500."""
    refusal = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "Rate limited.",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "9" * 400 + "s"}],
        },
    }
    up.script(ANTHROPIC, json_answer(refusal, 429))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    r = post(gw_alone, "/v1/messages", body, "rv-11-endless", AV)
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" not in r.headers


def test_overflow_without_openais_code_reaches_chat_clients_with_it(gw: Stack, up: ScriptedUpstream) -> None:
    """s7 variant 10-g: a same-format (passed through) overflow whose body lacks OpenAI's code (xAI's own
    error shape; OpenRouter's numeric ``code: 400``) reaches an OpenAI client with
    ``code: context_length_exceeded``, the one thing OpenAI-based agents test for."""
    xai_overflow = {
        "code": "Client specified an invalid argument",
        "error": "This model's maximum prompt length is 131072 but the request contains 200000 tokens.",
    }
    up.script(XAI, json_answer(xai_overflow, 400))
    r = post(
        gw,
        "/v1/chat/completions",
        {"model": "grok-3", "messages": [{"role": "user", "content": "x"}]},
        "t10-g",
    )
    err = r.json()["error"]
    assert r.status_code == 400 and err["code"] == "context_length_exceeded"
    assert err["type"] == "invalid_request_error" and "131072" in err["message"]


def test_case11_429_headers_reach_claude_code(gw_alone: Stack, up: ScriptedUpstream) -> None:
    gw = gw_alone
    up.script(
        ANTHROPIC,
        json_answer(
            {
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "This request would exceed your weekly usage limit.",
                },
            },
            429,
            headers=RATE_HEADERS,
        ),
    )
    r = post(
        gw,
        "/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
        "t11",
        {**AV, "anthropic-beta": "claude-code-20250219,oauth-2025-04-20"},
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "287441"
    assert r.headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert r.headers["anthropic-ratelimit-unified-reset"] == "1775600000"
    assert r.headers["x-should-retry"] == "false"
    assert r.headers["x-upstream-request-id"] == "req_011FakeRateLimited"
    assert r.headers["x-request-id"] == "t11"  # the gateway's own id stays
    assert len(up.seen(ANTHROPIC)) == 1  # a week-long Retry-After is not waited out nor retried


def test_a_resting_providers_refusal_is_told_again_with_its_window(
    gw_alone: Stack, up: ScriptedUpstream
) -> None:
    """s10 variant 11-a: after a week-long 429 the gateway rests Anthropic and answers the next requests
    itself. Those answers say what Anthropic said: its body and headers, and the time left of ITS window
    (not the gateway's 600 s cap), or Claude Code takes them for a short throttle and loops. A client of
    another format gets the same meaning in its own words, with the same headers."""
    gw = gw_alone
    refusal = {"type": "error", "error": {"type": "rate_limit_error", "message": "Weekly limit reached."}}
    up.script(ANTHROPIC, json_answer(refusal, 429, headers=RATE_HEADERS))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    first = post(gw, "/v1/messages", body, "t11-a1", AV)
    assert first.status_code == 429 and first.headers["retry-after"] == "287441"
    again = post(gw, "/v1/messages", {**body, "stream": True}, "t11-a2", AV)
    assert again.status_code == 429 and again.json() == refusal
    assert 287000 < int(again.headers["retry-after"]) <= 287441
    assert again.headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert again.headers["x-should-retry"] == "false" and again.headers["x-request-id"] == "t11-a2"
    chat = post(
        gw, "/v1/chat/completions", {"model": "claude-sonnet-4-5", "messages": body["messages"]}, "t11-a3"
    )
    assert chat.status_code == 429 and chat.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat.json()["error"]["message"] == "Weekly limit reached."
    assert 287000 < int(chat.headers["retry-after"]) and chat.headers["x-should-retry"] == "false"
    assert len(up.seen(ANTHROPIC)) == 1  # the provider itself was asked once


def test_count_tokens_keeps_the_providers_retry_headers(gw: Stack, up: ScriptedUpstream) -> None:
    """s10 variant 11-h: Claude Code's count_tokens call got Anthropic's 429 without retry-after,
    anthropic-ratelimit-unified-status or x-should-retry (the SDK retries by status without them)."""
    refusal = {"type": "error", "error": {"type": "rate_limit_error", "message": "Weekly limit reached."}}
    up.script("/anthropic/v1/messages/count_tokens", json_answer(refusal, 429, headers=RATE_HEADERS))
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    r = post(gw, "/v1/messages/count_tokens", body, "tcc-429", AV)
    assert r.status_code == 429 and r.json() == refusal
    assert r.headers["retry-after"] == "287441" and r.headers["x-should-retry"] == "false"
    assert r.headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert r.headers["x-upstream-request-id"] == "req_011FakeRateLimited"


def test_count_tokens_says_when_to_retry_a_429_told_only_in_rate_limit_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s22 variant 11-w8: count_tokens got Anthropic's 429 with only its rate-limit headers (requests exhausted,
    the reset an RFC 3339 time 40 s ahead; a proxy in front dropped retry-after). /v1/messages tells that wait as
    retry-after; count_tokens relayed the 429 without it (the SDK retried blind, 0.5-8 s)."""
    import anthropic

    refusal = {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many requests."}}
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 40))
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset,
    }
    up.script("/anthropic/v1/messages/count_tokens", json_answer(refusal, 429, headers=headers))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="client", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    told = caught.value.response.headers
    assert 30 <= int(told["retry-after"]) <= 41 and told["anthropic-ratelimit-requests-reset"] == reset


def test_rate_limit_headers_on_success_and_through_translation(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(
        OPENAI,
        sse(
            frames(
                chat_chunk("gpt-4o-mini", {"content": "ok"}),
                chat_chunk("gpt-4o-mini", {}, "stop"),
                b"data: [DONE]\n\n",
            ),
            headers={"x-ratelimit-remaining-requests": "499", "x-request-id": "req_openai_1"},
        ),
    )
    r = messages_stream(gw, "gpt-4o-mini", "t11-ok", "hi")
    assert r.status_code == 200
    assert r.headers["x-ratelimit-remaining-requests"] == "499"
    assert r.headers["x-upstream-request-id"] == "req_openai_1" and r.headers["x-request-id"] == "t11-ok"
    up.script(
        "/capped/v1/chat/completions",  # its own provider: its cool-down leaves the other tests alone
        json_answer(
            {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
            429,
            headers={"retry-after": "7.2", "x-ratelimit-reset-requests": "7s"},
        ),
    )
    r = post(
        gw,
        "/v1/messages",
        {"model": "capped-chat", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]},
        "t11-429",
        AV,
    )
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert r.headers["retry-after"] == "8" and r.headers["x-ratelimit-reset-requests"] == "7s"


def test_a_429_with_only_rate_limit_headers_says_when_to_retry(gw: Stack, up: ScriptedUpstream) -> None:
    """s9 variant 11-m: an OpenAI-compatible 429 (xAI's) with no retry-after, only OpenAI-style
    ``x-ratelimit-*`` headers (tokens exhausted, reset in 30 s). The SDKs read only retry-after and
    retry-after-ms, so the client is told ``retry-after: 30`` beside the forwarded headers; the provider
    then cools down for that long, and the next request is told the same wait without reaching it."""
    up.script(
        "/resetonly/v1/chat/completions",  # its own provider: its cool-down leaves the other tests alone
        json_answer(
            {"code": "Some resource has been exhausted", "error": "Your team has exceeded its rate limit."},
            429,
            headers={
                "x-ratelimit-remaining-requests": "59",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "30s",
            },
        ),
    )
    body = {"model": "resetonly-chat", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    r = post(gw, "/v1/messages", {**body, "stream": True}, "t11-m", AV)
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert r.headers["retry-after"] == "30" and r.headers["x-ratelimit-reset-tokens"] == "30s"
    again = post(gw, "/v1/chat/completions", body, "t11-m-2")
    assert again.status_code == 429 and 28 <= int(again.headers["retry-after"]) <= 30
    assert len(up.seen("/resetonly/v1/chat/completions")) == 1


def test_a_429_that_says_its_reset_only_in_the_body_says_when_to_retry(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s12 variants 11-a, 11-f: OpenRouter's free-tier 429 has no retry-after header; the limit's headers
    are inside the body (``error.metadata.headers``, ``X-RateLimit-Reset`` a Unix time in ms, here 45 s
    ahead). The SDKs read only retry-after(-ms), so the client is told ``retry-after`` from the body's
    reset, and the provider cools down for that long."""
    reset = str(int((time.time() + 45) * 1000))
    refusal = {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded: free-models-per-min.",
            "metadata": {
                "headers": {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                }
            },
        }
    }
    up.script("/bodyreset/v1/chat/completions", json_answer(refusal, 429))
    body = {"model": "bodyreset-chat", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    r = post(gw, "/v1/messages", {**body, "stream": True}, "t11-body", AV)
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert 40 <= int(r.headers["retry-after"]) <= 45
    again = post(gw, "/v1/chat/completions", body, "t11-body-2")
    assert again.status_code == 429 and 38 <= int(again.headers["retry-after"]) <= 45
    assert len(up.seen("/bodyreset/v1/chat/completions")) == 1


def test_an_in_band_429_that_says_its_reset_says_when_to_retry(gw: Stack, up: ScriptedUpstream) -> None:
    """s12 variant 11-g: OpenRouter answers 200, then before any token an in-band error chunk, code 429, whose
    ``metadata.headers`` name the reset (Unix ms, 50 s ahead). Nothing reached the client: it gets HTTP 429
    with that ``retry-after``."""
    reset = str(int((time.time() + 50) * 1000))
    chunk = {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "inbandreset-chat",
        "error": {
            "code": 429,
            "message": "Rate limit exceeded: free-models-per-min.",
            "metadata": {"headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}},
        },
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }
    up.script("/inbandreset/v1/chat/completions", sse(frames(chunk, b"data: [DONE]\n\n")))
    body = {
        "model": "inbandreset-chat",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    r = post(gw, "/v1/messages", body, "t11-inband", AV)
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert 45 <= int(r.headers["retry-after"]) <= 50


def test_a_short_reset_in_rate_limit_headers_is_waited_out(gw: Stack, up: ScriptedUpstream) -> None:
    """s9 variant 11-p: a 429 whose only word is ``x-ratelimit-reset-requests: 1s`` (requests exhausted)
    is a Retry-After under ``RETRY_AFTER_MAX_WAIT``: the gateway waits it out and the client gets the
    answer of the second call."""
    path = "/resetshort/v1/chat/completions"  # its own provider: the one above cools down for 30 s
    refusal = {"code": "Some resource has been exhausted", "error": "Too many requests."}
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1775000000,
        "model": "resetshort-chat",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    up.script(path, json_answer(refusal, 429, headers=headers), json_answer(answer))
    body = {"model": "resetshort-chat", "messages": [{"role": "user", "content": "hi"}]}
    r = post(gw, "/v1/chat/completions", body, "t11-p")
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "ok"
    assert len(up.seen(path)) == 2


def test_exhausted_quota_is_not_retried_by_any_client(gw: Stack, up: ScriptedUpstream) -> None:
    """s7 variant 11-j: OpenAI's 429 insufficient_quota reached Claude Code as a plain 429 rate_limit_error,
    which the anthropic SDK retries by status; retrying cannot help (conformance §1.8), so the answer says
    ``x-should-retry: false``, translated (Anthropic client) and passed through (Chat client) alike."""
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    # a provider each (a 429 cools its provider down): these leave the other tests alone
    up.script("/unpaid/v1/chat/completions", json_answer(quota, 429))
    up.script("/unpaid-too/v1/chat/completions", json_answer(quota, 429))
    body = {"model": "unpaid-chat", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    r = post(gw, "/v1/messages", body, "t11-quota-a", AV)
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert r.headers["x-should-retry"] == "false"
    r = post(gw, "/v1/chat/completions", {**body, "model": "unpaid-too-chat"}, "t11-quota-c")
    assert r.status_code == 429 and r.headers["x-should-retry"] == "false"
    assert r.json()["error"]["code"] == "insufficient_quota"  # the provider's own body, unmodified


# ---- kind 6: output limits (bugcase 17) -----------------------------------------------------------------

DEEPSEEK = "/deepseek/v1/chat/completions"
DEEPSEEK_REFUSAL = {
    "error": {
        "message": "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request_error",
    }
}


def ok_stream(model: str) -> list[bytes | Pause]:
    return [
        *frames(
            chat_chunk(model, {"role": "assistant", "content": "Hi"}),
            chat_chunk(model, {}, "stop"),
            chat_chunk(model, usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}),
        ),
        b"data: [DONE]\n\n",
    ]


def script_like_deepseek(up: ScriptedUpstream, path: str, model: str, times: int = 1) -> None:
    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or body.get("max_completion_tokens") or 0) > 8192

    for _ in range(times):
        up.script(path, json_answer(DEEPSEEK_REFUSAL, 400, when=too_many), sse(ok_stream(model)))


def claude_code_request(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 32000,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }


def sent_limits(up: ScriptedUpstream, path: str) -> list[int]:
    return [r.json.get("max_tokens") or r.json.get("max_completion_tokens") for r in up.seen(path)]


def test_case17_claude_codes_max_tokens_fits_deepseek(gw: Stack, up: ScriptedUpstream) -> None:
    """A server answering to ``deepseek-chat`` with V3's [1, 8192] (a relay, a self-hosted V3): DeepSeek's own
    ``deepseek-chat`` has been DeepSeek-V4-Flash (384K output) since 2026-04-24, so the family table no longer says
    8192 (fix32): the first request is refused and retried within the stated limit, the next sent within it."""
    script_like_deepseek(up, DEEPSEEK, "deepseek-chat", times=2)
    r = post(gw, "/v1/messages", claude_code_request("deepseek-chat"), "t17", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 8192]  # before fix32: [8192], the V3 limit applied up front
    r = post(gw, "/v1/messages", claude_code_request("deepseek-chat"), "t17-again", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 8192, 8192]  # the stated limit remembered
    up.reset()  # the second refusal, never asked for


def test_unknown_models_limit_is_learned_from_the_refusal(gw: Stack, up: ScriptedUpstream) -> None:
    script_like_deepseek(up, DEEPSEEK, "strict-chat", times=2)
    r = post(gw, "/v1/messages", claude_code_request("strict-chat"), "t17-learn", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 8192]  # refused once, sent again within the stated limit
    assert gw.row_for("t17-learn")["status"] == 200
    up.reset()
    script_like_deepseek(up, DEEPSEEK, "strict-chat")
    r = post(
        gw,
        "/v1/chat/completions",
        {
            "model": "strict-chat",
            "max_tokens": 20000,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
        "t17-pass",
    )
    assert r.status_code == 200
    assert sent_limits(up, DEEPSEEK) == [8192]  # remembered, and applied to the untranslated body too


def test_a_limit_stated_in_band_before_the_first_token_is_retried_within(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s11 variant 17-j: OpenRouter has answered 200 when the provider behind it refuses max_tokens, so the
    refusal comes in the stream, before any token, its words in ``error.metadata.raw``. Nothing reached the
    client: the request goes once more within the stated limit, as after an HTTP 400. Before: the client got
    a 400 "Provider returned error" and Claude Code could not change its max_tokens."""
    raw = orjson.dumps(
        {
            "error": {
                "message": "`max_tokens` must be less than or equal to `8192`",
                "type": "invalid_request_error",
            }
        }
    ).decode()
    refusal = {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "inband-chat",
        "error": {"code": 400, "message": "Provider returned error", "metadata": {"raw": raw}},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or body.get("max_completion_tokens") or 0) > 8192

    in_band = sse([b": OPENROUTER PROCESSING\n\n", *frames(refusal)], when=too_many)
    up.script(DEEPSEEK, in_band, sse(ok_stream("inband-chat")))
    r = post(gw, "/v1/messages", claude_code_request("inband-chat"), "t17-inband", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 8192]
    assert gw.row_for("t17-inband")["status"] == 200


def test_an_in_band_window_limit_then_what_the_prompt_leaves_is_retried_twice(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s12 variant 17-g: OpenRouter relays DeepInfra's vLLM refusals in the stream, before any token: first the
    window ("max_tokens=32000 cannot be greater than max_model_len=max_total_tokens=28672"), then, asked for
    28672, what the prompt leaves of it (120 tokens of prompt): the third request asks for 28552. Before: one
    in-band retry only, and the client got the second refusal."""
    model = "inband-window-chat"

    def in_band(message: str, above: int) -> Answer:
        raw = orjson.dumps(
            {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
        ).decode()
        chunk = {
            "id": "gen-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "error": {"code": 400, "message": "Provider returned error", "metadata": {"raw": raw}},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        }
        return sse(
            [b": OPENROUTER PROCESSING\n\n", *frames(chunk)],
            when=lambda body: int(body.get("max_tokens") or 0) > above,
        )

    window = "max_tokens=32000 cannot be greater than max_model_len=max_total_tokens=28672."
    left = (
        "This model's maximum context length is 28672 tokens. However, you requested 28672 output tokens and "
        "your prompt contains at least 120 input tokens, for a total of at least 28792 tokens."
    )
    up.script(DEEPSEEK, in_band(window, 28672), in_band(left, 28552), sse(ok_stream(model)))
    r = post(gw, "/v1/messages", claude_code_request(model), "t17-inband-window", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 28672, 28552]
    assert gw.row_for("t17-inband-window")["status"] == 200


PYDANTIC_REFUSAL = {
    "detail": [
        {
            "type": "less_than_equal",
            "loc": ["body", "max_tokens"],
            "msg": "Input should be less than or equal to 4096",
            "input": 32000,
            "ctx": {"le": 4096},
        }
    ]
}
VERTEX_REFUSAL = [
    {
        "error": {
            "code": 400,
            "message": "Unable to submit request because it has a maxOutputTokens value of 32000 but the supported "
            "range is from 1 (inclusive) to 4097 (exclusive). Update the value and try again.",
            "status": "INVALID_ARGUMENT",
        }
    }
]


@pytest.mark.parametrize(
    ("model", "refusal", "status"),
    [("pydantic-chat", PYDANTIC_REFUSAL, 422), ("vertex-chat", VERTEX_REFUSAL, 400)],
    ids=["fastapi-422-detail", "gemini-listed-exclusive-bound"],
)
def test_a_limit_stated_in_a_validation_error_is_retried_within(
    gw: Stack, up: ScriptedUpstream, model: str, refusal: Any, status: int
) -> None:
    """s10 variants 17-e, 17-h, 17-i: a FastAPI/pydantic 422 (``detail`` list; Mistral nests it) and Gemini's
    listed error body with an exclusive bound state the limit too; before, their Python repr was the
    message, no limit was read, and Claude Code got the refusal."""

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 4096

    up.script(DEEPSEEK, json_answer(refusal, status, when=too_many), sse(ok_stream(model)))
    r = post(gw, "/v1/messages", claude_code_request(model), f"t17-{model}", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 4096]
    assert gw.row_for(f"t17-{model}")["status"] == 200


SCALEWAY_REFUSAL = {
    "error": {
        "message": "max_completion_tokens is limited for this model: max_completion_tokens must be less than or equal "
        "to 4096",
        "type": "invalid_request_error",
        "param": None,
        "code": 416,
    }
}
GO_FIELD_REFUSAL = {
    "error": {
        "message": "field MaxTokens invalid, should be in [1, 4096]",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "3",
    }
}


@pytest.mark.parametrize(
    ("model", "refusal", "status"),
    [("scaleway-chat", SCALEWAY_REFUSAL, 416), ("gofield-chat", GO_FIELD_REFUSAL, 400)],
    ids=["scaleway-416", "go-struct-field-name"],
)
def test_s20_a_416_refusal_and_a_struct_field_name_state_the_limit(
    gw: Stack, up: ScriptedUpstream, model: str, refusal: Any, status: int
) -> None:
    """s20 variants 17-a..17-c, 17-e: Scaleway's Generative APIs refuse max_completion_tokens with 416 "Range Not
    Satisfiable" (its "Fixing common issues" page), a status no refusal was read from; a Go validator names the field
    ``MaxTokens`` ("field MaxTokens invalid, should be in [1, 65536]", agentscope-ai/QwenPaw#5065), which the range
    wording did not match. Claude Code got the refusal; now it is asked again within the limit."""

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 4096

    up.script(DEEPSEEK, json_answer(refusal, status, when=too_many), sse(ok_stream(model)))
    r = post(gw, "/v1/messages", claude_code_request(model), f"t17-{model}", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 4096]
    assert gw.row_for(f"t17-{model}")["status"] == 200


def test_a_refusal_stating_only_the_whole_request_is_retried_within_the_window(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s10 variant 17-d: Moonshot (Kimi) refuses with the window and the whole request (prompt +
    max_tokens): the retry asks for the window minus the prompt (8192 - 12 = 8180); before, Claude Code got
    the refusal."""
    refusal = {
        "error": {
            "message": "Invalid request: Your request exceeded model token limit: 8192 (requested: 32012)",
            "type": "invalid_request_error",
        }
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 8180

    up.script(DEEPSEEK, json_answer(refusal, 400, when=too_many), sse(ok_stream("kimi-chat")))
    r = post(gw, "/v1/messages", claude_code_request("kimi-chat"), "t17-kimi", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 8180]
    assert gw.row_for("t17-kimi")["status"] == 200


def test_a_window_limit_then_what_the_prompt_leaves_is_retried_twice(gw: Stack, up: ScriptedUpstream) -> None:
    """s12 variants 17-c/17-f: vLLM refuses max_tokens above the window ("max_tokens=32000 cannot be greater than
    max_model_len=max_total_tokens=28672"); asked for the window, it refuses again in its current context words
    (prompt 120 tokens): the third request asks for 28552. Before, neither wording was read and Claude Code got
    the first refusal."""
    window = {
        "object": "error",
        "message": "max_tokens=32000 cannot be greater than max_model_len=max_total_tokens=28672. Please request "
        "fewer output tokens.",
        "type": "BadRequestError",
        "code": 400,
    }
    left = {
        "object": "error",
        "message": "This model's maximum context length is 28672 tokens. However, you requested 28672 output "
        "tokens and your prompt contains at least 120 input tokens, for a total of at least 28792 tokens.",
        "type": "BadRequestError",
        "code": 400,
    }

    def above(limit: int) -> Callable[[dict[str, Any]], bool]:
        return lambda body: int(body.get("max_tokens") or 0) > limit

    up.script(
        DEEPSEEK, json_answer(window, 400, when=above(28672)), json_answer(left, 400, when=above(28552))
    )
    up.script(DEEPSEEK, sse(ok_stream("window-chat")))
    r = post(gw, "/v1/messages", claude_code_request("window-chat"), "t17-window", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 28672, 28552]
    assert gw.row_for("t17-window")["status"] == 200


def test_http_refusals_are_retried_at_most_twice_in_a_stream_too(gw: Stack, up: ScriptedUpstream) -> None:
    """Review of s12 17-c/f/g: "never more than two retries" (``_within_output_limit``) holds for a streamed
    request too: after the second retry's HTTP refusal, the in-band retry path (``_stated_in_stream``, for
    refusals inside a 200's stream) must not read that HTTP refusal against the first request's max_tokens
    and start more attempts. Before: a fourth request (7992) and more."""

    def context(asked: int, prompt: int) -> dict[str, Any]:
        message = (
            f"This model's maximum context length is 8192 tokens. However, you requested {asked} output tokens and "
            f"your prompt contains at least {prompt} input tokens, for a total of at least {asked + prompt} tokens."
        )
        return {"object": "error", "message": message, "type": "BadRequestError", "code": 400}

    moonshot = {
        "error": {
            "message": "Invalid request: Your request exceeded model token limit: 8192 (requested: 32012)",
            "type": "invalid_request_error",
        }
    }
    up.script(
        DEEPSEEK,
        json_answer(moonshot, 400),
        json_answer(context(8180, 100), 400),
        json_answer(context(8092, 200), 400),
        sse(ok_stream("kimi-chat")),
    )
    r = post(gw, "/v1/messages", claude_code_request("kimi-chat"), "t17-thrice", AV)
    assert sent_limits(up, DEEPSEEK) == [32000, 8180, 8092]
    assert r.status_code == 400 and "8092 output tokens" in r.json()["error"]["message"]
    assert gw.row_for("t17-thrice")["status"] == 400


def test_a_second_retry_never_asks_for_more_than_the_refused_one(gw: Stack, up: ScriptedUpstream) -> None:
    """Review of s12 17-c/f/g: the second retry within a stated limit must ask for less than the first (as
    ``_within_output_limit`` says): asked 8180 (Moonshot's window minus the prompt), a refusal that states a
    larger remainder (16384 - 12) would have the gateway ask for 16372, more than it was just refused. The
    client gets that second refusal; no third request."""
    first = {
        "error": {
            "message": "Invalid request: Your request exceeded model token limit: 8192 (requested: 32012)",
            "type": "invalid_request_error",
        }
    }
    second = {
        "object": "error",
        "message": "This model's maximum context length is 16384 tokens. However, you requested 8180 output "
        "tokens and your prompt contains at least 12 input tokens, for a total of at least 8192 tokens.",
        "type": "BadRequestError",
        "code": 400,
    }
    up.script(DEEPSEEK, json_answer(first, 400), json_answer(second, 400), sse(ok_stream("kimi-chat")))
    r = post(gw, "/v1/messages", claude_code_request("kimi-chat"), "t17-more", AV)
    assert sent_limits(up, DEEPSEEK) == [32000, 8180]
    assert r.status_code == 400 and "16384" in r.json()["error"]["message"]
    assert gw.row_for("t17-more")["status"] == 400


def test_a_clamp_after_anthropics_refusal_keeps_the_thinking_budget_below_max_tokens(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Anthropic refuses max_tokens above the model's limit and a thinking budget not below max_tokens; the
    retry within the stated limit must lower the client's budget too (else a second 400)."""
    refusal = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "max_tokens: 64000 > 32000, which is the maximum allowed number of output tokens for "
            "claude-opus-4-1-20250805",
        },
    }
    budget_refusal = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "`max_tokens` must be greater than `thinking.budget_tokens`.",
        },
    }
    answer = {**ANTHROPIC_OK, "model": "claude-opus-4-1-20250805"}

    def budget_too_big(body: dict[str, Any]) -> bool:
        return int((body.get("thinking") or {}).get("budget_tokens") or 0) >= int(body["max_tokens"])

    for _ in range(2):
        up.script(
            ANTHROPIC,
            json_answer(refusal, 400, when=lambda b: int(b["max_tokens"]) > 32000),
            json_answer(budget_refusal, 400, when=budget_too_big),
            json_answer(answer),
        )
    body = {
        "model": "claude-opus-4-1-20250805",
        "max_tokens": 64000,
        "thinking": {"type": "enabled", "budget_tokens": 40000},
        "messages": [{"role": "user", "content": "hi"}],
    }
    r = post(gw, "/v1/messages", body, "t17-budget", AV)
    assert r.status_code == 200, r.text
    sent = [(b.json["max_tokens"], b.json["thinking"]["budget_tokens"]) for b in up.seen(ANTHROPIC)]
    assert sent == [(64000, 40000), (32000, 31999)]


OPENROUTER_CONTEXT_LEFT = {
    "error": {
        "message": "This endpoint's maximum context length is 32768 tokens. However, you requested about 36000 "
        "tokens (32000 of text input, 4000 in the output). Please reduce the length of either one.",
        "code": 400,
    }
}


def test_what_one_prompt_leaves_of_the_context_is_not_remembered(gw: Stack, up: ScriptedUpstream) -> None:
    """A refusal that states the window minus *this* prompt (768 here) serves this request's retry only: a
    later request of the same model is not capped at 768 output tokens for the rest of the process."""

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or body.get("max_completion_tokens") or 0) > 768

    up.script(
        DEEPSEEK, json_answer(OPENROUTER_CONTEXT_LEFT, 400, when=too_many), sse(ok_stream("roomy-chat"))
    )
    r = post(gw, "/v1/messages", claude_code_request("roomy-chat"), "t17-left", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 768]  # refused once, sent again within what was left
    up.reset()
    up.script(DEEPSEEK, sse(ok_stream("roomy-chat")))
    r = post(gw, "/v1/messages", {**claude_code_request("roomy-chat"), "max_tokens": 2000}, "t17-left2", AV)
    assert r.status_code == 200
    assert sent_limits(up, DEEPSEEK) == [2000]  # not capped at the earlier request's remainder


def test_anthropics_window_minus_prompt_refusal_is_retried_within(gw: Stack, up: ScriptedUpstream) -> None:
    """s13 variant 17-a: an OpenAI chat client asks Claude for max_tokens 64000 (Sonnet 4.5's own limit: no
    clamp) with a long prompt; Anthropic refuses "input length and `max_tokens` exceed context limit:
    178959 + 64000 > 200000" (the prompt stated first). The window leaves 21041 output tokens: the request is
    sent once more within them and the client gets its answer."""
    refusal = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease "
            "input length or `max_tokens` and try again",
        },
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 21041

    up.script(ANTHROPIC, json_answer(refusal, 400, when=too_many), json_answer(ANTHROPIC_OK))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    answer = client.chat.completions.create(
        model="claude-sonnet-4-5", max_tokens=64000, messages=[{"role": "user", "content": "x"}]
    )
    assert answer.choices[0].message.content
    assert [r.json["max_tokens"] for r in up.seen(ANTHROPIC)] == [64000, 21041]


def test_catalog_file_limits_per_provider_and_per_model(gw: Stack, up: ScriptedUpstream) -> None:
    path = "/configured/v1/chat/completions"
    up.script(path, sse(ok_stream("house-model")), sse(ok_stream("house-small")))
    for model in ("house-model", "house-small"):
        assert post(gw, "/v1/messages", claude_code_request(model), f"t17-{model}", AV).status_code == 200
    assert sent_limits(up, path) == [4096, 1024]


# ---- Claude Code's gateway protocol (../shared/docs/client-protocols.md) -----------------------------------


def test_anthropic_path_forwards_headers_and_body_verbatim(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(ANTHROPIC, json_answer(ANTHROPIC_OK))
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Project notes.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                    {
                        "type": "future_block_type",
                        "payload": {"x": 1},
                    },  # a block this gateway has never heard of
                ],
            }
        ],
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},  # an unknown top-level field
        "metadata": {"user_id": "u1"},
    }
    headers = {
        **AV,
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
        "anthropic-dangerous-direct-browser-access": "true",
        "anthropic-future-flag": "on",
    }
    r = post(gw, "/v1/messages", body, "tcc-verbatim", headers)
    assert r.status_code == 200
    seen = up.seen(ANTHROPIC)[-1]
    assert seen.json == body  # system array, every cache_control and unknown fields exactly as sent
    for name in (
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "anthropic-future-flag",
    ):
        assert seen.headers.get(name) == headers[name], name
    assert "Bearer client" not in json.dumps(seen.headers)  # the client's own credential stays here


def test_server_tools_are_stripped_toward_other_providers(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(OPENAI, sse(ok_stream("gpt-4o-mini")))
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 1000,
        "stream": True,
        "tools": [
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
            {
                "name": "Read",
                "description": "Read a file",
                "input_schema": {"type": "object", "properties": {}},
            },
        ],
        "tool_choice": {"type": "tool", "name": "web_search"},
        "messages": [
            {"role": "user", "content": "What's new?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "news"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [
                            {
                                "type": "web_search_result",
                                "title": "T",
                                "url": "https://e.x",
                                "encrypted_content": "E",
                            }
                        ],
                    },
                    {"type": "text", "text": "Here is the news."},
                ],
            },
            {"role": "user", "content": "Thanks"},
        ],
    }
    r = post(gw, "/v1/messages", body, "tcc-server-tools", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    sent = up.seen(OPENAI)[-1].json
    assert [t["function"]["name"] for t in sent["tools"]] == ["Read"]
    assert sent["tool_choice"] == "auto"  # the forced server tool does not exist upstream
    dumped = json.dumps(sent["messages"])
    assert (
        "srvtoolu_1" not in dumped
        and "web_search_tool_result" not in dumped
        and "Here is the news." in dumped
    )


@pytest.mark.parametrize("headers", [AV, {}])
def test_models_list_for_claude_code(gw: Stack, headers: dict[str, str]) -> None:
    r = httpx.get(
        gw.gateway_url + "/v1/models?limit=1000", headers=headers, follow_redirects=False, timeout=30
    )
    assert r.status_code == 200  # no redirect
    data = r.json()["data"]
    assert "claude-sonnet-4-5" in {m["id"] for m in data} and "local-llama" in {m["id"] for m in data}
    assert all(isinstance(m.get("display_name"), str) and m["display_name"] for m in data)


def test_count_tokens_gets_no_gateway_signature_either(gw: Stack, up: ScriptedUpstream) -> None:
    from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE

    up.script("/anthropic/v1/messages/count_tokens", json_answer({"input_tokens": 12}))
    messages = [
        {"role": "user", "content": "6*7?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": SYNTHETIC_SIGNATURE},
                {"type": "text", "text": "42"},
            ],
        },
        {"role": "user", "content": "thanks"},
    ]
    r = post(
        gw, "/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": messages}, "tcc-count", AV
    )
    assert r.status_code == 200 and r.json() == {"input_tokens": 12}
    sent = up.seen("/anthropic/v1/messages/count_tokens")[-1].json
    assert SYNTHETIC_SIGNATURE not in json.dumps(sent) and sent["messages"][1]["content"] == [
        {"type": "text", "text": "42"}
    ]


CASE01K_CALL = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_time", "arguments": ""},
}
CASE01K = frames(
    chat_chunk("local-llama", {"role": "assistant", "content": None, "tool_calls": [CASE01K_CALL]}),
    chat_chunk("local-llama", {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}),
    chat_chunk("local-llama", {}, "tool_calls"),
    chat_chunk("local-llama", usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}),
    b"data: [DONE]\n\n",
)


def chat_tool_arguments(raw: bytes) -> tuple[dict[int, str], list[str]]:
    """A chat stream's joined tool arguments by index, and its chunks' kinds in order ("args", "finish")."""
    args: dict[int, str] = {}
    kinds: list[str] = []
    for ev in client_events(raw):
        if ev.comment or ev.data == "[DONE]":
            continue
        for choice in json.loads(ev.data)["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                args[call["index"]] = args.get(call["index"], "") + call["function"].get("arguments", "")
                kinds.append("args")
            if choice.get("finish_reason"):
                kinds.append("finish")
    return args, kinds


def test_case01k_passed_through_empty_arguments_become_an_empty_object(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s7 variant 01-k: an OpenAI-compatible server passed through to a Chat client sends a call to a tool
    without parameters whose arguments are only ever "" (llama.cpp, vLLM); the client gets "{}", streamed
    (before the finish chunk, with or without include_usage, one read or event by event) and not."""
    body = {"model": "local-llama", "messages": [{"role": "user", "content": "time?"}]}
    for n, (pieces, options) in enumerate(
        [
            (CASE01K, {}),
            ([b"".join(CASE01K)], {}),
            (CASE01K, {"stream_options": {"include_usage": True}}),
            ([b"".join(CASE01K)], {"stream_options": {"include_usage": True}}),
        ]
    ):
        up.script(LOCAL, sse(pieces))
        r = post(gw, "/v1/chat/completions", {**body, "stream": True, **options}, f"t01-k-s{n}")
        args, kinds = chat_tool_arguments(r.content)
        assert args == {0: "{}"} and kinds[-1] == "finish", (n, r.content)
        assert r.content.endswith(b"data: [DONE]\n\n") and (b'"total_tokens"' in r.content) == bool(options)
    call = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": ""}}
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1775000000,
        "model": "local-llama",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    up.script(LOCAL, json_answer(answer))
    r = post(gw, "/v1/chat/completions", body, "t01-k")
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{}"


def null_call(index: int, call_id: str | None, arguments: str) -> dict[str, Any]:
    head = {"id": call_id, "type": "function"} if call_id else {}
    return {
        "index": index,
        **head,
        "function": {"name": "get_time", "arguments": arguments} if call_id else {"arguments": arguments},
    }


NULL_ARGS = frames(
    chat_chunk(
        "local-llama", {"role": "assistant", "content": None, "tool_calls": [null_call(0, "call_a", "null")]}
    ),
    chat_chunk("local-llama", {"tool_calls": [null_call(1, "call_b", "")]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(1, None, " nu")]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(1, None, "ll ")]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(2, "call_c", '{"tz":')]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(2, None, " null")]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(2, None, "}")]}),
    chat_chunk("local-llama", {}, "tool_calls"),
    b"data: [DONE]\n\n",
)


def test_passed_through_null_arguments_become_an_empty_object(gw: Stack, up: ScriptedUpstream) -> None:
    """s23 variant 01-blank-vA: vLLM streams a call made without arguments as ``null`` (vllm-project/vllm#21046),
    in one fragment or several; the openai SDK's joined arguments parsed to None, not the JSON object OpenAI's
    contract says, while the same answer not streamed gave "{}" (bugcase 01's kind). Now those fragments reach
    the client blanked and the call gets "{}" when the answer ends; a ``null`` value inside an object is left
    alone. One read, and event by event."""
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        for pieces in (NULL_ARGS, [b"".join(NULL_ARGS)]):
            up.script(LOCAL, sse(pieces))
            joined: dict[int, str] = {}
            for chunk in client.chat.completions.create(
                model="local-llama", messages=[{"role": "user", "content": "time?"}], tools=tools, stream=True
            ):
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or []:
                        text = call.function.arguments if call.function else None
                        joined[call.index] = joined.get(call.index, "") + (text or "")
            assert {i: json.loads(a) for i, a in joined.items()} == {0: {}, 1: {}, 2: {"tz": None}}, joined


TWICE = json.dumps(json.dumps({"city": "Paris", "units": "metric"}))
TWICE_ARGS = frames(
    chat_chunk(
        "local-llama", {"role": "assistant", "content": None, "tool_calls": [null_call(0, "call_a", "")]}
    ),
    chat_chunk("local-llama", {"tool_calls": [null_call(0, None, TWICE[:11])]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(0, None, TWICE[11:])]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(1, "call_b", TWICE)]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(2, "call_c", '"not an object"')]}),
    chat_chunk("local-llama", {}, "tool_calls"),
    b"data: [DONE]\n\n",
)


def test_passed_through_arguments_encoded_twice_reach_the_sdk_as_the_unstreamed_answer_has_them(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """bug24a variant 01-twice-passthrough-vD (bugcase 01's kind: streamed and unstreamed tool arguments differ):
    a server that sends a call's arguments encoded twice (a JSON string holding the object's text) gave a chat
    client the object's text unstreamed (``repair_empty_arguments``) but the JSON string streamed, which the
    openai SDK's joined arguments parse to a str, not the object. Now the streamed client gets the object's
    text too (split across fragments or whole); a string holding no object reaches it as sent. One read, and
    event by event; the unstreamed answer for the same calls gives the same arguments."""
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    want = {
        0: {"city": "Paris", "units": "metric"},
        1: {"city": "Paris", "units": "metric"},
        2: "not an object",
    }
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        for pieces in (TWICE_ARGS, [b"".join(TWICE_ARGS)]):
            up.script(LOCAL, sse(pieces))
            joined: dict[int, str] = {}
            for chunk in client.chat.completions.create(
                model="local-llama",
                messages=[{"role": "user", "content": "weather?"}],
                tools=tools,
                stream=True,
            ):
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or []:
                        text = call.function.arguments if call.function else None
                        joined[call.index] = joined.get(call.index, "") + (text or "")
            assert {i: json.loads(a) for i, a in joined.items()} == want, joined
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": "get_time", "arguments": a}}
            for i, a in enumerate([TWICE, TWICE, '"not an object"'])
        ]
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        answer = {
            "id": "c1",
            "object": "chat.completion",
            "created": 1775000000,
            "model": "local-llama",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
        up.script(LOCAL, json_answer(answer))
        done = client.chat.completions.create(
            model="local-llama", messages=[{"role": "user", "content": "weather?"}], tools=tools
        )
        unstreamed = done.choices[0].message.tool_calls or []
        assert {i: json.loads(c.function.arguments) for i, c in enumerate(unstreamed)} == want  # type: ignore[union-attr]


# the closing fragment in the finish chunk (vLLM flushes what is left of a call with the finish), a blank first
TWICE_IN_FINISH = frames(
    chat_chunk(
        "local-llama", {"role": "assistant", "content": None, "tool_calls": [null_call(0, "call_a", "")]}
    ),
    chat_chunk("local-llama", {"tool_calls": [null_call(0, None, " ")]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(0, None, TWICE[:11])]}),
    chat_chunk("local-llama", {"tool_calls": [null_call(0, None, TWICE[11:])]}, "tool_calls"),
    b"data: [DONE]\n\n",
)


def test_arguments_encoded_twice_closed_in_the_finish_chunk_reach_the_sdks_as_the_object(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Session 24 review: the string's closing fragment in the chunk that ends the answer. The chat client (the
    openai SDK, passthrough) got the object's text and then the held string again (``held_arguments_frames``
    read before that chunk was mended), no JSON; the Anthropic client (the anthropic SDK, translated) got the
    string unmended after a blank first fragment (``ChatStreamDecoder._advance``)."""
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    want = {"city": "Paris", "units": "metric"}
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        for pieces in (TWICE_IN_FINISH, [b"".join(TWICE_IN_FINISH)]):
            up.script(LOCAL, sse(pieces))
            joined = ""
            for chunk in client.chat.completions.create(
                model="local-llama",
                messages=[{"role": "user", "content": "weather?"}],
                tools=tools,
                stream=True,
            ):
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or []:
                        joined += (call.function.arguments if call.function else None) or ""
            assert json.loads(joined) == want, joined
    up.script(LOCAL, sse(TWICE_IN_FINISH))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0) as claude:
        with claude.messages.stream(
            model="local-llama",
            max_tokens=64,
            messages=[{"role": "user", "content": "weather?"}],
            tools=[{"name": "get_time", "input_schema": {"type": "object"}}],
        ) as stream:
            message = stream.get_final_message()
    uses = [b for b in message.content if b.type == "tool_use"]
    assert [u.input for u in uses] == [want]


def test_a_usage_chunk_without_its_blank_line_is_billed_and_passed_on(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s8 variant 13-k: the server closes right after the usage chunk's line (no blank line, no [DONE]).
    The Chat client that asked include_usage gets the usage and [DONE], no error; the ledger bills it."""
    body = {
        "model": "local-llama",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    up.script(LOCAL, sse([*CASE13[:3], CASE13[3].removesuffix(b"\n")]))
    r = post(gw, "/v1/chat/completions", body, "t13-k")
    usage = [json.loads(e.data)["usage"] for e in client_events(r.content) if '"usage"' in e.data]
    assert usage == [{"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}]
    assert r.content.endswith(b"data: [DONE]\n\n") and b'"error"' not in r.content
    row = gw.row_for("t13-k")
    assert (row["status"], row["output_tokens"]) == (200, 3)


def test_a_passed_through_responses_function_call_with_blank_arguments_gets_an_empty_object(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s8 variant 01-n: OpenAI Responses passed through to a client with tools (Codex): a function call's
    arguments "" reach it as "{}" in the item, the arguments' done event and the completed response,
    streamed and not."""
    r0 = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-4o-mini", "output": []}
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "now", "arguments": ""}
    done = {**r0, "status": "completed", "output": [call], "usage": {"input_tokens": 9, "output_tokens": 4}}
    events = [
        {"type": "response.created", "response": r0},
        {"type": "response.output_item.added", "output_index": 0, "item": call},
        {"type": "response.function_call_arguments.done", "output_index": 0, "arguments": ""},
        {"type": "response.output_item.done", "output_index": 0, "item": call},
        {"type": "response.completed", "response": done},
    ]
    up.script("/openai/v1/responses", sse(frames(*events, event=True)))
    up.script("/openai/v1/responses", json_answer(done))
    tools = [{"type": "function", "name": "now", "parameters": {"type": "object", "properties": {}}}]
    body = {"model": "gpt-4o-mini", "input": "time?", "tools": tools}
    s = post(gw, "/v1/responses", {**body, "stream": True}, "t01-n-s")
    got = {e.event: json.loads(e.data) for e in client_events(s.content) if e.data}
    assert got["response.function_call_arguments.done"]["arguments"] == "{}"
    assert got["response.output_item.done"]["item"]["arguments"] == "{}"
    assert got["response.completed"]["response"]["output"][0]["arguments"] == "{}"
    n = post(gw, "/v1/responses", body, "t01-n")
    assert n.json()["output"][0]["arguments"] == "{}"


OPENROUTER = "/openrouter/api/v1/chat/completions"


def openrouter_cannot_afford(n: int) -> dict[str, Any]:
    return {
        "error": {
            "message": "This request requires more credits, or fewer max_tokens. You requested up to 32000 tokens, "
            f"but can only afford {n}. To increase, visit https://openrouter.ai/settings/credits and upgrade "
            "to a paid account",
            "code": 402,
            "metadata": {"provider_name": None},
        }
    }


@pytest.fixture()
def gw_openrouter(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    """A gateway of its own with only OpenRouter (its 402s must not cool the other tests' providers down)."""
    with stack(tmp_path, {"openrouter": f"{up.url}/openrouter/api/v1"}) as st:
        yield st


def test_openrouters_affordable_output_is_asked_for_once_more(
    gw_openrouter: Stack, up: ScriptedUpstream
) -> None:
    """s14 variant 17-a: OpenRouter's pre-flight credit check refuses Claude Code's 32000 output tokens with 402
    "… or fewer max_tokens. You requested up to 32000 tokens, but can only afford 27342" (Gitlawb/openclaude#1125).
    Claude Code cannot change its max_tokens: the request goes once more within 27342, for that request only (the
    next one asks its 32000 again). "can only afford 0" is not retried (17-f). Before: Claude Code got the 402."""

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 27342

    up.script(
        OPENROUTER,
        json_answer(openrouter_cannot_afford(27342), 402, when=too_many),
        sse(ok_stream("qwen/qwen3-coder")),
    )
    r = post(gw_openrouter, "/v1/messages", claude_code_request("qwen/qwen3-coder"), "t17-afford", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, OPENROUTER) == [32000, 27342]
    up.reset()
    up.script(
        OPENROUTER,
        json_answer(openrouter_cannot_afford(0), 402),
        json_answer(openrouter_cannot_afford(0), 402),
    )
    r = post(gw_openrouter, "/v1/messages", claude_code_request("qwen/qwen3-coder"), "t17-afford0", AV)
    assert r.status_code == 402 and r.json()["error"]["type"] == "billing_error"
    assert sent_limits(up, OPENROUTER) == [32000]  # asked once again (not remembered), nothing to retry with


def test_a_cap_on_unstreamed_requests_clamps_this_request_and_says_length(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s12 variant 17-i, decided (docs/catalog.md, "Output limits"): Fireworks refuses a request that is not
    streamed above 4096 output tokens ("Requests with max_tokens > 4096 must have stream=true"). The gateway
    asks again within 4096 rather than answering the client 400: ``max_tokens`` is an upper bound (OpenAI
    API reference: "the maximum number of tokens that can be generated"), clients send large defaults
    (Claude Code 32000/64000) they did not choose for this model, and an answer cut at the cap says so
    (``finish_reason: "length"``). The cap is this request's only: a streamed one asks for what it asked."""
    refusal = {
        "error": {
            "message": "Requests with max_tokens > 4096 must have stream=true",
            "type": "invalid_request_error",
            "code": "invalid_request_error",
        }
    }
    cut = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "local-llama",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Long..."}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4096, "total_tokens": 4106},
    }
    up.script(LOCAL, json_answer(refusal, 400, when=lambda b: b.get("max_tokens") == 8192))
    up.script(LOCAL, json_answer(cut, when=lambda b: b.get("max_tokens") == 4096))
    up.script(LOCAL, sse(frames(chat_chunk("local-llama", {"content": "Hi."}, "stop"), b"data: [DONE]\n\n")))
    ask = {"model": "local-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8192}
    resp = post(gw, "/v1/chat/completions", ask, "t17i-a")
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["finish_reason"] == "length"
    assert post(gw, "/v1/chat/completions", ask | {"stream": True}, "t17i-b").status_code == 200
    assert [r.json.get("max_tokens") for r in up.requests] == [8192, 4096, 8192]
    assert_rows(gw, ["t17i-a"], (200, None, 10, 4096))


def test_openrouters_affordable_output_too_long_to_read_is_its_402(
    gw_openrouter: Stack, up: ScriptedUpstream
) -> None:
    """Review of s14 variant 17-a: a 402 whose "can only afford N" has more digits than ``int`` reads (4300,
    ``sys.get_int_max_str_digits``: ValueError) states no limit: the client gets the 402, not a 500."""
    huge = openrouter_cannot_afford(0)
    huge["error"]["message"] = huge["error"]["message"].replace("afford 0", "afford " + "9" * 5000)
    up.script(OPENROUTER, json_answer(huge, 402), json_answer(huge, 402))
    r = post(gw_openrouter, "/v1/messages", claude_code_request("qwen/qwen3-coder"), "t17-afford-huge", AV)
    assert r.status_code == 402 and r.json()["error"]["type"] == "billing_error"
    assert sent_limits(up, OPENROUTER) == [32000]


@pytest.fixture()
def gw_full(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    """A gateway of its own whose OpenAI is a full-context server (its 500s must not cool the others down)."""
    with stack(tmp_path, {"openai": f"{up.url}/ctxfull/v1"}) as st:
        yield st


@pytest.mark.parametrize(("path", "fmt"), [("/v1/messages", "anthropic"), ("/v1/chat/completions", "chat")])
def test_an_overflow_told_in_a_5xx_is_not_retried_by_the_client(
    gw_full: Stack, up: ScriptedUpstream, path: str, fmt: str
) -> None:
    """Review of s14 variant 10-c: a llama.cpp-based server's 500 "the context window is full" is now said as a
    400 overflow; an ``x-should-retry: true`` the upstream sent with its 500 must not go with that 400 (both SDKs
    retry any status on it, ``_base_client._should_retry``): Claude Code would resend the same prompt instead of
    compacting it."""
    full = {
        "error": {
            "code": 500,
            "message": "the context window is full. Please reduce the input size or increase the context window",
            "type": "server_error",
        }
    }
    up.script(
        "/ctxfull/v1/chat/completions", *[json_answer(full, 500, headers={"x-should-retry": "true"})] * 3
    )
    body = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    r = post(gw_full, path, body, f"t10-c-retry-{fmt}", AV)
    assert r.status_code == 400
    if fmt == "anthropic":
        assert r.json()["error"]["message"].startswith("prompt is too long")
    else:
        assert r.json()["error"]["code"] == "context_length_exceeded"
    assert r.headers.get("x-should-retry") != "true"


@pytest.fixture()
def gw_two_resting(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    """A gateway of its own with Anthropic and OpenRouter (their 429s rest both for minutes)."""
    with stack(
        tmp_path, {"anthropic": f"{up.url}/anthropic", "openrouter": f"{up.url}/openrouter/api/v1"}
    ) as st:
        yield st


def test_when_every_provider_refuses_the_soonest_window_is_told(
    gw_two_resting: Stack, up: ScriptedUpstream
) -> None:
    """s15 variant 11-c: Anthropic refuses for 30 s, then OpenRouter for 600 s. The client was told the last one's
    600 s, although a provider is free again in 30 (and the gateway's next answer says so): Claude Code waited ten
    minutes, or more, for nothing. The refusal told is the one whose window ends soonest, with its own body."""
    gw = gw_two_resting
    short = {"type": "error", "error": {"type": "rate_limit_error", "message": "Per-minute limit reached."}}
    long = {"error": {"message": "Rate limit exceeded: limit_rpm/anthropic/claude-sonnet-4.5", "code": 429}}
    up.script(ANTHROPIC, json_answer(short, 429, headers={"retry-after": "30"}))
    up.script(OPENROUTER, json_answer(long, 429, headers={"retry-after": "600"}))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    first = post(gw, "/v1/messages", body, "t15-11c-1", AV)
    assert len(up.seen(ANTHROPIC)) == 1 and len(up.seen(OPENROUTER)) == 1  # both were tried
    assert first.status_code == 429 and first.headers["retry-after"] == "30"
    assert first.json()["error"]["message"] == "Per-minute limit reached."
    again = post(gw, "/v1/messages", body, "t15-11c-2", AV)  # told again by the gateway: the same window
    assert again.status_code == 429 and 0 < int(again.headers["retry-after"]) <= 30


def test_an_overflow_counting_the_output_asked_reaches_claude_code_with_the_prompts_count(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s20 variant 10-e: Kimi's "(requested: N)" counts the prompt and max_tokens together (MoonshotAI/kimi-cli#2011,
    MoonshotAI-Cookbook#18). A prompt past the window alone (42000 - 32000 asked = 10000 > 8192) is told to Claude
    Code as that prompt's count; before, "42000 tokens > 8192 maximum" (a prompt 32000 tokens larger than it was:
    Claude Code compacts by what it is told)."""
    refusal = {
        "error": {
            "message": "Invalid request: Your request exceeded model token limit: 8192 (requested: 42000)",
            "type": "invalid_request_error",
        }
    }
    up.script(DEEPSEEK, json_answer(refusal, 400))
    r = post(gw, "/v1/messages", claude_code_request("kimi-chat"), "t10-kimi-total", AV)
    assert sent_limits(up, DEEPSEEK) == [32000]
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "prompt is too long: 10000 tokens > 8192 maximum"


def test_s21_tgi_max_new_tokens_cap_is_retried_within(gw: Stack, up: ScriptedUpstream) -> None:
    """s21 variant 17-a: text-generation-inference refuses an output budget above its own cap with 422 ``{"error":
    "Input validation error: `max_new_tokens` must be <= 4096. Given: 32000", "error_type": "validation"}`` (its
    ``ValidationError::MaxNewTokens``: ``max_total_tokens - max_input_tokens``); that wording was not read, and Claude
    Code got the refusal. Now it is asked again within the cap, and the cap is remembered (the server's, true of
    every request): the next request asks for 4096 at once."""
    refusal = {
        "error": "Input validation error: `max_new_tokens` must be <= 4096. Given: 32000",
        "error_type": "validation",
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 4096

    up.script(DEEPSEEK, json_answer(refusal, 422, when=too_many), sse(ok_stream("tgi-chat")))
    r = post(gw, "/v1/messages", claude_code_request("tgi-chat"), "t21-17a-1", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 4096]
    up.script(DEEPSEEK, json_answer(refusal, 422, when=too_many), sse(ok_stream("tgi-chat")))
    again = post(gw, "/v1/messages", claude_code_request("tgi-chat"), "t21-17a-2", AV)
    assert again.status_code == 200 and sent_limits(up, DEEPSEEK)[2:] == [4096]


def test_s21_tgi_window_refusal_is_not_read_as_its_output_cap(gw: Stack, up: ScriptedUpstream) -> None:
    """The other TGI wording ("`inputs` tokens + `max_new_tokens` must be <= 8193. Given: 22 `inputs` tokens and 32000
    `max_new_tokens`") states the window, of which the prompt takes its share: the retry asks for what is left
    (8193 - 22 = 8171), not the window (``max_new_tokens` must be <=`` is read only where no "+ " precedes it)."""
    refusal = {
        "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 22 `inputs` "
        "tokens and 32000 `max_new_tokens`",
        "error_type": "validation",
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 8171

    up.script(DEEPSEEK, json_answer(refusal, 422, when=too_many), sse(ok_stream("tgi-window-chat")))
    r = post(gw, "/v1/messages", claude_code_request("tgi-window-chat"), "t21-17a-3", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK)[-2:] == [32000, 8171]


def test_s21_cerebras_whole_request_refusal_is_retried_within_what_the_prompt_leaves(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s21 variant 17-b: Cerebras counts the prompt and max_tokens together ("Please reduce the length of the messages
    or completion. Current length is 32050 while limit is 8192": a 50-token prompt and Claude Code's 32000). It was
    told to Claude Code as "prompt is too long: 32050 tokens > 8192 maximum" (it compacts a 50-token conversation,
    and fails again); now the request is asked again within what the prompt leaves (8192 - 50 = 8142)."""
    refusal = {
        "message": "Please reduce the length of the messages or completion. Current length is 32050 while limit is 8192",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 8142

    up.script(DEEPSEEK, json_answer(refusal, 400, when=too_many), sse(ok_stream("cerebras-chat")))
    r = post(gw, "/v1/messages", claude_code_request("cerebras-chat"), "t21-17b-1", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 8142]


def test_s21_cerebras_overflow_of_the_prompt_itself_tells_the_prompts_count(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Cerebras' whole-request count where the prompt alone is past the window (72328 - 32000 = 40328 > 40000): no
    retry can help; Claude Code is told the prompt's count, not the whole request's."""
    refusal = {
        "message": "Please reduce the length of the messages or completion. Current length is 72328 while limit is 40000",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    up.script(DEEPSEEK, json_answer(refusal, 400))
    r = post(gw, "/v1/messages", claude_code_request("cerebras-full-chat"), "t21-17b-2", AV)
    assert sent_limits(up, DEEPSEEK) == [32000]
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "prompt is too long: 40328 tokens > 40000 maximum"


def test_s21_llamacpp_overflow_counts_in_fields_reach_claude_code(gw: Stack, up: ScriptedUpstream) -> None:
    """s21 variant 10-a: llama.cpp's server states an overflow's counts in fields of its error object, not in its
    message (``exceed_context_size_error`` with ``n_prompt_tokens`` and ``n_ctx``). Claude Code was told "prompt is
    too long: the request exceeds the available context size, try increasing it", without the counts it reads to
    know how much to compact; now "prompt is too long: 40000 tokens > 32768 maximum"."""
    up.script(DEEPSEEK, json_answer(LLAMACPP_OVERFLOW, 400))
    r = post(gw, "/v1/messages", claude_code_request("llamacpp-chat"), "t21-10a-1", AV)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["message"] == "prompt is too long: 40000 tokens > 32768 maximum"


# llama.cpp's server (builds that write a stream's error with ``server_sent_event(sink, "error", …)``): the refusal of a
# prompt past the context, found after the 200, as an ``error:`` line (a field the SSE spec ignores), then [DONE]
LLAMACPP_ERROR_LINE = [
    b'error: {"code":400,"message":"the request exceeds the available context size, try increasing it",'
    b'"type":"exceed_context_size_error","n_prompt_tokens":40000,"n_ctx":32768}\n\n',
    b"data: [DONE]\n\n",
]


def test_s22_llamacpp_stream_error_line_reaches_every_client_format(gw: Stack, up: ScriptedUpstream) -> None:
    """s22 variants 10-a, 10-b, 10-h: llama.cpp streams the error that ends a stream as an ``error: {…}`` line, which
    the SSE decoder ignored (as the spec says of unknown fields): every client got an empty, successful answer.
    Claude Code (anthropic SDK) is told "prompt is too long: 40000 tokens > 32768 maximum" (the counts from the error
    object's fields), a Responses client (openai SDK) and a chat client (same format) ``context_length_exceeded``."""
    up.script(DEEPSEEK, sse(list(LLAMACPP_ERROR_LINE)))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as told:
        with claude.messages.stream(
            model="llamacpp-chat", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert isinstance(told.value.body, dict)
    assert told.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 40000 tokens > 32768 maximum",
    }
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    up.script(DEEPSEEK, sse(list(LLAMACPP_ERROR_LINE)))
    with pytest.raises(openai.BadRequestError) as failed:
        for _ in client.responses.create(model="llamacpp-chat", input="hi", stream=True):
            pass
    assert failed.value.code == "context_length_exceeded" and "40000 tokens" in failed.value.message
    up.script(DEEPSEEK, sse(list(LLAMACPP_ERROR_LINE)))
    with pytest.raises(openai.BadRequestError) as refused:
        for _ in client.chat.completions.create(
            model="llamacpp-chat", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    assert refused.value.code == "context_length_exceeded" and "40000 tokens" in refused.value.message


def test_s22_llamacpp_stream_error_line_after_the_answer_began_is_an_error_event(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s22 variants 10-i, 10-l: an ``error:`` line that is no overflow, after text went out (CRLF line ends): Claude
    Code gets an ``error`` event with llama.cpp's words, not an answer that ends as if complete; an openai SDK chat
    client (same format) gets the ``data: {"error": …}`` chunk it raises on, not the line as it came (which it
    ignores) nor an ``event: error`` whose data has no ``error`` (which it takes for a chunk)."""
    text = orjson.dumps(chat_chunk("llamacpp-chat", {"role": "assistant", "content": "Partial"}))
    failing = [
        b"data: " + text + b"\r\n\r\n",
        b'error: {"code":500,"message":"Failed to decode the batch","type":"server_error"}\r\n\r\n',
        b"data: [DONE]\r\n\r\n",
    ]
    up.script(DEEPSEEK, sse(list(failing)))
    r = post(gw, "/v1/messages", claude_code_request("llamacpp-chat"), "t22-10i", AV)
    got = anthropic_assembled(r.content)
    assert r.status_code == 200 and got["text"] == "Partial"
    assert got["errors"] == [{"type": "api_error", "message": "Failed to decode the batch"}]
    up.script(DEEPSEEK, sse(list(failing)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    said = []
    with pytest.raises(openai.APIError) as raised:
        for piece in client.chat.completions.create(
            model="llamacpp-chat", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            said.append(piece.choices[0].delta.content)
    assert said == ["Partial"] and raised.value.message == "Failed to decode the batch"


def tgi_stream_error(text: str) -> list[bytes | Pause]:
    """text-generation-inference's error event: it validates a streamed request after the 200 and tells the refusal as
    ``data: {"error": "<text>", "error_type": "validation"}`` (its router's ``impl From<InferError> for Event``)."""
    return [b"data: " + orjson.dumps({"error": text, "error_type": "validation"}) + b"\n\n"]


def test_s22_tgi_in_stream_validation_errors_are_the_422s_they_stand_for(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s22 variants 17-f, 10-j, 10-k: TGI's in-stream refusals were read as 500s (its string ``error`` has its type
    beside it, in ``error_type``), so neither kind of error was what it says. Its own output cap is asked again within
    (Claude Code gets its answer); its prompt past the window reaches Claude Code (anthropic SDK) as "prompt is too
    long: 9120 tokens > 8192 maximum" and a Responses client (openai SDK) as ``context_length_exceeded``."""
    cap = tgi_stream_error("Input validation error: `max_new_tokens` must be <= 4096. Given: 32000")

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 4096

    up.script(DEEPSEEK, sse(cap, when=too_many), sse(ok_stream("tgi-stream-chat")))
    r = post(gw, "/v1/messages", claude_code_request("tgi-stream-chat"), "t22-17f-1", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 4096]
    overflow = tgi_stream_error(
        "Input validation error: `inputs` must have less than 8192 tokens. Given: 9120"
    )
    up.script(DEEPSEEK, sse(list(overflow)))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as told:
        with claude.messages.stream(
            model="tgi-stream-chat", max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert isinstance(told.value.body, dict)
    assert told.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 9120 tokens > 8192 maximum",
    }
    up.script(DEEPSEEK, sse(list(overflow)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as failed:
        for _ in client.responses.create(model="tgi-stream-chat", input="hi", stream=True):
            pass
    assert failed.value.code == "context_length_exceeded" and "9120 tokens" in failed.value.message


# Ollama's OpenAI-compatible endpoint: every error in OpenAI's shape with type api_error (middleware/openai.go
# ``writeError``), under the status its handler set: 500 for an error it streams without one (routes.go
# ``streamResponse``)
OLLAMA_OVERFLOW = {
    "error": {
        "message": "prompt too long; exceeded max context length by 65590 tokens",
        "type": "api_error",
        "param": None,
        "code": None,
    }
}


def test_s23_ollamas_overflow_as_a_500_reaches_every_client_format_as_an_overflow(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s23 variants 10-a..10-c: Ollama's "prompt too long; exceeded max context length by N tokens" answered as a 500
    was read as a server fault: Claude Code (anthropic SDK) got a 500 api_error and retried instead of compacting,
    Codex (a Responses client) and a chat client (same format; the openai SDK resent it twice) no
    ``context_length_exceeded``. Each now gets the 400 overflow its format says, once, with ``x-should-retry:
    false``."""
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=2)
    up.script(DEEPSEEK, *[json_answer(OLLAMA_OVERFLOW, 500)] * 3)
    with pytest.raises(anthropic.BadRequestError) as told:
        with claude.messages.stream(
            model="ollama-chat", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert isinstance(told.value.body, dict)
    assert told.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: prompt too long; exceeded max context length by 65590 tokens",
    }
    assert len(up.seen(DEEPSEEK)) == 1
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=2)
    up.script(DEEPSEEK, *[json_answer(OLLAMA_OVERFLOW, 500)] * 3)
    with pytest.raises(openai.BadRequestError) as failed:
        for _ in client.responses.create(model="ollama-chat", input="hi", stream=True):
            pass
    assert failed.value.code == "context_length_exceeded" and "65590 tokens" in failed.value.message
    assert len(up.seen(DEEPSEEK)) == 2  # once each
    up.script(DEEPSEEK, *[json_answer(OLLAMA_OVERFLOW, 500)] * 3)
    with pytest.raises(openai.BadRequestError) as refused:
        for _ in client.chat.completions.create(
            model="ollama-chat", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    assert refused.value.code == "context_length_exceeded" and "65590 tokens" in refused.value.message
    assert refused.value.response.headers.get("x-should-retry") == "false"
    assert len(up.seen(DEEPSEEK)) == 3


def test_s23_zai_prompt_too_long_and_grouped_counts_reach_claude_code_and_codex(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s23 variants 10-n, 10-p, 17-i: Z.ai's 400 "Prompt too long" (error 1261) was no overflow, so Codex (openai SDK,
    Responses) got no ``context_length_exceeded``; an overflow whose window's digits are grouped ("262,144") reached
    Claude Code (anthropic SDK) as "300000 tokens > 262 maximum"; a cap stated as "65,536" was retried at 65."""
    up.script(DEEPSEEK, json_answer({"error": {"code": "1261", "message": "Prompt too long"}}, 400))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as failed:
        for _ in client.responses.create(model="zai-chat", input="hi", stream=True):
            pass
    assert failed.value.code == "context_length_exceeded"
    grouped = {
        "error": {
            "message": "Input length 300000 exceeds the maximum allowed input length of 262,144 tokens."
        }
    }
    up.script(DEEPSEEK, json_answer(grouped, 400))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as told:
        with claude.messages.stream(
            model="grouped-chat", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert isinstance(told.value.body, dict)
    assert told.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 300000 tokens > 262144 maximum",
    }
    cap = {
        "error": {
            "message": "max_tokens must be less than or equal to 65,536",
            "type": "invalid_request_error",
        }
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 65536

    up.script(DEEPSEEK, json_answer(cap, 400, when=too_many), sse(ok_stream("grouped-chat")))
    with claude.messages.stream(
        model="grouped-chat", max_tokens=128000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text() == "Hi"
    assert sent_limits(up, DEEPSEEK)[-2:] == [128000, 65536]


SGLANG_TOTAL = (
    "Requested token count exceeds the model's maximum context length of 131072 tokens. You requested a total of "
    "172000 tokens: 140000 tokens from the input messages and 32000 tokens for the completion."
)


def test_s23_litellms_overflow_as_a_503_or_with_a_string_code_reaches_claude_code_and_codex(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s23 variants 10-q..10-t: LiteLLM's proxy relays an engine's overflow under the 503 its fallback ended with
    (Claude Code, anthropic SDK, got a 529 overloaded_error, retried and never compacted), and streams an error as
    ``{"error": {…, "code": "400"}}`` (the status as a string, read as 500: Codex, openai SDK, got a server_error).
    Each is the overflow it states, once."""
    fallback = {
        "error": {
            "message": "litellm.ServiceUnavailableError: litellm.MidStreamFallbackError: litellm.APIConnectionError: "
            "APIConnectionError: OpenAIException - " + SGLANG_TOTAL,
            "type": None,
            "param": None,
            "code": "503",
        }
    }
    up.script(DEEPSEEK, *[json_answer(fallback, 503)] * 3)
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=2)
    with pytest.raises(anthropic.BadRequestError) as told:
        with claude.messages.stream(
            model="litellm-chat", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert isinstance(told.value.body, dict)
    assert told.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 140000 tokens > 131072 maximum",
    }
    assert len(up.seen(DEEPSEEK)) == 1
    in_band = {
        "error": {
            "message": "litellm.BadRequestError: OpenAIException - " + SGLANG_TOTAL,
            "type": "None",
            "param": "None",
            "code": "400",
        }
    }
    up.script(DEEPSEEK, sse([b"data: " + orjson.dumps(in_band) + b"\n\n"]))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as failed:
        for _ in client.responses.create(model="litellm-chat", input="hi", stream=True):
            pass
    assert failed.value.code == "context_length_exceeded" and "140000 tokens" in failed.value.message


def test_s23_litellms_in_band_max_tokens_refusal_is_retried_within_its_cap(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s23 variant 17-j: DeepSeek's range refusal relayed by LiteLLM's proxy inside the stream, its code the string
    "400": read as a 500, Claude Code got an api_error and no retry; now asked again within 8192."""
    refusal = {
        "error": {
            "message": "litellm.BadRequestError: DeepseekException - Invalid max_tokens value, the valid range of "
            "max_tokens is [1, 8192]",
            "type": "None",
            "param": "None",
            "code": "400",
        }
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 8192

    up.script(
        DEEPSEEK,
        sse([b"data: " + orjson.dumps(refusal) + b"\n\n"], when=too_many),
        sse(ok_stream("litellm-chat")),
    )
    r = post(gw, "/v1/messages", claude_code_request("litellm-chat"), "t23-17j", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK) == [32000, 8192]


VERTEX_OVERFLOW = [
    {
        "error": {
            "code": 400,
            "message": "Unable to submit request because the input token count is 1135538 but model only supports up "
            "to 1048575. Reduce the input token count and try again. You can also use the CountTokens API to "
            "calculate prompt token count and billable characters.",
            "status": "INVALID_ARGUMENT",
        }
    }
]


def test_s21_vertex_gemini_overflow_reaches_claude_code_and_openai_clients(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s21 variant 10-g: Gemini on Vertex AI words an overflow "the input token count is N but model only supports up
    to M" (its OpenAI-compatible endpoint, the body a one-element list). It was no overflow: Claude Code got Vertex's
    words (no compaction) and an OpenAI client no ``context_length_exceeded``."""
    up.script(DEEPSEEK, json_answer(VERTEX_OVERFLOW, 400))
    r = post(gw, "/v1/messages", claude_code_request("vertex-chat") | {"max_tokens": 8192}, "t21-10g-1", AV)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["message"] == "prompt is too long: 1135538 tokens > 1048575 maximum"
    up.script(DEEPSEEK, json_answer(VERTEX_OVERFLOW, 400))
    chat = {"model": "vertex-chat", "max_tokens": 8192, "messages": [{"role": "user", "content": "hi"}]}
    c = post(gw, "/v1/chat/completions", chat, "t21-10g-2")
    assert c.status_code == 400 and c.json()["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize("started", [False, True], ids=["at-once", "after-the-answer-started"])
def test_a_whole_request_overflow_inside_a_200s_stream_reaches_claude_code_with_the_prompts_count(
    gw: Stack, up: ScriptedUpstream, started: bool
) -> None:
    """s21 (lead of s20 variant 10-e): Kimi's overflow as an error frame in a 200's stream, at once or after the
    client's answer has started (keep-alives past STREAM_KEEPALIVE_S). Claude Code is told the prompt's count
    (42000 - 32000 asked = 10000 > 8192), as for the refusal with a status
    (``test_an_overflow_counting_the_output_asked_reaches_claude_code_with_the_prompts_count``): it compacts by
    what it is told (client-protocols.md, "prompt is too long")."""
    chunk = {
        **chat_chunk("kimi-chat", {"content": ""}, "error"),
        "error": {
            "code": 400,
            "message": "Invalid request: Your request exceeded model token limit: 8192 (requested: 42000)",
            "type": "invalid_request_error",
        },
    }
    silence: list[bytes | Pause] = [b": PROCESSING\n\n", Pause(KEEPALIVE_S * 2.5)] if started else []
    up.script(DEEPSEEK, sse([*silence, *frames(chunk)]))
    r = post(gw, "/v1/messages", claude_code_request("kimi-chat"), f"t10-kimi-stream-{started}", AV)
    assert sent_limits(up, DEEPSEEK) == [32000]
    told = "prompt is too long: 10000 tokens > 8192 maximum"
    if started:
        got = anthropic_assembled(r.content)
        assert r.status_code == 200 and got["pings"] >= 1  # the answer had started
        assert got["errors"] == [{"type": "invalid_request_error", "message": told}]
    else:
        assert r.status_code == 400 and r.json()["error"]["message"] == told


def test_bugd21_a_longer_model_name_is_not_clamped_to_a_shorter_ones_limit(
    gw_openrouter: Stack, up: ScriptedUpstream
) -> None:
    """bugd21 variant 17-h: OpenRouter's ``deepseek/deepseek-chat-v3.1`` (DeepSeek V3.1) is another model than
    ``deepseek-chat`` (8192 output tokens, api-docs.deepseek.com): Claude Code's 32000 was clamped to 8192 by a prefix
    match. A longer name is not the model its prefix names: no known limit, the request goes as asked."""
    up.script(OPENROUTER, sse(ok_stream("deepseek/deepseek-chat-v3.1")))
    r = post(
        gw_openrouter, "/v1/messages", claude_code_request("deepseek/deepseek-chat-v3.1"), "td21-17h", AV
    )
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, OPENROUTER) == [32000]


def test_bugd21_a_range_from_two_is_retried_within_its_upper_bound(gw: Stack, up: ScriptedUpstream) -> None:
    """bugd21 variant 17-k: a range that starts at 2 (Qianfan/ERNIE's "[2, 2048]") went back to Claude Code unread
    (the range pattern needed a 1); its upper bound is the model's limit whatever the lower."""
    refusal = {
        "error": {
            "message": "Invalid max_tokens value, the valid range of max_tokens is [2, 2048]",
            "type": "invalid_request_error",
        }
    }

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 2048

    up.script(DEEPSEEK, json_answer(refusal, 400, when=too_many), sse(ok_stream("ernie-chat")))
    r = post(gw, "/v1/messages", claude_code_request("ernie-chat"), "td21-17k", AV)
    assert r.status_code == 200 and anthropic_assembled(r.content)["text"] == "Hi"
    assert sent_limits(up, DEEPSEEK)[-2:] == [32000, 2048]
