"""Codex (``codex exec``) against the fake provider directly, and through the gateway: passthrough to
OpenAI's Responses API (GPT model) and translation to Anthropic Messages (Claude model).

The direct runs prove the fake speaks the Responses wire the way Codex needs it; the gateway runs check
what the user sees (the answer, the listed file, the created file), what the provider received, and the
ledger. Three turns each: a plain prompt, an ``ls`` through the ``exec_command`` tool in a read-only
sandbox, and a file created by the ``apply_patch`` custom tool in a writable one. A fourth runs Codex's
built-in OpenAI provider, which compacts remotely (``compaction_trigger`` in, one ``compaction`` item out).

Codex only knows GPT model names; for a Claude name it warns and leaves ``apply_patch`` out of the tools,
so the runs register the Claude name in a model catalog (``tests/e2e/codex.py``, ``write_catalog``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.codex import (
    CODEX_KEY,
    CODEX_MODEL,
    OPENAI_PROVIDER_ENV,
    CodexRun,
    run_codex,
    write_catalog,
    write_config,
    write_openai_config,
)
from tests.fake.conversation import PATCH_CONTENT
from tests.fake_provider import RecordedRequest, ThreadedFakeProvider
from tests.procs import ROOT, Stack

pytestmark = pytest.mark.e2e

CLAUDE_MODEL = "claude-sonnet-4-5"
LIST_PROMPT = "List the files in the current directory."
HI_PROMPT = "say hi"


@dataclass(frozen=True)
class Route:
    id: str
    model: str
    provider: str  # the fake that answers: "openai" (Responses wire) or "anthropic" (Messages wire)
    via_gateway: bool

    @property
    def translated(self) -> bool:
        return self.provider != "openai"


ROUTES = [
    Route("direct-gpt", CODEX_MODEL, "openai", False),
    Route("direct-claude-name", CLAUDE_MODEL, "openai", False),
    Route("gpt-passthrough", CODEX_MODEL, "openai", True),
    Route("claude-translated", CLAUDE_MODEL, "anthropic", True),
]
ROUTE_PARAMS = [pytest.param(r, id=r.id) for r in ROUTES]


@dataclass
class Turn:
    """One ``codex exec`` run and what the provider received for it."""

    run: CodexRun
    calls: list[RecordedRequest]
    since: float
    issued_reasoning: list[str]  # encrypted_content of the reasoning items the fake sent during the run
    issued_compactions: list[str]  # likewise for compaction items


@pytest.fixture(autouse=True)
def cached_prompts(fake_openai: ThreadedFakeProvider, fake_anthropic: ThreadedFakeProvider) -> None:
    """Both fakes report prompt-cache reads and writes, so the usage checks cover every token bucket."""
    for fake in (fake_openai, fake_anthropic):
        fake.set_fault("tools:mention,cache-read:64,cache-write:16")


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture()
def codex_turn(
    codex_bin: Path, request: pytest.FixtureRequest, tmp_path: Path, workdir: Path
) -> Iterator[Callable[..., Turn]]:
    # CODEX_HOME outside /tmp: Codex refuses to create its helper aliases under a temporary directory.
    state = ROOT / ".e2e" / f"codex-{uuid.uuid4().hex[:10]}"
    home = tmp_path / "home"
    home.mkdir()

    def turn(route: Route, prompt: str, *, sandbox: str = "read-only", auto_compact_limit: int = 0) -> Turn:
        """One ``codex exec``; with ``auto_compact_limit`` Codex uses its built-in ``openai`` provider
        (WebSocket attempt first, remote compaction past that many tokens) instead of a custom one."""
        fake: ThreadedFakeProvider = request.getfixturevalue(f"fake_{route.provider}")
        if route.via_gateway:
            gw: Stack = request.getfixturevalue("gw")
            base_url, logs = gw.gateway_url + "/v1", gw.logs
        else:
            base_url, logs = fake.openai_base_url, lambda: ""
        codex_home = state / route.id
        codex_home.mkdir(parents=True, exist_ok=True)
        if auto_compact_limit:
            write_openai_config(codex_home, base_url, route.model, auto_compact_limit)
        else:
            write_config(codex_home, base_url, route.model, write_catalog(codex_bin, codex_home, route.model))
        seen, issued, compacted = len(fake.requests), len(fake.issued_reasoning), len(fake.issued_compactions)
        since = time.time()
        try:
            env = OPENAI_PROVIDER_ENV if auto_compact_limit else None
            run = run_codex(
                codex_bin, prompt, cwd=workdir, home=home, codex_home=codex_home, sandbox=sandbox, env=env
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"codex exec {prompt!r} did not finish in {exc.timeout}s\nstdout: {exc.stdout!r}\n"
                f"stderr: {exc.stderr!r}\n{logs()}",
                pytrace=False,
            )
        assert run.returncode == 0, run.describe() + logs()
        assert not [e for e in run.events() if e.get("type") in ("error", "turn.failed")], (
            run.describe() + logs()
        )
        assert run.items("error") == [], run.describe()  # e.g. "Model metadata for … not found"
        return Turn(
            run,
            fake.requests[seen:],
            since,
            fake.issued_reasoning[issued:],
            fake.issued_compactions[compacted:],
        )

    try:
        yield turn
    finally:
        shutil.rmtree(state, ignore_errors=True)


def ledger(gw: Stack, since: float, n: int) -> list[dict[str, Any]]:
    """Exactly ``n`` rows for /v1/responses since ``since``: no hidden retries or fallbacks."""
    where, params = "endpoint = '/v1/responses' AND started_at >= ? ORDER BY started_at", (since,)
    gw.wait_rows(where, params, n)
    gw.settle()  # handshake: a late extra row would be in the ledger now
    rows = gw.rows(where, params)
    assert len(rows) == n, json.dumps(rows, indent=1) + gw.logs()
    return rows


def check_ledger(
    route: Route, request: pytest.FixtureRequest, turn: Turn, n: int, *, usage_seen: bool = True
) -> None:
    """``n`` rows for the turn, each a streamed 200 in the Responses format from the right provider; their
    tokens add up to what Codex itself reported for the turn (``turn.completed``)."""
    if not route.via_gateway:
        return
    gw: Stack = request.getfixturevalue("gw")
    rows = ledger(gw, turn.since, n)
    for row in rows:
        assert row["status"] == 200 and row["error_type"] is None, row
        assert row["client_format"] == "openai_responses", row
        assert row["model"] == route.model and row["provider"] == route.provider, row
        assert row["translated"] == int(route.translated) and row["streamed"] == 1, row
        assert row["attempts"] == 1, row
        assert row["input_tokens"] + row["cache_read_tokens"] > 0 and row["output_tokens"] > 0, row
    if usage_seen:
        (done,) = [e for e in turn.run.events() if e.get("type") == "turn.completed"]
        usage = done["usage"]
        prompt = sum(r["input_tokens"] + r["cache_read_tokens"] + r["cache_write_tokens"] for r in rows)
        assert usage["input_tokens"] == prompt, (usage, rows)
        assert usage["cached_input_tokens"] == sum(r["cache_read_tokens"] for r in rows), (usage, rows)
        assert usage.get("cache_write_input_tokens", 0) == sum(r["cache_write_tokens"] for r in rows), (
            usage,
            rows,
        )
        assert usage["output_tokens"] == sum(r["output_tokens"] for r in rows), (usage, rows)
        if not route.translated:
            assert usage["reasoning_output_tokens"] == sum(r["reasoning_tokens"] for r in rows) > 0, (
                usage,
                rows,
            )


def check_forwarded(route: Route, call: RecordedRequest) -> None:
    """What reached the provider: its own wire and key (the client's key only on the direct route)."""
    assert call.json["model"] == route.model and call.json["stream"] is True, call.json.get("model")
    if not route.via_gateway:
        assert call.path == "/v1/responses" and call.headers["authorization"] == f"Bearer {CODEX_KEY}"
        return
    assert CODEX_KEY not in json.dumps(call.headers), call.headers
    if route.provider == "openai":
        assert call.path == "/v1/responses", call.path
        assert call.headers["authorization"] == "Bearer sk-test-openai-secret-key"
        assert call.json["store"] is False and "reasoning.encrypted_content" in call.json["include"]
    else:
        assert call.path == "/v1/messages", call.path
        assert (
            call.headers["x-api-key"] == "sk-test-anthropic-secret-key"
            or call.headers.get("authorization") == "Bearer sk-test-anthropic-secret-key"
        ), call.headers


def tool_names(route: Route, call: RecordedRequest) -> dict[str, str]:
    """Tool name -> kind as the provider saw them (``function``/``custom`` on the Responses wire)."""
    if route.provider == "anthropic":
        return {t["name"]: "function" for t in call.json.get("tools") or [] if "name" in t}
    return {t["name"]: t["type"] for t in call.json.get("tools") or [] if "name" in t}


@pytest.mark.parametrize("route", ROUTE_PARAMS)
def test_say_hi(codex_turn: Callable[..., Turn], request: pytest.FixtureRequest, route: Route) -> None:
    turn = codex_turn(route, HI_PROMPT)

    assert turn.run.messages() == [f"Hello from fake-{route.provider}: {HI_PROMPT}"], turn.run.describe()
    completed = [e for e in turn.run.events() if e.get("type") == "turn.completed"]
    assert len(completed) == 1 and completed[0]["usage"]["output_tokens"] > 0, turn.run.describe()
    assert len(turn.calls) == 1, [c.path for c in turn.calls]
    check_forwarded(route, turn.calls[0])
    names = tool_names(route, turn.calls[0])
    assert "exec_command" in names or "shell" in names, names
    check_ledger(route, request, turn, 1)


@pytest.mark.parametrize("route", ROUTE_PARAMS)
def test_ls_tool_turn(
    codex_turn: Callable[..., Turn], request: pytest.FixtureRequest, workdir: Path, route: Route
) -> None:
    marker = f"e2e-marker-{uuid.uuid4().hex[:8]}.txt"
    (workdir / marker).write_text("listed by ls\n")

    turn = codex_turn(route, LIST_PROMPT, sandbox="read-only")

    commands = turn.run.items("command_execution")
    assert len(commands) == 1 and "ls" in commands[0]["command"], turn.run.describe()
    assert marker in commands[0].get("aggregated_output", ""), turn.run.describe()
    messages = turn.run.messages()
    assert len(messages) == 1 and messages[0].startswith("Tool said:") and marker in messages[0], (
        turn.run.describe()
    )

    assert len(turn.calls) == 2, [c.path for c in turn.calls]
    for call in turn.calls:
        check_forwarded(route, call)
    first, second = turn.calls
    assert marker not in first.raw.decode() and marker in second.raw.decode()
    if route.provider == "openai":
        outputs = second.items("function_call_output")
        calls = second.items("function_call")
        assert len(outputs) == 1 and marker in json.dumps(outputs[0]["output"]), second.json["input"][-3:]
        assert [c["call_id"] for c in calls] == [outputs[0]["call_id"]], calls
        assert calls[0]["name"] in ("exec_command", "shell"), calls
        # The reasoning item the fake sent with the call came back unchanged, byte for byte.
        assert len(turn.issued_reasoning) == 2, turn.issued_reasoning  # one per answer
        returned = [r.get("encrypted_content") for r in second.items("reasoning")]
        assert returned == turn.issued_reasoning[:1], (returned, turn.issued_reasoning)
        assert json.dumps(turn.issued_reasoning[0]).encode() in second.raw, (
            "encrypted_content changed on its way"
        )
    else:
        messages_sent = second.json["messages"]
        results = [
            b
            for m in messages_sent
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        uses = [
            b
            for m in messages_sent
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_use"
        ]
        assert len(results) == 1 and marker in json.dumps(results[0]["content"]), messages_sent
        assert [u["id"] for u in uses] == [results[0]["tool_use_id"]], uses
        assert uses[0]["name"] == "exec_command" and uses[0]["input"].get("cmd") == "ls", uses
    check_ledger(route, request, turn, 2)


@pytest.mark.parametrize("route", ROUTE_PARAMS)
def test_apply_patch_creates_file(
    codex_turn: Callable[..., Turn], request: pytest.FixtureRequest, workdir: Path, route: Route
) -> None:
    name = f"hello-{uuid.uuid4().hex[:6]}.txt"

    turn = codex_turn(route, f"Create a file named {name} that says hello.", sandbox="workspace-write")

    created = workdir / name
    assert created.is_file(), turn.run.describe() + "\n" + "\n".join(p.name for p in workdir.iterdir())
    assert created.read_text() == PATCH_CONTENT + "\n"
    changes = turn.run.items("file_change")
    assert len(changes) == 1 and changes[0]["status"] == "completed", turn.run.describe()
    assert [(Path(c["path"]).name, c["kind"]) for c in changes[0]["changes"]] == [(name, "add")], changes
    messages = turn.run.messages()
    assert len(messages) == 1 and messages[0].startswith("Tool said:"), turn.run.describe()

    assert len(turn.calls) == 2, [c.path for c in turn.calls]
    first, second = turn.calls
    names = tool_names(route, first)
    if route.provider == "openai":
        assert names.get("apply_patch") == "custom", names
        calls = second.items("custom_tool_call")
        outputs = second.items("custom_tool_call_output")
        assert [c["name"] for c in calls] == ["apply_patch"] and f"*** Add File: {name}" in calls[0]["input"]
        assert [o["call_id"] for o in outputs] == [calls[0]["call_id"]], outputs
    else:
        # The gateway offers Codex's free-form apply_patch as a function tool taking {"input": patch} ...
        tool = next(t for t in first.json["tools"] if t["name"] == "apply_patch")
        assert "input" in tool["input_schema"]["properties"], tool
        # ... and hands the result back as a tool_result for that call.
        messages_sent = second.json["messages"]
        uses = [
            b
            for m in messages_sent
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_use"
        ]
        results = [
            b
            for m in messages_sent
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        assert [u["name"] for u in uses] == ["apply_patch"] and f"*** Add File: {name}" in uses[0]["input"][
            "input"
        ]
        assert [r["tool_use_id"] for r in results] == [uses[0]["id"]], results
    check_ledger(route, request, turn, 2)


COMPACTING_ROUTES = [pytest.param(r, id=r.id) for r in ROUTES if r.model == CODEX_MODEL]
COMPACT_LIMIT = 2000  # tokens; every answer of the fake reports more, so the first tool turn compacts


@pytest.mark.parametrize("route", COMPACTING_ROUTES)
def test_remote_compaction_v2(
    codex_turn: Callable[..., Turn], request: pytest.FixtureRequest, workdir: Path, route: Route
) -> None:
    """Codex's built-in OpenAI provider compacts remotely: after the tool call's answer passes the limit,
    it sends the history ending with a ``compaction_trigger`` item, expects exactly one ``compaction``
    item back, and carries on with that item (byte for byte) in place of the history."""
    marker = f"e2e-marker-{uuid.uuid4().hex[:8]}.txt"
    (workdir / marker).write_text("listed by ls\n")

    turn = codex_turn(route, LIST_PROMPT, auto_compact_limit=COMPACT_LIMIT)

    commands = turn.run.items("command_execution")
    assert len(commands) == 1 and marker in commands[0].get("aggregated_output", ""), turn.run.describe()
    assert turn.run.messages() == [f"Hello from fake-openai: {LIST_PROMPT}"], turn.run.describe()
    posts = [c for c in turn.calls if c.method == "POST"]
    assert [c.path for c in posts] == ["/v1/responses"] * 3, [(c.method, c.path) for c in turn.calls]
    if not route.via_gateway:  # the WebSocket attempt reached the fake, which answered 426
        gets = [c for c in turn.calls if c.method == "GET"]
        assert len(gets) == 1 and gets[0].headers.get("upgrade", "").lower() == "websocket", gets
    for call in posts:
        assert call.json["model"] == route.model and call.json["stream"] is True
        if route.via_gateway:
            assert CODEX_KEY not in json.dumps(call.headers), call.headers
    tool_turn, compaction, after = posts
    assert tool_turn.items("compaction") == [] and tool_turn.items("compaction_trigger") == []
    assert compaction.json["input"][-1] == {"type": "compaction_trigger"}, compaction.json["input"][-2:]
    assert compaction.items("function_call_output"), "the history to compact holds the tool turn"
    assert len(turn.issued_compactions) == 1, turn.issued_compactions
    assert [i["encrypted_content"] for i in after.items("compaction")] == turn.issued_compactions
    assert json.dumps(turn.issued_compactions[0]).encode() in after.raw, (
        "compaction item changed on its way back"
    )
    assert after.items("function_call") == [] and after.items("compaction_trigger") == [], (
        "history not replaced"
    )
    check_ledger(route, request, turn, 3, usage_seen=False)
