"""``Proxy._build``'s view of a translated call: the shared view of its shape when the translation left nothing
of the call's own in it (no tool renamed, no custom tool, no compaction), a view of its own otherwise.

Session 23 (issue 13): a translated request built a frozen ``View`` per call (a ``__setattr__`` per field,
~7.5k instructions under callgrind) where a passthrough shares one (``passthrough_view``)."""

from __future__ import annotations

from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway.calls import Call
from services.gateway.dialects import registry
from services.gateway.dialects.view import View, passthrough_view
from services.gateway.providers.registry import build_providers
from services.gateway.proxy import Proxy
from services.gateway.routing.catalog import Catalog
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Limits
from shared.pricing import Pricer
from shared.settings import load_settings

KEYS = {"OPENAI_API_KEY": "sk-test-openai", "ANTHROPIC_API_KEY": "sk-test-anthropic"}
HEADERS = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))


def built_view(path: str, body: dict[str, Any]) -> View:
    """The view ``Proxy._build`` gives the attempt of ``body`` (sent to ``path``) on its model's first route."""
    settings = load_settings(KEYS)
    providers = build_providers(settings, KEYS)
    # no upstream: ``_build`` sends nothing (the attempt around it does)
    health = ProviderHealth(BreakerConfig(failures=2, cooldown_s=30.0))
    proxy = Proxy(None, providers, health, Limits(1, 0.0))  # type: ignore[arg-type]
    endpoint = registry.ENDPOINTS[path]
    parsed = (endpoint.parse or registry.client(endpoint.format).parse)(body)
    call = Call(endpoint, "req", HEADERS, 0.0, 0.0)
    call.body, call.raw, call.model = body, orjson.dumps(body), parsed.model
    call.stream, call.include_usage, call.reasoning = parsed.stream, parsed.include_usage, parsed.reasoning
    route = Catalog(providers, Pricer(), settings).routes(parsed.model)[0]
    provider = providers[route.provider]
    pair = proxy._pairing(provider, endpoint.format)
    assert pair.translate is not None  # a translated path
    return proxy._build(call, provider, route, pair).view


MESSAGES = [{"role": "user", "content": "hello"}]


def test_a_translated_call_with_nothing_of_its_own_shares_the_view_of_its_shape() -> None:
    # Anthropic client, OpenAI model: the chat wire; openai client, Claude model: the Anthropic wire
    cases = [
        ("/v1/messages", {"model": "gpt-4o-mini", "max_tokens": 64, "messages": MESSAGES, "stream": True}),
        ("/v1/chat/completions", {"model": "claude-haiku-4-5", "messages": MESSAGES, "stream": True}),
        ("/v1/responses", {"model": "claude-haiku-4-5", "input": "hello", "stream": True}),
    ]
    for path, body in cases:
        view = built_view(path, body)
        shared = passthrough_view(view.model, view.include_usage, view.reasoning, view.tools)
        assert view is shared, path
        assert view.model == body["model"] and not view.tools and dict(view.tool_names) == {}


def test_a_translated_call_with_custom_tools_gets_a_view_of_its_own() -> None:
    body = {
        "model": "claude-haiku-4-5",
        "input": "hello",
        "stream": True,
        "tools": [{"type": "custom", "name": "apply_patch", "description": "edit files"}],
    }
    view = built_view("/v1/responses", body)
    assert view.custom_tools == frozenset({"apply_patch"}) and view.tools
    assert view is not passthrough_view(view.model, view.include_usage, view.reasoning, view.tools)
