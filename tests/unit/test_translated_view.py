"""``Proxy._build``'s view of a translated call: the shared view of its shape when the translation left nothing
of the call's own in it (no tool renamed, no custom tool, no compaction), a view of its own otherwise.

Session 23 (issue 13): a translated request built a frozen ``View`` per call (a ``__setattr__`` per field,
~7.5k instructions under callgrind) where a passthrough shares one (``passthrough_view``). The view given is
the one the call would have had made for it (equal, field by field, the tool names as a mapping); a
translation that renamed a tool, named a custom tool or asked a compaction still gets its own.
(Session 24 merged ``test_translated_view23.py`` into this file.)"""

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
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Limits
from shared.pricing import Pricer
from shared.settings import load_settings

ENV = {  # no upstream is asked (``_build`` sends nothing); the URLs go nowhere all the same
    "OPENAI_API_KEY": "sk-test-openai",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "ANTHROPIC_API_KEY": "sk-test-anthropic",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
}
HEADERS = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
MESSAGES = [{"role": "user", "content": "hello"}]
TOOL = {"type": "function", "name": "a.b c", "parameters": {"type": "object"}}  # renamed for Anthropic
CUSTOM = {"type": "custom", "name": "apply_patch", "description": "edit files"}
CLAUDE = "claude-haiku-4-5"

CASES: list[tuple[str, dict[str, Any], bool]] = [  # (endpoint, body, shared view expected)
    # Anthropic client, OpenAI model: the chat wire; OpenAI clients, Claude model: the Anthropic wire
    ("/v1/messages", {"model": "gpt-4o-mini", "max_tokens": 64, "messages": MESSAGES, "stream": True}, True),
    ("/v1/messages", {"model": "gpt-4o-mini", "max_tokens": 9, "messages": MESSAGES}, True),
    ("/v1/chat/completions", {"model": CLAUDE, "messages": MESSAGES, "stream": True}, True),
    ("/v1/chat/completions", {"model": CLAUDE, "messages": MESSAGES}, True),
    (
        "/v1/chat/completions",
        {"model": CLAUDE, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}},
        True,
    ),
    ("/v1/responses", {"model": CLAUDE, "input": "hello", "stream": True}, True),
    ("/v1/responses", {"model": CLAUDE, "input": [{"role": "user", "content": "hi"}]}, True),
    ("/v1/responses", {"model": CLAUDE, "input": "hi", "tools": [{**TOOL, "name": "ok"}]}, True),
    ("/v1/responses", {"model": CLAUDE, "input": "hi", "tools": [TOOL]}, False),
    ("/v1/responses", {"model": CLAUDE, "input": "hello", "stream": True, "tools": [CUSTOM]}, False),
    ("/v1/responses", {"model": CLAUDE, "input": [{"type": "compaction_trigger"}]}, False),
]


def _build(path: str, body: dict[str, Any]) -> tuple[View, View]:
    """The view ``Proxy._build`` gives the attempt of ``body`` (sent to ``path``) on its model's first route,
    and the one made for the call as before session 23 (from the translation's result)."""
    settings = load_settings(ENV)
    providers = build_providers(settings, ENV)
    health = ProviderHealth(BreakerConfig(failures=2, cooldown_s=30.0))
    proxy = Proxy(None, providers, health, Limits(1, 0.0))  # type: ignore[arg-type]
    endpoint = registry.ENDPOINTS[path]
    parsed = (endpoint.parse or registry.client(endpoint.format).parse)(body)
    route = Catalog(providers, Pricer(), settings).routes(parsed.model)[0]
    provider = providers[route.provider]
    pair = proxy._pairing(provider, endpoint.format)
    assert pair.translate is not None  # a translated path
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
        assert getattr(view, name) == getattr(made, name), name
    assert view.model == body["model"]
    tools = body.get("tools", [])
    assert view.tools is bool(tools)
    assert view.custom_tools == frozenset(t["name"] for t in tools if t["type"] == "custom")
    expected = passthrough_view(made.model, made.include_usage, made.reasoning, made.tools)
    assert (view is expected) is shared
    if shared:
        assert dict(view.tool_names) == {}
