"""Session 35 (issue 13): the translated paths' request side with fewer functions, against the code before.

- ``anthropic.parse_request`` and ``openai_chat.parse_request`` read the usual body without their checks' calls
  (``require_model``, ``require_messages``, ``require_stream_flag``, ``check_token_limit_range``,
  ``require_max_tokens``): the same ``ParsedRequest``, or the same error text and param, as the checks in turn
  (session 34's functions, kept here) on random bodies near the usual shape (every field of every JSON kind,
  limits at and past the 64-bit bounds, blank models, odd roles);
- ``OpenAIProvider.prepare`` calls its two steps only when they may change the body: the same body and answer as
  before (kept here) on random chat and Responses bodies, streamed or not;
- ``Proxy._build`` reads the kept target and view and serialises inline: the same ``Upstream`` (URL, headers,
  body bytes, view, thinking room) as session 34's ``_build`` (kept here) for the three translated paths' random
  bodies and the real clients' (``request_golden.bodies``), and the same error;
- the usual request runs none of the helpers it no longer calls (each raises when called: fails before the change).
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway import proxy as proxy_module
from services.gateway.bodies import dumps_body
from services.gateway.calls import Call
from services.gateway.dialects import _request_common as common
from services.gateway.dialects import anthropic, openai_chat, registry
from services.gateway.dialects import view as view_module
from services.gateway.dialects._prompt_cache import session_from
from services.gateway.dialects._request_common import ParsedRequest, TranslationError
from services.gateway.dialects.view import View, passthrough_view
from services.gateway.errors import ClientError
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import Provider, Route
from services.gateway.providers.limits import clamp_body, use_tokens_field
from services.gateway.providers.openai_compat import (
    OpenAICompatProvider,
    OpenAIProvider,
    completion_tokens_for_reasoning,
)
from services.gateway.proxy import Proxy, Upstream, _unraised
from tests.unit.dialects.request_golden import bodies

PROPS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG = 2**63 - 1

# ---- session 34's code, kept ------------------------------------------------------------------------------


def old_messages_parse(body: dict[str, Any]) -> ParsedRequest:
    model = common.require_model(body)
    common.require_messages(body)
    stream = common.require_stream_flag(body)
    common.check_token_limit_range(body, ("max_tokens",), floats=False)
    common.require_max_tokens(body)
    thinking = body.get("thinking")
    reasoning = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    return ParsedRequest(model=model, stream=stream, include_usage=False, reasoning=reasoning)


def old_chat_parse(body: dict[str, Any]) -> ParsedRequest:
    model = common.require_model(body)
    common.require_messages(body)
    stream = common.require_stream_flag(body)
    common.check_token_limit_range(body, ("max_tokens", "max_completion_tokens"))
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return ParsedRequest(model=model, stream=stream, include_usage=include_usage, reasoning=True)


def old_openai_prepare(provider: OpenAIProvider, body: dict[str, Any], stream: bool, wire: Any) -> bool:
    changed = OpenAICompatProvider.prepare(provider, body, stream, wire)
    if wire == "openai_chat":
        changed = completion_tokens_for_reasoning(body) or changed
    return changed


def old_build(proxy: Proxy, call: Call, provider: Provider, route: Route, pair: registry.Pairing) -> Upstream:
    """``Proxy._build`` as of session 34 (main 9e9255d)."""
    operation = pair.wire.operation
    if pair.translate is not None:
        source = call.endpoint.prepare(call.body) if call.endpoint.prepare else call.body
        target = provider.target_of(route.model)
        try:
            result = pair.translate(source, target, session_from(call.headers))
        except TranslationError as exc:
            raise ClientError(400, str(exc), param=exc.param) from exc
        room = result.thinking_room
        if not result.unminted:
            pair.wire.strip_minted(result.body)
            room = _unraised(result.body, room)
        provider.prepare(result.body, call.stream, pair.wire.name)
        raw = dumps_body(result.body)
        tools = bool(call.body.get("tools"))
        if result.tool_names or result.custom_tools or result.compaction or target.thought_signatures:
            view = View(
                model=call.model,
                include_usage=call.include_usage,
                reasoning=call.reasoning,
                tool_names=result.tool_names,
                custom_tools=result.custom_tools,
                compaction=result.compaction,
                tools=tools,
                signed_calls=target.thought_signatures,
            )
        else:
            view = passthrough_view(call.model, call.include_usage, call.reasoning, tools)
    else:
        operation = call.endpoint.passthrough_operation or operation
        room = 0
        body = dict(call.body)
        body["model"] = route.model
        changed = pair.wire.strip_minted(body)
        if (limit := provider.known_output_limit(route.model)) is not None:
            changed = clamp_body(body, limit) or changed
        changed = provider.prepare(body, call.stream, pair.wire.name) or changed or route.model != call.model
        if provider.learned_fields and (field := provider.learned_fields.get(route.model)) is not None:
            changed = use_tokens_field(body, field) or changed
        raw = dumps_body(body) if changed else call.raw
        tools = bool(call.body.get("tools"))
        view = passthrough_view(call.model, call.include_usage, call.reasoning, tools)
    url = proxy._urls.get((provider, operation)) or proxy._url(provider, operation)
    headers = provider.headers(call.headers)
    if provider.conversation_header is not None:
        if (conversation := provider.conversation_id(call.headers, call.body)) is not None:
            headers[provider.conversation_header] = conversation
    return Upstream(url, headers, raw, view, room)


# ---- bodies ---------------------------------------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
limits = (
    st.integers(1, 300_000)
    | st.sampled_from([0, -1, BIG, BIG + 1, -BIG, -BIG - 1, 2**64, True, False, 1.0, 1e30, -1e30, 64.5, "64"])
    | st.none()
)
models = st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5", "x", "", "  ", " gpt-4o-mini "]) | json_leaf
roles = st.sampled_from(["user", "assistant", "system", "developer", ""]) | json_leaf


@st.composite
def messages(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(json_value)
    message: dict[str, Any] = {"content": draw(st.text(max_size=8) | json_value)}
    if draw(st.integers(0, 19)) != 0:
        message["role"] = draw(st.sampled_from(["user", "assistant"]) if draw(st.booleans()) else roles)
    return message


@st.composite
def near_usual(draw: st.DrawFn) -> dict[str, Any]:
    """A Messages or chat body near the usual shape: each field on its own usual most of the time (so that one odd
    field among usual ones is common), absent or of any other kind at times."""

    def odd() -> bool:
        return draw(st.integers(0, 4)) == 0

    body: dict[str, Any] = {}
    if not odd():
        body["model"] = draw(st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5"]))
    elif draw(st.booleans()):
        body["model"] = draw(models)
    if not odd():
        body["messages"] = draw(st.lists(messages(), min_size=1, max_size=4))
    elif draw(st.booleans()):
        body["messages"] = draw(st.lists(messages(), max_size=4) | json_leaf)
    for key in ("max_tokens", "max_completion_tokens"):
        if key == "max_tokens" and not odd():
            body[key] = draw(st.integers(1, 300_000))
        elif draw(st.booleans()):
            body[key] = draw(limits)
    if draw(st.booleans()):
        body["stream"] = draw(st.none() | st.booleans() | json_leaf) if odd() else draw(st.booleans())
    if draw(st.booleans()):
        body["thinking"] = draw(
            st.fixed_dictionaries({"type": st.sampled_from(["enabled", "adaptive", "disabled", None])})
            | json_value
        )
    if draw(st.booleans()):
        body["stream_options"] = draw(st.fixed_dictionaries({"include_usage": json_leaf}) | json_value)
    return body


def _outcome(parse: Any, body: dict[str, Any]) -> Any:
    mine = orjson.loads(json.dumps(body))
    try:
        return ("parsed", parse(mine), mine)
    except TranslationError as exc:
        return ("error", str(exc), exc.param, mine)


@PROPS
@given(near_usual())
def test_messages_parse_matches_the_checks_in_turn(body: dict[str, Any]) -> None:
    assert _outcome(anthropic.parse_request, body) == _outcome(old_messages_parse, body)


@PROPS
@given(near_usual())
def test_chat_parse_matches_the_checks_in_turn(body: dict[str, Any]) -> None:
    assert _outcome(openai_chat.parse_request, body) == _outcome(old_chat_parse, body)


@pytest.mark.parametrize(
    ("limit", "words"),
    [
        (0, "max_tokens: Input should be greater than or equal to 1"),
        (BIG + 1, f"max_tokens: integer above maximum value, expected a value <= {BIG}"),
        (True, "max_tokens: Input should be a valid integer"),
        (1e30, "max_tokens: Input should be a valid integer"),
    ],
)
def test_messages_limits_at_the_bounds_are_the_checks_errors(limit: Any, words: str) -> None:
    body = {"model": "claude-haiku-4-5", "max_tokens": limit, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(TranslationError, match=words) as caught:
        anthropic.parse_request(body)
    assert caught.value.param == "max_tokens"
    limited = {**body, "max_tokens": BIG}
    assert anthropic.parse_request(limited) == ParsedRequest("claude-haiku-4-5", False, False, False)


# ---- OpenAI's prepare ---------------------------------------------------------------------------------


@PROPS
@given(
    st.fixed_dictionaries(
        {"model": st.sampled_from(["gpt-4o-mini", "gpt-5", "o3-mini", "openai/o1", "x"])},
        optional={
            "max_tokens": limits,
            "max_completion_tokens": limits,
            "stream_options": st.fixed_dictionaries({"include_usage": json_leaf}) | json_value,
            "stream": st.booleans(),
        },
    ),
    st.booleans(),
    st.sampled_from(["openai_chat", "openai_responses"]),
)
def test_openai_prepare_matches_the_two_steps(body: dict[str, Any], stream: bool, wire: Any) -> None:
    provider = OpenAIProvider("openai", "http://127.0.0.1:9", "k")
    mine, theirs = orjson.loads(json.dumps(body)), orjson.loads(json.dumps(body))
    assert provider.prepare(mine, stream, wire) == old_openai_prepare(provider, theirs, stream, wire)
    assert orjson.dumps(mine) == orjson.dumps(theirs)


# ---- the build ------------------------------------------------------------------------------------------

HEADERS = CIMultiDictProxy(
    CIMultiDict({"Content-Type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-c"})
)
SESSION_HEADERS = CIMultiDictProxy(CIMultiDict({**HEADERS, "x-claude-code-session-id": "sess-35"}))
# (client path, model) → the translated path it takes
PATHS = [("/v1/messages", "gpt-4o-mini"), ("/v1/chat/completions", "claude-haiku-4-5")]
PATHS += [
    ("/v1/responses", "claude-haiku-4-5"),
    ("/v1/messages", "gpt-5"),
    ("/v1/responses", "claude-opus-4-6"),
]


def _providers() -> dict[str, Provider]:
    return {
        "openai": OpenAIProvider("openai", "http://127.0.0.1:9/v1", "sk-test-openai"),
        "anthropic": AnthropicProvider("anthropic", "http://127.0.0.1:9", "sk-test-anthropic"),
    }


def _proxy(providers: dict[str, Provider]) -> Proxy:
    proxy = Proxy.__new__(Proxy)
    proxy.providers, proxy._pairings, proxy._urls = providers, {}, {}
    return proxy


def _built(build: Any, path: str, model: str, body: dict[str, Any], headers: Any, warm: int) -> Any:
    """``build``'s upstream request for ``body`` sent to ``path`` for ``model`` (after ``warm`` earlier builds of
    it: the kept target and view found), as comparable data, or its error."""
    providers = _providers()
    provider = providers["openai" if model.startswith("gpt") else "anthropic"]
    provider.target_of("another-model")  # (a kept target of another model first: the build must read its own)
    proxy = _proxy(providers)
    endpoint = registry.ENDPOINTS[path]
    pair = proxy._pairing(provider, endpoint.format)
    route = Route(provider.name, model)
    out: list[Any] = []
    for _ in range(warm + 1):
        mine = orjson.loads(json.dumps(body))
        call = Call(endpoint, "req", headers, time.monotonic(), time.time())
        call.body, call.raw = mine, orjson.dumps(mine)
        try:
            parsed = (endpoint.parse or registry.client(endpoint.format).parse)(mine)
        except TranslationError as exc:
            return ("unparsed", str(exc))
        call.model, call.stream = parsed.model, parsed.stream
        call.include_usage, call.reasoning = parsed.include_usage, parsed.reasoning
        try:
            up = build(proxy, call, provider, route, pair)
        except ClientError as exc:
            out.append(("error", exc.status, exc.message, exc.param))
            continue
        out.append((up.url, up.headers, up.body, up.view, up.thinking_room, mine))
    return out


def _new_build(
    proxy: Proxy, call: Call, provider: Provider, route: Route, pair: registry.Pairing
) -> Upstream:
    return proxy._build(call, provider, route, pair)


@st.composite
def client_bodies(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    path, model = draw(st.sampled_from(PATHS))
    if path == "/v1/responses":
        body: dict[str, Any] = {"model": model, "input": draw(st.text(max_size=8) | st.just([]))}
        if draw(st.booleans()):
            body["instructions"] = draw(st.text(max_size=8) | json_leaf)
        if draw(st.booleans()):
            body["max_output_tokens"] = draw(limits)
        if draw(st.booleans()):
            body["stream"] = draw(st.booleans())
        return path, model, body
    body = draw(near_usual())
    body["model"] = model
    return path, model, body


@PROPS
@given(client_bodies(), st.integers(0, 2), st.booleans())
def test_build_matches_session_34s(case: tuple[str, str, dict[str, Any]], warm: int, session: bool) -> None:
    path, model, body = case
    headers = SESSION_HEADERS if session else HEADERS
    assert _built(_new_build, path, model, body, headers, warm) == _built(
        old_build, path, model, body, headers, warm
    )


# each real client's body on its own client format's paths
REAL = [
    (name, body, path, model)
    for name, body in bodies()
    for path, model in PATHS
    if isinstance(body, dict) and ("input" in body) == (path == "/v1/responses")
]


@pytest.mark.parametrize(("name", "body", "path", "model"), REAL, ids=[f"{r[0]} {r[2]} {r[3]}" for r in REAL])
def test_build_matches_session_34s_on_real_clients_bodies(
    name: str, body: Any, path: str, model: str
) -> None:
    body = {**body, "model": model}
    assert _built(_new_build, path, model, body, HEADERS, 1) == _built(
        old_build, path, model, body, HEADERS, 1
    )


# ---- the usual request's helpers not run -----------------------------------------------------------------


def _refuse(*_: Any, **__: Any) -> Any:
    raise AssertionError("called on the usual request")


USUAL = {
    "/v1/messages": {
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hello bench"}],
        "stream": True,
    },
    "/v1/chat/completions": {
        "model": "claude-haiku-4-5",
        "messages": [{"role": "user", "content": "hello bench"}],
        "stream": True,
    },
    "/v1/responses": {"model": "claude-haiku-4-5", "input": "hello bench", "stream": True},
}


@pytest.mark.parametrize("path", list(USUAL))
def test_the_usual_request_runs_none_of_the_dropped_helpers(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = USUAL[path]
    model = body["model"]
    assert isinstance(model, str)
    before = _built(_new_build, path, model, body, HEADERS, 1)  # (the target and the view kept)
    modules = (anthropic, openai_chat, common, proxy_module)
    for name in ("require_model", "require_messages", "require_stream_flag", "check_token_limit_range"):
        for module in modules:
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _refuse)
    monkeypatch.setattr(anthropic, "require_max_tokens", _refuse)
    monkeypatch.setattr(proxy_module, "dumps_body", _refuse)
    monkeypatch.setattr(proxy_module, "passthrough_view", _refuse)
    monkeypatch.setattr(Provider, "target_of", _refuse)
    monkeypatch.setattr(OpenAICompatProvider, "prepare", _refuse)
    monkeypatch.setattr(common, "clamp_tokens", _refuse)
    for module_name in ("_request_to_chat", "_request_from_responses"):
        module = __import__(f"services.gateway.dialects.{module_name}", fromlist=["x"])
        monkeypatch.setattr(module, "clamp_tokens", _refuse)
        if hasattr(module, "_max_output_tokens"):
            monkeypatch.setattr(module, "_max_output_tokens", _refuse)
    monkeypatch.setattr("services.gateway.providers.openai_compat.completion_tokens_for_reasoning", _refuse)
    # the same build with the target kept (as a warm gateway has it) and the view kept by the builds above
    assert _kept_build(path, model, body) == before[-1]
    assert view_module.KEPT_VIEWS  # (the view came from the kept ones)


def _kept_build(path: str, model: str, body: dict[str, Any]) -> Any:
    """One build with the target kept beforehand (as a warm gateway has it)."""
    providers = _providers()
    provider = providers["openai" if model.startswith("gpt") else "anthropic"]
    provider.kept_targets[model] = provider.target(model)
    proxy = _proxy(providers)
    endpoint = registry.ENDPOINTS[path]
    pair = registry.pairing(endpoint.format, registry.choose_wire(endpoint.format, provider.wires))
    mine = orjson.loads(json.dumps(body))
    call = Call(endpoint, "req", HEADERS, time.monotonic(), time.time())
    call.body, call.raw = mine, orjson.dumps(mine)
    parsed = (endpoint.parse or registry.client(endpoint.format).parse)(mine)
    call.model, call.stream = parsed.model, parsed.stream
    call.include_usage, call.reasoning = parsed.include_usage, parsed.reasoning
    up = proxy._build(call, provider, Route(provider.name, model), pair)
    return (up.url, up.headers, up.body, up.view, up.thinking_room, mine)
