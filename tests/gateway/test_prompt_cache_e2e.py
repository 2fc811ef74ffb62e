"""Five-turn sessions replayed on every translating route, through the real gateway and recorder processes,
against fake providers that cache the way each real one documents (tests/fake/prompt_cache.py): from turn 2
on, the LEDGER must show cache reads. Routes: Claude Code → GPT, Claude Code → Claude over OpenRouter,
Codex-shaped Responses → Claude, openai SDK → Claude (directly and over OpenRouter)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.fake_provider import FakeProvider, provider_urls, running
from tests.procs import Stack, stack

# A long, stable system prompt (about 3,000 tokens by the fake's count), as coding agents send.
SYSTEM = (
    "You are a coding agent. Follow the repository's conventions, run the tests, keep diffs small. " * 130
)
SESSION = "3f1c2a9e-5b7d-4c1e-9a0b-claude-code-session"
TURNS = 5


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with running("anthropic", "openai", "openrouter") as fps:
        yield fps


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    urls = provider_urls(fakes)
    with stack(tmp_path_factory.mktemp("stack"), urls) as st:
        yield st


@pytest.fixture(autouse=True)
def cold_caches(fakes: dict[str, FakeProvider]) -> None:
    """Each session starts with nothing cached (the routes share the system prompt)."""
    for fp in fakes.values():
        fp.prompt_cache.clear()


# ---- the clients' requests, turn by turn -----------------------------------------------------------


def claude_code(model: str, turn: int) -> dict[str, Any]:
    """Claude Code's shape: billing header block (fixed for a conversation), system blocks with a 1-hour marker, the last user block
    marked; earlier markers are gone (Claude Code moves its breakpoint to the newest message)."""
    messages: list[dict[str, Any]] = []
    for n in range(turn):
        messages.append(
            {"role": "user", "content": [{"type": "text", "text": f"step {n}: fix the next test"}]}
        )
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"fixed test {n}"}]})
    messages.pop()
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return {
        "model": model,
        "max_tokens": 1024,
        "stream": turn % 2 == 0,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cch=8e1f2;"},
            {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ],
        "messages": messages,
    }


def codex(model: str, turn: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for n in range(turn):
        items.append(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"task {n}"}]}
        )
        items.append(
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": f"done {n}"}],
            }
        )
    items.pop()
    return {
        "model": model,
        "instructions": SYSTEM,
        "input": items,
        "stream": turn % 2 == 0,
        "store": False,
        "prompt_cache_key": "codex-thread-7",
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}}],
    }


def openai_sdk(model: str, turn: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for n in range(turn):
        messages += [
            {"role": "user", "content": f"question {n}"},
            {"role": "assistant", "content": f"answer {n}"},
        ]
    messages.pop()
    return {"model": model, "messages": messages, "stream": turn % 2 == 0}


Route = tuple[str, str, str, str, Callable[[str, int], dict[str, Any]]]
ROUTES: list[Route] = [
    # (name, path, provider, model, request builder)
    ("claude-code→gpt", "/v1/messages", "openai", "gpt-4o", claude_code),
    ("claude-code→claude@openrouter", "/v1/messages", "openrouter", "claude-sonnet-4-5", claude_code),
    ("codex→claude", "/v1/responses", "anthropic", "claude-sonnet-4-5", codex),
    ("openai-sdk→claude", "/v1/chat/completions", "anthropic", "claude-sonnet-4-5", openai_sdk),
    ("openai-sdk→claude@openrouter", "/v1/chat/completions", "openrouter", "claude-sonnet-4-5", openai_sdk),
]


def replay(gw: Stack, route: Route) -> list[dict[str, Any]]:
    """Five turns of one session; the ledger rows, in turn order."""
    name, path, provider, model, build = route
    headers = {
        "anthropic-version": "2023-06-01",
        "x-claude-code-session-id": SESSION,
        "x-ekai-provider": provider,
    }
    rows = []
    with httpx.Client(base_url=gw.gateway_url, timeout=30) as client:
        for turn in range(1, TURNS + 1):
            rid = f"cache-{name.replace('→', '-to-').replace('@', '-at-')}-{turn}"
            response = client.post(path, json=build(model, turn), headers={**headers, "x-request-id": rid})
            assert response.status_code == 200, response.text[:500]
            rows.append(gw.row_for(rid))
    return rows


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_session_reads_the_cache_from_turn_two(
    gw: Stack, fakes: dict[str, FakeProvider], route: Route
) -> None:
    rows = replay(gw, route)
    assert all(
        r["provider"] == route[2] and r["translated"] == (route[0] != "openai-sdk→claude@openrouter")
        for r in rows
    ), [(r["provider"], r["translated"]) for r in rows]
    reads = [r["cache_read_tokens"] for r in rows]
    assert reads[0] == 0 and all(n > 2000 for n in reads[1:]), reads
    prompts = [r["input_tokens"] + r["cache_read_tokens"] + r["cache_write_tokens"] for r in rows]
    assert all(read / prompt > 0.8 for read, prompt in zip(reads[1:], prompts[1:], strict=True)), (
        reads,
        prompts,
    )
    # reading from the cache saved money on every turn after the first
    assert all(r["cache_savings_usd"] is not None and r["cache_savings_usd"] > 0 for r in rows[1:])


def test_claude_code_to_gpt_carries_the_session_as_prompt_cache_key(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    fakes["openai"].requests.clear()
    replay(gw, ("claude-code→gpt-key", "/v1/messages", "openai", "gpt-4o", claude_code))
    assert [r.json.get("prompt_cache_key") for r in fakes["openai"].requests] == [SESSION] * TURNS


def test_claude_code_one_hour_markers_reach_openrouter_and_are_priced(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    fakes["openrouter"].requests.clear()
    rows = replay(
        gw,
        ("claude-code→claude@openrouter-ttl", "/v1/messages", "openrouter", "claude-sonnet-4-5", claude_code),
    )
    system = fakes["openrouter"].requests[0].json["messages"][0]
    assert system["content"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert rows[0]["cache_write_tokens"] > 2000  # turn 1 wrote what turn 2 read


def test_without_markers_nothing_is_cached(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    """The control: an Anthropic client that sends no markers to Claude gets no cache reads (Anthropic caches
    only what is marked), so the reads above are the markers' doing."""

    def unmarked(model: str, turn: int) -> dict[str, Any]:
        body = claude_code(model, turn)
        body["system"][1].pop("cache_control")
        body["messages"][-1]["content"][-1].pop("cache_control")
        return body

    rows = replay(
        gw, ("claude-code→claude-unmarked", "/v1/messages", "anthropic", "claude-sonnet-4-5", unmarked)
    )
    assert [r["cache_read_tokens"] for r in rows] == [0] * TURNS


def test_codex_to_openai_passes_prompt_cache_key_through_untouched(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    fakes["openai"].requests.clear()
    rows = replay(gw, ("codex→gpt", "/v1/responses", "openai", "gpt-5", codex))
    sent = [r.json for r in fakes["openai"].requests]
    assert [b["prompt_cache_key"] for b in sent] == ["codex-thread-7"] * TURNS
    assert [b["input"] for b in sent] == [codex("gpt-5", n)["input"] for n in range(1, TURNS + 1)]
    assert not any(r["translated"] for r in rows)
    assert rows[0]["cache_read_tokens"] == 0 and all(r["cache_read_tokens"] > 2000 for r in rows[1:])


def test_a_cache_control_property_in_a_schema_does_not_stop_caching(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    """s15 variants 08-a, 08-f: an openai SDK client whose HTTP tool has a parameter named ``cache_control`` and
    whose structured output's schema has one too, on Claude over OpenRouter. Neither is a client marker: the
    gateway places its breakpoints, and the session reads the cache from turn 2 (it read nothing: no marker
    was placed, every turn re-billed the prompt)."""
    schema = {
        "type": "object",
        "properties": {"url": {"type": "string"}, "cache_control": {"type": "string"}},
    }

    def with_schemas(model: str, turn: int) -> dict[str, Any]:
        body = openai_sdk(model, turn)
        body["tools"] = [{"type": "function", "function": {"name": "http_get", "parameters": schema}}]
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "policy", "schema": schema}}
        return body

    fakes["openrouter"].requests.clear()
    route = (
        "openai-sdk-schemas→claude@openrouter",
        "/v1/chat/completions",
        "openrouter",
        "claude-sonnet-4-5",
    )
    rows = replay(gw, (*route, with_schemas))
    reads = [r["cache_read_tokens"] for r in rows]
    assert reads[0] == 0 and all(n > 2000 for n in reads[1:]), reads
    sent = fakes["openrouter"].requests[0].json
    assert sent["tools"][0]["function"]["parameters"] == schema
    assert sent["response_format"]["json_schema"]["schema"] == schema


def test_metadata_and_null_cache_control_fields_do_not_stop_caching(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    """s16 variants 08-a, 08-b: an openai SDK client tags its requests with ``metadata`` {"cache_control": ...}
    and, like frameworks that write every optional field, sends ``"cache_control": null`` on its parts, on
    Claude over OpenRouter. Neither is a client marker: the gateway places its breakpoints and the session reads
    the cache from turn 2 (it read nothing: no marker was placed, every turn re-billed the prompt)."""

    def tagged(model: str, turn: int) -> dict[str, Any]:
        body = openai_sdk(model, turn)
        body["metadata"] = {"cache_control": "no-store", "team": "web"}
        for message in body["messages"]:
            if isinstance(message.get("content"), str):
                message["content"] = [{"type": "text", "text": message["content"], "cache_control": None}]
        return body

    fakes["openrouter"].requests.clear()
    route = (
        "openai-sdk-metadata-nulls→claude@openrouter",
        "/v1/chat/completions",
        "openrouter",
        "claude-sonnet-4-5",
    )
    rows = replay(gw, (*route, tagged))
    reads = [r["cache_read_tokens"] for r in rows]
    assert reads[0] == 0 and all(n > 2000 for n in reads[1:]), reads
    assert fakes["openrouter"].requests[0].json["metadata"] == {"cache_control": "no-store", "team": "web"}


# A 1x1 PNG: what a screenshot tool returns, as far as the caching goes.
SCREENSHOT = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize("kind", ["image-only", "text-and-image", "pdf"])
def test_claude_code_screenshot_tool_result_stays_in_openrouters_cached_prefix(
    gw: Stack, fakes: dict[str, FakeProvider], kind: str
) -> None:
    """s21 variants 08-v10, 08-v14: Claude Code (the anthropic SDK) over OpenRouter to Claude; the last user turn
    is a screenshot tool's result, marked as Claude Code marks its newest block. OpenAI tool messages hold text
    only, so the image goes to a user message after the tool message: the marker must go there too (Anthropic's
    marker on a tool_result covers its images). Before, it stayed on the tool message's text (the image fell out
    of the cached prefix) or, with no text, was lost (turn 2 read only the system prompt). s21 variant 08-v16: a
    Read tool's PDF in the result was dropped, with the marker; it goes as a file part, marked."""
    import anthropic

    fakes["openrouter"].requests.clear()
    client = anthropic.Anthropic(
        base_url=gw.gateway_url,
        api_key="sk-client",
        max_retries=0,
        default_headers={"x-ekai-provider": "openrouter", "x-claude-code-session-id": SESSION},
    )
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": SCREENSHOT}}
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
    }
    result = {
        "image-only": [image],
        "text-and-image": [{"type": "text", "text": "screen:"}, image],
        "pdf": [pdf],
    }[kind]
    part_type = "file" if kind == "pdf" else "image_url"
    messages: list[Any] = [
        {"role": "user", "content": "look at the screen"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_shot", "name": "Screenshot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_shot",
                    "content": result,
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
    ]
    system: Any = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    tools: Any = [{"name": "Screenshot", "input_schema": {"type": "object", "properties": {}}}]
    rows = []
    for turn in (1, 2):
        rid = f"cache-screenshot-{kind}-{turn}"
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=256,
            system=system,
            tools=tools,
            messages=messages,
            extra_headers={"x-request-id": rid},
        )
        rows.append(gw.row_for(rid))
        # the next turn: the answer and a new user block carrying the moved breakpoint
        messages = [*messages, {"role": "assistant", "content": "I see it."}]
        messages.append(
            {
                "role": "user",
                "content": [{"type": "text", "text": "click OK", "cache_control": {"type": "ephemeral"}}],
            }
        )
    sent = fakes["openrouter"].requests[0].json["messages"]
    images = [
        p for m in sent if isinstance(m.get("content"), list) for p in m["content"] if p["type"] == part_type
    ]
    assert images and images[-1].get("cache_control") == {"type": "ephemeral"}, sent
    tool = next(m for m in sent if m["role"] == "tool")
    assert not isinstance(tool["content"], list) or "cache_control" not in tool["content"][0], tool
    # turn 1 wrote through the screenshot, and turn 2 read all of it
    assert (
        rows[0]["cache_write_tokens"] > 3000 and rows[1]["cache_read_tokens"] == rows[0]["cache_write_tokens"]
    )


def test_a_screenshot_in_an_earlier_parallel_result_stays_in_openrouters_cached_prefix(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    """s22 variant 08-w2: Claude Code (the anthropic SDK) over OpenRouter to Claude; parallel tool calls, and the
    last user turn holds two results: a screenshot (unmarked), then a file's text, marked (Claude Code marks the
    turn's last block). Anthropic caches up to the marked block, the screenshot inside. Translated, the screenshot
    moves after both tool messages, past the marker on the second: it fell out of the cached prefix. The marker
    goes on the moved image (the end of what the marker covered), the tool message loses it."""
    import anthropic

    fakes["openrouter"].requests.clear()
    client = anthropic.Anthropic(
        base_url=gw.gateway_url,
        api_key="sk-client",
        max_retries=0,
        default_headers={"x-ekai-provider": "openrouter", "x-claude-code-session-id": SESSION},
    )
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": SCREENSHOT}}
    messages: list[Any] = [
        {"role": "user", "content": "look at the screen and read a.txt"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_shot", "name": "Screenshot", "input": {}},
                {"type": "tool_use", "id": "toolu_read", "name": "Read", "input": {"path": "a.txt"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_shot", "content": [image]},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_read",
                    "content": "hello from a.txt",
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ]
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=256,
        system=[{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        tools=[
            {"name": "Screenshot", "input_schema": {"type": "object", "properties": {}}},
            {"name": "Read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
        ],
        messages=messages,
        extra_headers={"x-request-id": "cache-parallel-shot"},
    )
    sent = fakes["openrouter"].requests[0].json["messages"]
    parts = [(m["role"], p) for m in sent if isinstance(m.get("content"), list) for p in m["content"]]
    marked = [(role, p["type"]) for role, p in parts if "cache_control" in p]
    # the system prompt's marker, then the turn's: on the screenshot, the last thing the turn's marker covered
    assert marked == [("system", "text"), ("user", "image_url")], sent
    assert gw.row_for("cache-parallel-shot")["cache_write_tokens"] > 3000


def test_a_search_tool_s_results_reach_openrouter_with_their_marker(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    """s21 variants 08-v18, 08-v19: Claude Code (the anthropic SDK) over OpenRouter to Claude; a search tool's
    tool_result holds ``search_result`` blocks (Anthropic, "Search results"), the last one marked. Chat has no
    such part: they were dropped, the tool message went empty and the marker with it (the turn cached only the
    system prompt). Their title, source and text go in the tool message, which keeps the marker."""
    import anthropic

    fakes["openrouter"].requests.clear()
    client = anthropic.Anthropic(
        base_url=gw.gateway_url,
        api_key="sk-client",
        max_retries=0,
        default_headers={"x-ekai-provider": "openrouter"},
    )
    found: list[Any] = [
        {
            "type": "search_result",
            "source": f"https://docs.example/{n}",
            "title": f"Page {n}",
            "content": [{"type": "text", "text": f"fact number {n}"}],
        }
        for n in (1, 2)
    ]
    found[-1]["cache_control"] = {"type": "ephemeral"}
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=256,
        system=[{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        tools=[{"name": "Search", "input_schema": {"type": "object", "properties": {}}}],
        messages=[
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_s", "name": "Search", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_s", "content": found}],
            },
        ],
        extra_headers={"x-request-id": "cache-search-result-1"},
    )
    sent = fakes["openrouter"].requests[0].json["messages"]
    tool = next(m for m in sent if m["role"] == "tool")
    assert isinstance(tool["content"], list), tool
    text = tool["content"][0]["text"]
    assert "Page 1\nhttps://docs.example/1\nfact number 1" in text and "fact number 2" in text, tool
    assert tool["content"][0]["cache_control"] == {"type": "ephemeral"}, tool


def test_codex_screenshot_function_call_output_stays_in_openrouters_cached_prefix(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    """s21 variant 08-v25: a Responses client (the openai SDK, Codex's shape) over OpenRouter to Claude; the
    last input item is a ``function_call_output`` holding a screenshot (``input_image``). The image goes to a
    user message after the tool message (chat tool messages hold text only), and the gateway's breakpoint on
    the last turn must go on it: it went only on text parts, so it landed on the tool text before the image,
    and the screenshot fell out of the cached prefix."""
    import openai

    fakes["openrouter"].requests.clear()
    client = openai.OpenAI(
        base_url=f"{gw.gateway_url}/v1",
        api_key="sk-client",
        max_retries=0,
        default_headers={"x-ekai-provider": "openrouter"},
    )
    client.responses.create(
        model="claude-sonnet-4-5",
        instructions=SYSTEM,
        store=False,
        tools=[{"type": "function", "name": "shot", "parameters": {"type": "object", "properties": {}}}],
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "look"}]},
            {"type": "function_call", "call_id": "call_shot", "name": "shot", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "call_shot",
                "output": [
                    {"type": "input_text", "text": "screen:"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{SCREENSHOT}"},
                ],
            },
        ],
        extra_headers={"x-request-id": "cache-codex-screenshot-1"},
    )
    sent = fakes["openrouter"].requests[0].json["messages"]
    last = sent[-1]["content"][-1]
    assert last["type"] == "image_url" and last.get("cache_control") == {"type": "ephemeral"}, sent


def test_automatic_caching_beside_four_markers_reaches_openrouters_claude_as_four(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    """bug24a variant 08-fivemarks-vL: an Anthropic client asks for automatic caching (top-level ``cache_control``)
    and marks four blocks itself (two system blocks, a tool, its last user block): OpenRouter's Claude got all
    five (Anthropic allows four: "A maximum of 4 blocks with cache_control may be provided. Found 5."). Now the
    four block markers go, the automatic one does not; the answer is the client's."""
    import anthropic

    fakes["openrouter"].requests.clear()
    client = anthropic.Anthropic(
        base_url=gw.gateway_url,
        api_key="sk-client",
        max_retries=0,
        default_headers={"x-ekai-provider": "openrouter"},
    )
    marker = {"type": "ephemeral"}
    answer = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        system=[
            {"type": "text", "text": SYSTEM, "cache_control": marker},
            {"type": "text", "text": "Project notes.", "cache_control": marker},
        ],
        tools=[{"name": "Read", "input_schema": {"type": "object"}, "cache_control": marker}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": marker}]}],
        extra_body={"cache_control": marker},
    )
    assert answer.content
    sent = fakes["openrouter"].requests[0].json
    assert "cache_control" not in sent
    assert json.dumps(sent).count('"cache_control"') == 4, sent


@pytest.mark.parametrize(
    "route",
    [
        ("claude-code→qwen@openrouter", "/v1/messages", "openrouter", "qwen/qwen3-max", claude_code),
        ("codex→qwen@openrouter", "/v1/responses", "openrouter", "qwen/qwen3-coder-plus", codex),
        ("openai-sdk→qwen@openrouter", "/v1/chat/completions", "openrouter", "qwen/qwen-plus", openai_sdk),
    ],
    ids=["claude-code", "codex", "openai-sdk"],
)
def test_alibabas_qwen_on_openrouter_gets_cache_breakpoints(
    gw: Stack, fakes: dict[str, FakeProvider], route: Route
) -> None:
    """s26 variants 08-vAE..08-vAG: OpenRouter's Alibaba Qwen caches only at ``cache_control`` markers (OpenRouter
    docs, "Prompt Caching": "see Alibaba and Anthropic below"); Claude Code's were dropped and the other clients got
    none, so every turn re-billed the whole prompt."""
    fakes["openrouter"].requests.clear()
    replay(gw, route)
    for request in fakes["openrouter"].requests:
        marks = orjson.dumps(request.json).count(b'"cache_control"')
        assert 1 <= marks <= 4, request.json
        assert b"cache_control" in orjson.dumps(request.json["messages"][0])  # the system prompt is cached
