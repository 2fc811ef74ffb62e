"""Session 23 (issue 13): a translated request with nothing renamed gets the shared view.

``Proxy._build`` gives a translated call whose translation renamed no tool, named no custom tool and asked
no compaction the view ``passthrough_view`` shares (no frozen ``View`` made per request); it is the view the
call would have had made for it (equal, field by field, the tool names as a mapping). A translation that
renamed a tool, or named a custom tool, or asked a compaction, still gets its own.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway.calls import Call
from services.gateway.dialects import registry
from services.gateway.dialects._prompt_cache import session_from
from services.gateway.dialects.view import View, passthrough_view
from services.gateway.providers.registry import build_providers
from services.gateway.proxy import Proxy
from services.gateway.routing.catalog import Catalog
from shared.pricing import Pricer
from shared.settings import load_settings

ENV = {
    "OPENAI_API_KEY": "sk-test-openai",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "ANTHROPIC_API_KEY": "sk-test-anthropic",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
}
HEADERS = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
TOOL = {"type": "function", "name": "a.b c", "parameters": {"type": "object"}}  # renamed for Anthropic
CUSTOM = {"type": "custom", "name": "apply_patch"}

CASES: list[tuple[str, dict[str, Any], bool]] = [  # (endpoint, body, shared view expected)
    ("/v1/responses", {"model": "claude-haiku-4-5", "input": "hi", "stream": True}, True),
    ("/v1/responses", {"model": "claude-haiku-4-5", "input": [{"role": "user", "content": "hi"}]}, True),
    ("/v1/responses", {"model": "claude-haiku-4-5", "input": "hi", "tools": [TOOL]}, False),
    ("/v1/responses", {"model": "claude-haiku-4-5", "input": "hi", "tools": [CUSTOM]}, False),
    ("/v1/responses", {"model": "claude-haiku-4-5", "input": [{"type": "compaction_trigger"}]}, False),
    ("/v1/responses", {"model": "claude-haiku-4-5", "input": "hi", "tools": [{**TOOL, "name": "ok"}]}, True),
    (
        "/v1/chat/completions",
        {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]},
        True,
    ),
    (
        "/v1/chat/completions",
        {
            "model": "claude-haiku-4-5",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        True,
    ),
    (
        "/v1/messages",
        {"model": "gpt-4o-mini", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}]},
        True,
    ),
]


def _build(path: str, body: dict[str, Any]) -> tuple[View, View]:
    """The view ``Proxy._build`` gives, and the one made for the call as before session 23."""
    settings = load_settings(ENV)
    providers = build_providers(settings)
    proxy = Proxy.__new__(Proxy)
    proxy.providers, proxy._pairings, proxy._urls = providers, {}, {}
    endpoint = registry.ENDPOINTS[path]  # type: ignore[index]
    parse = endpoint.parse or registry.client(endpoint.format).parse
    parsed = parse(body)
    route = Catalog(providers, Pricer(), settings).routes(parsed.model)[0]
    provider = providers[route.provider]
    pair = proxy._pairing(provider, endpoint.format)
    assert pair.translate is not None
    call = Call(endpoint, "req", HEADERS, 0.0, 0.0)
    call.body, call.raw, call.model = body, orjson.dumps(body), parsed.model
    call.stream, call.include_usage, call.reasoning = parsed.stream, parsed.include_usage, parsed.reasoning
    up = proxy._build(call, provider, route, pair)
    source = endpoint.prepare(body) if endpoint.prepare else body
    result = pair.translate(source, provider.target_of(route.model), session_from(HEADERS))
    made = View(
        model=call.model,
        include_usage=call.include_usage,
        reasoning=call.reasoning,
        tool_names=result.tool_names,
        custom_tools=result.custom_tools,
        compaction=result.compaction,
        tools=bool(body.get("tools")),
    )
    return up.view, made


@pytest.mark.parametrize(("path", "body", "shared"), CASES)
def test_translated_view(path: str, body: dict[str, Any], shared: bool) -> None:
    view, made = _build(path, body)
    assert view == made
    assert dict(view.tool_names) == dict(made.tool_names)
    for name in View.__dataclass_fields__:
        assert getattr(view, name) == getattr(made, name)
    expected = passthrough_view(made.model, made.include_usage, made.reasoning, made.tools)
    assert (view is expected) is shared
