"""Gateway keys (file and env parsing, lookup), attribution from headers, budget and rate counters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.gateway.attribution import client_name, from_headers
from services.gateway.keys.__main__ import main as keys_main
from services.gateway.keys.keyfile import (
    KeyEntry,
    KeyFileError,
    entry_toml,
    hash_key,
    load_keyring,
)
from services.gateway.quotas import QuotaExceeded, Quotas, period_bounds
from shared.access import basic_credentials, is_loopback

GOOD = hash_key("ekai-good-key")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    return str(path)


def test_env_pairs_and_file_entries_are_found_by_their_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[[keys]]\nname = "ci"\nkey_sha256 = "{GOOD}"\nbudget_usd = 2\n'
        'budget_period = "day"\nmodels = ["gpt-4o*"]\nadmin = true\n',
    )
    ring = load_keyring("alice=sk-alice-12345, bob=sk-bob-123456", path)
    assert [e.name for e in ring.entries] == ["alice", "bob", "ci"]
    ci = ring.find("ekai-good-key")
    assert ci is not None and ci.budget_usd == 2.0 and ci.budget_period == "day" and ci.admin
    assert ci.allows_model("gpt-4o-mini") and not ci.allows_model("claude-haiku-4-5")
    alice = ring.find("sk-alice-12345")
    assert alice is not None and alice.name == "alice" and alice.allows_model("anything")
    assert ring.find("sk-alice-1234") is None


@pytest.mark.parametrize("credential", ["", " ", "x" * 100_000, "sk-ålice", "sk-\x00", "ekai-good-key\n"])
def test_odd_credentials_match_nothing(credential: str) -> None:
    ring = load_keyring("alice=sk-alice-12345", None)
    assert ring.find(credential) is None


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (
            '[[keys]]\nname = "a"\nkey_sha256 = "' + GOOD + '"\n\n[[keys]]\nkey_sha256 = "' + GOOD + '"\n',
            5,
            "no name",
        ),
        ('[[keys]]\nname = "a"\nkey_sha256 = "' + GOOD + '"\nbudget_usd = = 3\n', 4, "TOML"),
        ('[[keys]]\nname = "a"\nkey_sha256 = "abc"\n', 3, "64 hex"),
        ('[[keys]]\nname = "a"\nkey_sha256 = "' + GOOD + '"\nbudget_usd = -1\n', 4, "positive"),
        ('[[keys]]\nname = "a"\nkey_sha256 = "' + GOOD + '"\nbudget_period = "week"\n', 4, "day"),
        ('[[keys]]\nname = "a"\nkey_sha256 = "' + GOOD + '"\nrequests_per_minute = 1.5\n', 4, "whole"),
        ('[[keys]]\nname = "a"\nkey_sha256 = "' + GOOD + '"\nkey = "sk-in-clear"\n', 4, "unknown field"),
        ('[[keys]]\nname = "a b"\nkey_sha256 = "' + GOOD + '"\n', 2, "letters"),
        ('[[keys]]\nname = "a"\nkey_sha256 = "' + GOOD + '"\nmodels = "gpt-4o"\n', 4, "list"),
    ],
)
def test_bad_key_files_name_the_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    with pytest.raises(KeyFileError) as info:
        load_keyring(None, write(tmp_path, text))
    assert f"line {line}" in str(info.value) and needle in str(info.value)


@pytest.mark.parametrize(
    ("pairs", "needle"),
    [
        ("=sk-nameless-key", "needs a name"),
        ("alice", "name=key"),
        ("alice=short", "8 to"),
        ("alice=sk-alice-12345,alice=sk-alice-67890", "twice"),
        ("a=sk-same-key-1,b=sk-same-key-1", "same key"),
    ],
)
def test_bad_env_pairs(pairs: str, needle: str) -> None:
    with pytest.raises(KeyFileError, match=needle):
        load_keyring(pairs, None)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot be read"):
        load_keyring(None, str(tmp_path / "nope.toml"))


def test_entry_toml_round_trips(tmp_path: Path) -> None:
    entry = KeyEntry("team-a", GOOD, 1.5, "day", 60, 1000, ("gpt-*", 'we"ird'), True)
    ring = load_keyring(
        None, write(tmp_path, entry_toml(entry) + "\n" + entry_toml(KeyEntry("b", hash_key("x"))))
    )
    assert ring.entries[0] == entry and ring.entries[1].name == "b"


def test_cli_add_prints_the_key_once_and_stores_only_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sub" / "keys.toml"
    assert (
        keys_main(
            [
                "add",
                "ci",
                "--budget-usd",
                "0.5",
                "--budget-period",
                "day",
                "--model",
                "gpt-*",
                "--file",
                str(path),
            ]
        )
        == 0
    )
    key = capsys.readouterr().out.strip()
    assert key.startswith("ekai-") and len(key) > 40
    text = path.read_text()
    assert key not in text and hash_key(key) in text
    assert keys_main(["add", "ci", "--file", str(path)]) == 1
    assert "already has a key named 'ci'" in capsys.readouterr().err
    assert keys_main(["add", "bad", "--budget-usd", "-1", "--file", str(path)]) == 1
    assert "positive" in capsys.readouterr().err
    assert keys_main(["add", "other", "--file", str(path)]) == 0
    other = capsys.readouterr().out.strip()
    ring = load_keyring(None, str(path))
    assert [e.name for e in ring.entries] == ["ci", "other"]
    found = ring.find(key)
    assert found is not None and found.budget_usd == 0.5 and found.models == ("gpt-*",)
    assert ring.find(other) is not None
    assert keys_main(["list", "--file", str(path)]) == 0
    assert "ci\t0.5 USD/day" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("claude-cli/2.1.332 (external, cli)", "claude-cli/2.1.332"),
        (
            "codex_exec/0.171.0 (Ubuntu 24.4.0; x86_64) xterm-256color (codex_exec; 0.171.0)",
            "codex_exec/0.171.0",
        ),
        ("OpenAI/Python 1.109.1", "openai-python/1.109.1"),
        ("Anthropic/Python 0.75.0", "anthropic-python/0.75.0"),
        ("python-httpx/0.28.1", "python-httpx/0.28.1"),
        ("curl/8.5.0", "curl/8.5.0"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0"),
        ("", None),
        (None, None),
        ("\u00e9t\u00e9/1.0", None),
    ],
)
def test_client_from_user_agent(ua: str | None, name: str | None) -> None:
    assert client_name(ua) == name


def test_attribution_from_claude_code_and_codex_headers() -> None:
    claude = from_headers(
        {
            "x-claude-code-session-id": "5f1c-session",
            "x-claude-code-agent-id": "agent-7",
            "x-claude-code-request-class": "subagent",
            "user-agent": "claude-cli/2.1.332 (external)",
        }
    )
    assert (claude.session_id, claude.agent_id, claude.request_class, claude.client) == (
        "5f1c-session",
        "agent-7",
        "subagent",
        "claude-cli/2.1.332",
    )
    codex = from_headers(
        {"session-id": "codex-s", "thread-id": "t-1", "user-agent": "codex_exec/0.171.0 (x)"}
    )
    assert (codex.session_id, codex.client, codex.agent_id) == ("codex-s", "codex_exec/0.171.0", None)
    meta = from_headers({"x-codex-turn-metadata": '{"session_id": "from-meta", "turn_id": "3"}'})
    assert meta.session_id == "from-meta"
    assert from_headers({"thread-id": "t-only"}).session_id == "t-only"
    odd = from_headers(
        {
            "x-claude-code-session-id": "x" * 500,
            "session-id": "bad\x01id",
            "x-codex-turn-metadata": "{not json",
        }
    )
    assert odd.session_id is None


def test_loopback_and_basic() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("example.com")
    assert basic_credentials("Basic YWRtaW46czNjcmV0") == ("admin", "s3cret")
    assert basic_credentials("Basic !!!") is None and basic_credentials("Bearer x") is None


# ---- budgets and rate limits ------------------------------------------------------------------------

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC).timestamp()


def test_period_bounds() -> None:
    assert period_bounds("day", NOW) == (
        datetime(2026, 11, 30, tzinfo=UTC).timestamp(),
        datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
    )
    assert period_bounds("month", NOW) == (
        datetime(2026, 11, 1, tzinfo=UTC).timestamp(),
        datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
    )
    december = datetime(2026, 12, 31, 23, tzinfo=UTC).timestamp()
    assert period_bounds("month", december)[1] == datetime(2027, 1, 1, tzinfo=UTC).timestamp()


def budgeted(budget: float = 1.0, spent: float = 0.0, **extra: object) -> Quotas:
    entry = KeyEntry("ci", GOOD, budget, "day", **extra)  # type: ignore[arg-type]
    return Quotas.build((entry, KeyEntry("free", hash_key("f"))), {"ci": spent}, NOW, 0.0)


def test_budget_alerts_once_at_80_and_95_then_refuses_until_the_day_ends() -> None:
    q = budgeted()
    assert q.admit("ci", NOW, 0).alert is None and q.admit("free", NOW, 0).alert is None
    q.settle("ci", 0.81, 10, own=True, mono=0)
    first = q.admit("ci", NOW, 0)
    assert first.alert == "80%" and first.remaining_usd == pytest.approx(0.19)
    assert q.admit("ci", NOW, 0).alert is None
    q.settle("ci", 0.15, 10, own=True, mono=0)
    assert q.admit("ci", NOW, 0).alert == "95%"
    q.settle("ci", 0.05, 10, own=True, mono=0)
    with pytest.raises(QuotaExceeded) as info:
        q.admit("ci", NOW, 0)
    exc = info.value
    assert exc.status == 429 and exc.code == "budget_exceeded_day" and exc.alert == "100%"
    assert exc.retry_after_s == 6 * 3600 and "daily budget of 1 USD" in exc.message
    assert "2026-12-01T00:00:00Z" in exc.message
    with pytest.raises(QuotaExceeded) as again:
        q.admit("ci", NOW, 0)
    assert again.value.alert is None
    tomorrow = NOW + 6 * 3600
    assert q.admit("ci", tomorrow, 0).remaining_usd is None  # a new day starts from nothing


def test_spend_from_the_ledger_counts_and_its_level_is_reported_after_a_start() -> None:
    q = budgeted(spent=0.9)
    assert q.admit("ci", NOW, 0).alert == "80%"
    assert q.admit("ci", NOW, 0).alert is None
    with pytest.raises(QuotaExceeded) as info:
        budgeted(spent=1.0).admit("ci", NOW, 0)
    assert info.value.alert == "100%"


def test_overspend_is_bounded_by_requests_in_flight() -> None:
    q = budgeted(spent=0.99)
    for _ in range(5):
        q.admit("ci", NOW, 0)  # all admitted: none has finished yet
    assert q.states["ci"].in_flight == 5
    for _ in range(5):
        q.settle("ci", 0.01, 1, own=True, mono=0)
    assert q.states["ci"].in_flight == 0 and q.states["ci"].spent_usd == pytest.approx(1.04)
    with pytest.raises(QuotaExceeded):
        q.admit("ci", NOW, 0)


def test_requests_per_minute_bucket() -> None:
    q = budgeted(requests_per_minute=2)
    q.admit("ci", NOW, 0.0)
    q.admit("ci", NOW, 0.0)
    with pytest.raises(QuotaExceeded) as info:
        q.admit("ci", NOW, 0.0)
    assert info.value.code == "rate_limit_requests" and info.value.retry_after_s == 30
    assert "2 requests per minute" in info.value.message
    q.admit("ci", NOW, 30.0)  # one request's worth refilled


def test_tokens_per_minute_bucket_is_taken_when_requests_end() -> None:
    q = budgeted(tokens_per_minute=100)
    q.admit("ci", NOW, 0.0)
    q.settle("ci", 0.0, 160, own=True, mono=0.0)
    with pytest.raises(QuotaExceeded) as info:
        q.admit("ci", NOW, 0.0)
    assert info.value.code == "rate_limit_tokens" and info.value.retry_after_s == 36
    q.admit("ci", NOW, 37.0)


def test_other_processes_requests_count_too() -> None:
    q = budgeted(requests_per_minute=1)
    q.settle("ci", 2.0, 5, own=False, mono=0.0)
    assert q.states["ci"].in_flight == 0
    with pytest.raises(QuotaExceeded) as info:
        q.admit("ci", NOW, 0.0)
    assert info.value.code == "rate_limit_requests"  # the other process took this minute's request
    with pytest.raises(QuotaExceeded) as info:
        q.admit("ci", NOW, 60.0)
    assert info.value.code == "budget_exceeded_day"  # and spent the budget
    q.settle("unknown", 1.0, 1, own=False, mono=0.0)  # keys this gateway does not know are ignored
