"""Claude Code (``claude -p``) through the gateway: passthrough to Anthropic and translation to OpenAI chat.

Each case checks what the user sees (the printed answer), what the provider received, and the ledger.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.claude import CLIENT_KEY, ClaudeRun
from tests.fake_provider import RecordedRequest, ThreadedFakeProvider
from tests.procs import Stack

pytestmark = pytest.mark.e2e

ROUTES = [
    pytest.param("claude-sonnet-4-5", "anthropic", False, id="claude-passthrough"),
    pytest.param("gpt-4o-mini", "openai", True, id="gpt-translated"),
]
# Names no tool but Bash (the fake, set to `tools:mention`, calls the tool the prompt names).
TOOL_PROMPT = "Use the Bash tool to list the files in the current directory."
GPT_4O_MINI_MAX_OUTPUT = 16_384  # OpenAI rejects a larger max_completion_tokens for gpt-4o-mini


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def ledger(gw: Stack, since: float, n: int) -> list[dict[str, Any]]:
    """Exactly ``n`` generation rows recorded since ``since``: no hidden retries or fallbacks."""
    where, params = "endpoint = '/v1/messages' AND started_at >= ? ORDER BY started_at", (since,)
    gw.wait_rows(where, params, n)
    gw.settle()  # handshake: a late extra row would be in the ledger now
    rows = gw.rows(where, params)
    assert len(rows) == n, json.dumps(rows, indent=1) + gw.logs()
    return rows


def check_row(row: dict[str, Any], model: str, provider: str, translated: bool) -> None:
    assert row["status"] == 200 and row["error_type"] is None, row
    assert row["model"] == model and row["provider"] == provider, row
    assert row["client_format"] == "anthropic" and row["translated"] == int(translated), row
    assert row["streamed"] == 1, row  # a 0 here means Claude Code gave up on the stream and fell back
    assert row["attempts"] == 1 and json.loads(row["failed_attempts"]) == [], row
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0, row
    assert row["cost_usd"] is not None and row["cost_usd"] > 0, row


def check_forwarded(call: RecordedRequest, model: str, provider: str) -> None:
    """The provider got its own key in its own format, never the client's key. Anthropic also gets
    Claude Code's anthropic-version and anthropic-beta; OpenAI gets no anthropic-* header."""
    assert CLIENT_KEY not in json.dumps(call.headers), call.headers
    assert call.json["model"] == model and call.json["stream"] is True, call.json["model"]
    if provider == "anthropic":
        assert call.path == "/v1/messages" and call.headers["x-api-key"] == "sk-test-anthropic-secret-key"
        assert call.headers["anthropic-version"] == "2023-06-01"
        assert "claude-code-20250219" in call.headers["anthropic-beta"].split(","), call.headers
    else:
        assert call.path == "/v1/chat/completions", call.path
        assert call.headers["authorization"] == "Bearer sk-test-openai-secret-key"
        assert not [h for h in call.headers if h.startswith(("anthropic-", "x-api-key"))], call.headers
        assert call.json["stream_options"] == {"include_usage": True}


def check_usage_seen_by_client(usage: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Claude Code's own token count (summed over the turn's calls) equals the ledger's."""
    for client_key, row_key in (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_input_tokens", "cache_read_tokens"),
        ("cache_creation_input_tokens", "cache_write_tokens"),
    ):
        assert usage.get(client_key, 0) == sum(r[row_key] for r in rows), (client_key, usage, rows)


@pytest.mark.parametrize(("model", "provider", "translated"), ROUTES)
def test_say_hi(
    run_claude: Callable[..., ClaudeRun],
    gw: Stack,
    request: pytest.FixtureRequest,
    workdir: Path,
    model: str,
    provider: str,
    translated: bool,
) -> None:
    fake: ThreadedFakeProvider = request.getfixturevalue(f"fake_{provider}")
    seen = len(fake.requests)
    since = time.time()

    run = run_claude("-p", "say hi", "--model", model, "--output-format", "json", cwd=workdir)

    assert run.returncode == 0, run.describe() + gw.logs()
    out = run.json()
    assert out["is_error"] is False and out["subtype"] == "success", run.describe()
    assert out["result"].startswith(f"Hello from fake-{provider}:"), run.describe()
    assert out["num_turns"] == 1, run.describe()

    calls = fake.requests[seen:]
    assert len(calls) == 1, [c.path for c in calls]
    check_forwarded(calls[0], model, provider)

    rows = ledger(gw, since, 1)
    check_row(rows[0], model, provider, translated)
    check_usage_seen_by_client(out["usage"], rows)

    if translated:
        # Claude Code asks for 32000 output tokens for non-Claude models; the real OpenAI answers 400
        # "max_tokens is too large" unless the gateway clamps it to what the model accepts.
        limit = calls[0].json.get("max_completion_tokens") or calls[0].json.get("max_tokens")
        assert limit is not None and 0 < limit <= GPT_4O_MINI_MAX_OUTPUT, (
            f"{model} was asked for {limit} output tokens; it accepts at most {GPT_4O_MINI_MAX_OUTPUT}"
        )


@pytest.mark.parametrize(("model", "provider", "translated"), ROUTES)
def test_bash_tool_turn(
    run_claude: Callable[..., ClaudeRun],
    gw: Stack,
    request: pytest.FixtureRequest,
    workdir: Path,
    model: str,
    provider: str,
    translated: bool,
) -> None:
    fake: ThreadedFakeProvider = request.getfixturevalue(f"fake_{provider}")
    marker = f"e2e-marker-{uuid.uuid4().hex[:8]}.txt"
    (workdir / marker).write_text("listed by ls\n")
    seen = len(fake.requests)
    since = time.time()

    run = run_claude(
        "-p",
        TOOL_PROMPT,
        "--model",
        model,
        "--allowedTools",
        "Bash(ls*)",
        "Bash(ls:*)",
        "--output-format",
        "stream-json",
        "--verbose",
        cwd=workdir,
    )

    assert run.returncode == 0, run.describe() + gw.logs()
    events = run.events()
    blocks = [
        (e["type"], b)
        for e in events
        if e.get("type") in ("assistant", "user")
        for b in e["message"]["content"]
        if isinstance(b, dict)
    ]
    tool_uses = [b for kind, b in blocks if kind == "assistant" and b["type"] == "tool_use"]
    assert [(t["name"], t["input"].get("command")) for t in tool_uses] == [("Bash", "ls")], run.describe()
    results = [b for kind, b in blocks if kind == "user" and b["type"] == "tool_result"]
    assert len(results) == 1 and results[0]["tool_use_id"] == tool_uses[0]["id"], run.describe()
    assert not results[0].get("is_error") and marker in json.dumps(results[0]["content"]), run.describe()

    final = events[-1]
    assert final["type"] == "result" and final["subtype"] == "success" and final["is_error"] is False, (
        run.describe()
    )
    assert final["result"].startswith("Tool said:") and marker in final["result"], run.describe()

    # The provider saw the tool call's result in its own format: a tool_result block passed through,
    # or (translated) a role "tool" message answering the call.
    calls = fake.requests[seen:]
    assert len(calls) == 2, [c.path for c in calls]
    for call in calls:
        check_forwarded(call, model, provider)
    last = calls[1].json
    assert marker not in json.dumps(calls[0].json) and marker in json.dumps(last["messages"])
    if translated:
        tool_msgs = [m for m in last["messages"] if m.get("role") == "tool"]
        assert len(tool_msgs) == 1 and marker in json.dumps(tool_msgs[0]["content"]), last["messages"]
        calls_made = [
            c for m in last["messages"] if m.get("role") == "assistant" for c in m.get("tool_calls") or []
        ]
        assert [c["id"] for c in calls_made] == [tool_msgs[0]["tool_call_id"]], last["messages"]
        assert json.loads(calls_made[0]["function"]["arguments"]) == {"command": "ls"}

    rows = ledger(gw, since, 2)
    for row in rows:
        check_row(row, model, provider, translated)
    check_usage_seen_by_client(final["usage"], rows)
