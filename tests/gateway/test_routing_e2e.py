"""The router end to end: several fake providers at once (one per provider, each on its own port),
the real gateway and recorder processes, the official SDKs, and the ledger checked.

Faults are set per fake server (``set_fault``): each provider is its own server, so "OpenAI is down"
is a fault on the OpenAI fake. The shared stack never opens a breaker (BREAKER_FAILURES is huge) and
never waits out a Retry-After; tests about those states get a stack of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack, wait_until

CLIENT_KEY = "sk-client-key-not-forwarded"
LOCAL_KEY = "sk-local-proxy-key"
NAMES = ("openai", "anthropic", "xai", "openrouter", "local")
# Prices that make "cheapest" deterministic (USD per million tokens).
CATALOG = """
[[providers]]
name = "local"
base_url = "{local}/v1"
api_key_env = "EKAI_TEST_LOCAL_KEY"
regex = "^[a-z0-9._-]+:[a-z0-9._-]+$"
price = {{ input = 0, output = 0 }}

[aliases]
fast = "claude-haiku-4-5"

[prices.openrouter]
"openai/gpt-4o-mini" = {{ input = 0.01, output = 0.02 }}
"x-ai/grok-4" = {{ input = 1, output = 1 }}
"anthropic/claude-sonnet-4.5" = {{ input = 1, output = 1 }}

[prices.anthropic]
"claude-haiku-4-5" = {{ input = 0.5, output = 2 }}
"""
SHARED_ENV = {
    "UPSTREAM_FIRST_BYTE_TIMEOUT": "1",
    "BREAKER_FAILURES": "1000",
    "RETRY_AFTER_MAX_WAIT": "0",
    "EKAI_TEST_LOCAL_KEY": LOCAL_KEY,
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    fps = {
        name: FakeProvider.start_in_thread(name=name, api_key=LOCAL_KEY if name == "local" else None)
        for name in NAMES
    }
    try:
        yield fps
    finally:
        for fp in fps.values():
            fp.stop()


@pytest.fixture(autouse=True)
def clean_fakes(fakes: dict[str, FakeProvider]) -> None:
    for fp in fakes.values():
        fp.reset()


def provider_urls(fakes: dict[str, FakeProvider]) -> dict[str, str]:
    return {
        "openai": fakes["openai"].openai_base_url,
        "anthropic": fakes["anthropic"].base_url,
        "xai": fakes["xai"].openai_base_url,
        "openrouter": fakes["openrouter"].openrouter_base_url,
    }


@contextmanager
def routing_stack(
    tmp: Path, fakes: dict[str, FakeProvider], urls: dict[str, str] | None = None, **env: str
) -> Iterator[Stack]:
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(local=fakes["local"].base_url))
    with stack(
        tmp, urls or provider_urls(fakes), **(SHARED_ENV | {"CATALOG_PATH": str(catalog)} | env)
    ) as st:
        yield st


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with routing_stack(tmp_path_factory.mktemp("routing"), fakes) as st:
        yield st


def oai(st: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=st.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)


def ant(st: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=st.gateway_url, api_key=CLIENT_KEY, max_retries=0)


def chat(st: Stack, model: str, *, stream: bool = False, **headers: str) -> tuple[httpx.Headers, str]:
    """One OpenAI-format request: the response headers and the reply text."""
    raw = oai(st).chat.completions.with_raw_response.create(
        model=model,
        stream=stream,
        messages=[{"role": "user", "content": f"route {model}"}],
        extra_headers=headers or None,
    )
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        text = raw.parse().choices[0].message.content or ""
    return raw.headers, text


def message(st: Stack, model: str, *, stream: bool = False) -> tuple[httpx.Headers, str]:
    """One Anthropic-format request: the response headers and the reply text."""
    raw = ant(st).messages.with_raw_response.create(
        model=model, max_tokens=64, stream=stream, messages=[{"role": "user", "content": f"route {model}"}]
    )
    if stream:
        text = "".join(
            e.delta.text
            for e in raw.parse()
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    else:
        text = "".join(b.text for b in raw.parse().content if b.type == "text")
    return raw.headers, text


def failures(row: dict[str, Any]) -> list[tuple[str, int | None, str]]:
    return [(a["provider"], a["status"], a["error_type"]) for a in json.loads(row["failed_attempts"])]


def served_by(st: Stack, headers: httpx.Headers, provider: str, attempts: int) -> dict[str, Any]:
    """Header and ledger agree on who answered and after how many attempts; returns the row."""
    assert headers["x-ekai-provider"] == provider and headers["x-ekai-attempts"] == str(attempts)
    row = st.row_for(headers["x-request-id"])
    assert (row["provider"], row["attempts"], row["status"]) == (provider, attempts, 200)
    assert len(json.loads(row["failed_attempts"])) == attempts - 1
    return row


# ---- cheapest first ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "upstream"),
    [
        ("gpt-4o-mini", "openrouter", "openai/gpt-4o-mini"),  # OpenRouter priced lower in the catalog
        ("gpt-4o", "openai", "gpt-4o"),  # the same price at both: the vendor wins the tie
        ("claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),  # Anthropic priced lower in the catalog
        ("grok-4", "openrouter", "x-ai/grok-4"),
        ("grok-3-mini", "xai", "grok-3-mini"),  # OpenRouter's price is xAI's: a tie
        ("llama3.1:8b", "local", "llama3.1:8b"),  # a provider added by configuration only
    ],
)
def test_each_model_goes_to_its_cheapest_provider(
    gw: Stack, fakes: dict[str, FakeProvider], model: str, provider: str, upstream: str
) -> None:
    headers, text = chat(gw, model)
    assert f"fake-{provider}" in text
    served_by(gw, headers, provider, 1)
    assert fakes[provider].last_request.json["model"] == upstream
    assert all(not fp.requests for name, fp in fakes.items() if name != provider)


def test_configured_provider_gets_its_own_key_not_the_clients(
    gw: Stack, fakes: dict[str, FakeProvider]
) -> None:
    chat(gw, "qwen2.5:7b")
    assert fakes["local"].last_request.headers["authorization"] == f"Bearer {LOCAL_KEY}"


def test_catalog_prices_and_openrouter_costs_reach_the_ledger(gw: Stack) -> None:
    headers, _ = chat(gw, "claude-haiku-4-5")
    row = gw.row_for(headers["x-request-id"])
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.5 + row["output_tokens"] * 2) / 1e6)
    headers, _ = chat(gw, "gpt-4o-mini")
    row = gw.row_for(headers["x-request-id"])  # OpenRouter's reported usage.cost ($1/M in, $2/M out here)
    prompt = row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"]
    assert row["cost_usd"] == pytest.approx(prompt * 1e-6 + row["output_tokens"] * 2e-6)


def test_anthropic_clients_are_routed_cheapest_first_too(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    headers, text = message(gw, "claude-sonnet-4-5")  # OpenRouter priced lower: translated to chat
    assert "fake-openrouter" in text
    row = served_by(gw, headers, "openrouter", 1)
    assert (
        row["translated"] == 1
        and fakes["openrouter"].last_request.json["model"] == "anthropic/claude-sonnet-4.5"
    )
    headers, text = message(gw, "fast")  # an alias from the catalog file
    assert "fake-anthropic" in text and fakes["anthropic"].last_request.json["model"] == "claude-haiku-4-5"


# ---- fallback ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 529, 429, 408, 409, 401, 403])
def test_provider_faults_fall_back_to_the_next_candidate(
    gw: Stack, fakes: dict[str, FakeProvider], status: int
) -> None:
    fakes["openai"].set_fault(f"status:{status}")
    headers, text = chat(gw, "gpt-4o")
    assert "fake-openrouter" in text
    row = served_by(gw, headers, "openrouter", 2)
    assert failures(row)[0][:2] == ("openai", status)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_the_requests_own_faults_go_back_without_fallback(
    gw: Stack, fakes: dict[str, FakeProvider], status: int
) -> None:
    fakes["openai"].set_fault(f"status:{status}")
    with pytest.raises(openai.APIStatusError) as info:
        chat(gw, "gpt-4o")
    assert info.value.status_code == status and not fakes["openrouter"].requests
    row = gw.row_for(info.value.response.headers["x-request-id"])
    assert (row["provider"], row["attempts"], row["status"]) == ("openai", 1, status)


@pytest.mark.parametrize("stream", [False, True])
def test_a_hang_past_the_first_byte_timeout_falls_back(
    gw: Stack, fakes: dict[str, FakeProvider], stream: bool
) -> None:
    fakes["openai"].set_fault("hang")
    headers, text = chat(gw, "gpt-4o", stream=stream)
    assert "fake-openrouter" in text
    # Order, not time: the gateway gave up on the hanging provider (it hung up on it) before falling back.
    assert fakes["openai"].requests and wait_until(lambda: fakes["openai"].last_request.client_disconnected)
    row = served_by(gw, headers, "openrouter", 2)
    assert failures(row) == [("openai", None, "timeout")]


@pytest.mark.parametrize("fault", ["break-before-first-byte", "first-byte-delay:5"])
def test_a_stream_that_fails_before_its_first_byte_falls_back(
    gw: Stack, fakes: dict[str, FakeProvider], fault: str
) -> None:
    fakes["openai"].set_fault(fault)
    headers, text = chat(gw, "gpt-4o", stream=True)
    assert "fake-openrouter" in text
    row = served_by(gw, headers, "openrouter", 2)
    ((provider, status, _),) = failures(row)
    assert (provider, status) == ("openai", None)


@pytest.mark.parametrize("fault", ["break-mid-stream", "error-mid-stream"])
def test_a_stream_that_fails_after_its_first_byte_ends_in_an_error(
    gw: Stack, fakes: dict[str, FakeProvider], fault: str
) -> None:
    fakes["openai"].set_fault(fault)
    raw = oai(gw).chat.completions.with_raw_response.create(
        model="gpt-4o", stream=True, messages=[{"role": "user", "content": "one two three four five six"}]
    )
    assert raw.headers["x-ekai-provider"] == "openai"
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in raw.parse():
            received += [c.delta.content or "" for c in chunk.choices]
    assert "".join(received) and not fakes["openrouter"].requests  # text arrived first; no fallback after it
    row = gw.row_for(raw.headers["x-request-id"])
    assert (row["provider"], row["attempts"]) == ("openai", 1) and row["status"] >= 500 and row["error_type"]
    assert failures(row) == []


# ---- pins and unknown models ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "header", "provider", "upstream"),
    [
        ("gpt-4o", "openrouter", "openrouter", "openai/gpt-4o"),
        ("openrouter::openai/gpt-4o", None, "openrouter", "openai/gpt-4o"),
        ("openrouter::gpt-4o", None, "openrouter", "openai/gpt-4o"),
        ("gpt-4o-mini", "openai", "openai", "gpt-4o-mini"),
        ("anthropic::anthropic/claude-sonnet-4.5", None, "anthropic", "claude-sonnet-4-5"),
    ],
)
def test_pins(
    gw: Stack, fakes: dict[str, FakeProvider], model: str, header: str | None, provider: str, upstream: str
) -> None:
    headers, text = chat(gw, model, **({"x-ekai-provider": header} if header else {}))
    assert f"fake-{provider}" in text
    served_by(gw, headers, provider, 1)
    assert fakes[provider].last_request.json["model"] == upstream


def test_a_pinned_provider_that_fails_is_not_replaced(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    fakes["openai"].set_fault("status:503")
    with pytest.raises(openai.InternalServerError):
        chat(gw, "openai::gpt-4o")
    assert not fakes["openrouter"].requests


def test_unknown_models_get_a_404_in_the_clients_format(gw: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as oerr:
        chat(gw, "no-such-model-q")
    body = oerr.value.body
    assert isinstance(body, dict) and body["code"] == "model_not_found"
    assert "available models" in body["message"] and "gpt-4o" in body["message"]
    with pytest.raises(anthropic.NotFoundError) as aerr:
        message(gw, "no-such-model-q")
    assert aerr.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        chat(gw, "nowhere::gpt-4o")  # a pin to a provider that does not exist
    row = gw.row_for(oerr.value.response.headers["x-request-id"])
    assert (row["status"], row["error_type"], row["attempts"]) == (404, "model_not_found", 0)


# ---- observability -------------------------------------------------------------------------------


def test_health_shows_every_provider(gw: Stack) -> None:
    providers = httpx.get(gw.gateway_url + "/health").json()["providers"]
    assert set(providers) == {"openai", "anthropic", "xai", "openrouter", "local"}
    # The shared stack never opens a breaker (BREAKER_FAILURES is huge) nor waits out a Retry-After.
    assert {name: (p["configured"], p["state"]) for name, p in providers.items()} == {
        name: (True, "healthy") for name in providers
    }


def test_models_lists_what_configured_providers_serve(gw: Stack) -> None:
    ids = [m.id for m in oai(gw).models.list()]
    for expected in ("gpt-4o", "claude-haiku-4-5", "grok-4.20", "anthropic/claude-sonnet-4.5", "fast"):
        assert expected in ids
    assert len(ids) <= 1000


# ---- the "done when" ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_with_openai_and_anthropic_down_openrouter_serves_both_formats(
    gw: Stack, fakes: dict[str, FakeProvider], stream: bool
) -> None:
    fakes["openai"].set_fault("status:503")
    fakes["anthropic"].set_fault("status:529")
    cases = [  # (client format, model, down provider, translated)
        (chat, "gpt-4o", "openai", 0),
        (chat, "claude-haiku-4-5", "anthropic", 0),
        (message, "claude-haiku-4-5", "anthropic", 1),
        (message, "gpt-4o", "openai", 1),
    ]
    for send, model, down, translated in cases:
        headers, text = send(gw, model, stream=stream)
        assert "fake-openrouter" in text, (send.__name__, model)
        row = served_by(gw, headers, "openrouter", 2)
        assert failures(row)[0][:2] == (down, 503 if down == "openai" else 529)
        assert row["translated"] == translated and row["streamed"] == int(stream)
    sent = [r.json["model"] for r in fakes["openrouter"].requests]
    assert sent == [
        "openai/gpt-4o",
        "anthropic/claude-haiku-4.5",
        "anthropic/claude-haiku-4.5",
        "openai/gpt-4o",
    ]


def test_with_openai_and_anthropic_unreachable_openrouter_serves(
    fakes: dict[str, FakeProvider], tmp_path: Path
) -> None:
    stopped = {name: FakeProvider.start_in_thread(name=name) for name in ("openai", "anthropic")}
    urls = provider_urls(fakes) | {
        "openai": stopped["openai"].openai_base_url,
        "anthropic": stopped["anthropic"].base_url,
    }
    for fp in stopped.values():
        fp.stop()  # connection refused from now on
    with routing_stack(tmp_path, fakes, urls) as st:
        for send, model in ((chat, "gpt-4o"), (message, "claude-haiku-4-5")):
            headers, text = send(st, model)
            assert "fake-openrouter" in text
            row = served_by(st, headers, "openrouter", 2)
            ((provider, status, error_type),) = failures(row)
            assert status is None and error_type == "connection_error"


# ---- Retry-After and the circuit breaker (stacks of their own) ------------------------------------


def health_of(st: Stack, provider: str) -> dict[str, Any]:
    return httpx.get(st.gateway_url + "/health").json()["providers"][provider]  # type: ignore[no-any-return]


def test_a_short_retry_after_on_the_only_route_is_waited_out(
    fakes: dict[str, FakeProvider], tmp_path: Path
) -> None:
    with routing_stack(tmp_path, fakes, RETRY_AFTER_MAX_WAIT="3") as st:
        fakes["openai"].set_fault("status:429:retry-after=1", times=1)
        headers, _ = chat(st, "openai::gpt-4o")  # the only route: served only by waiting out the 429
        row = served_by(st, headers, "openai", 2)
        assert failures(row)[0][:2] == ("openai", 429)


# The breaker and Retry-After windows: test_breaker_clock_e2e.py, on an injected clock.
