"""A fallback attempt sends the client's body, not what the failed attempt's provider quirks made of it.

Claude on OpenRouter gets prompt-cache markers the gateway places itself (an OpenAI client sends none:
``providers.openai_compat.OpenRouterProvider.prepare``). On a passthrough the body's messages are the
client's; when OpenRouter fails and an OpenAI-compatible provider from the catalog answers, that provider
must get the client's messages as sent, without ``cache_control`` (Google's Gemini API, for one, refuses the
unknown key: 400 "Unknown name \\"cache_control\\"", mnfst/llm-gateway#974). Real gateway and recorder
processes, fake providers, the official ``openai`` SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack

LOCAL_KEY = "sk-local-proxy-key"
MODEL = "anthropic/claude-sonnet-4.5"
# OpenRouter first (cheaper), then the catalog's OpenAI-compatible server that also serves the model; that server
# takes no cache_control (``cache_markers = false``: otherwise a Claude name gets the gateway's own breakpoints
# there too, s20 variant 08-x), so any marker it receives is one left over from the failed attempt.
CATALOG = """
[[providers]]
name = "compat"
base_url = "{compat}/v1"
api_key_env = "EKAI_TEST_COMPAT_KEY"
regex = "^anthropic/claude-sonnet-4\\\\.5$"
cache_markers = false
price = {{ input = 50, output = 50 }}

[prices.openrouter]
"anthropic/claude-sonnet-4.5" = {{ input = 1, output = 1 }}
"""


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    fps = {
        "openrouter": FakeProvider.start_in_thread(name="openrouter"),
        "compat": FakeProvider.start_in_thread(name="compat", api_key=LOCAL_KEY),
    }
    try:
        yield fps
    finally:
        for fp in fps.values():
            fp.stop()


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("fallback_body")
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(compat=fakes["compat"].base_url))
    env = {
        "CATALOG_PATH": str(catalog),
        "EKAI_TEST_COMPAT_KEY": LOCAL_KEY,
        "BREAKER_FAILURES": "1000",
        "RETRY_AFTER_MAX_WAIT": "0",
    }
    with stack(tmp, {"openrouter": fakes["openrouter"].openrouter_base_url}, **env) as st:
        yield st


@pytest.mark.parametrize("stream", [False, True])
def test_the_fallback_gets_the_clients_messages_without_the_failed_attempts_markers(
    gw: Stack, fakes: dict[str, FakeProvider], stream: bool
) -> None:
    for fp in fakes.values():
        fp.reset()
    fakes["openrouter"].set_fault("status:503")
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=messages,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[arg-type]
        stream=stream,
    )
    assert raw.headers["x-ekai-provider"] == "compat"
    # the failed attempt carried the gateway's markers (the request did go to OpenRouter first)
    assert b"cache_control" in fakes["openrouter"].last_request.raw
    sent = fakes["compat"].last_request.json
    assert b"cache_control" not in fakes["compat"].last_request.raw, sent
    assert sent["messages"] == messages and sent["tools"] == tools
