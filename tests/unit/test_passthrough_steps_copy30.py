"""Every provider step ``Proxy._build`` runs on a chat passthrough leaves the client's body as it came.

Review of session 29 (review30): the steps (``strip_minted``, ``clamp_body``, each provider's ``prepare``) copy what
they change, never a client's value in place: a later attempt (another route, a retry) builds from the body the
client sent. Hypothesis over chat stream bodies that reach each of those steps (cache markers on messages and parts,
tool calls with and without Gemini's signatures, Claude's reasoning details, reasoning fields, a client's
``stream_options`` and ``usage``) and the providers whose ``prepare`` changes most (OpenAI, xAI, OpenRouter's Claude
and Gemini 3, a catalog relay's Claude and Gemini 3). Session 31 (fix31): the splice this file also checked
(``bodies.appended``) is gone; a changed body is the serialisation of the gateway's reading (``dumps_body``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.gateway.bodies import dumps_body
from services.gateway.dialects.registry import WIRES
from services.gateway.providers.base import Provider
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.limits import clamp_body
from services.gateway.providers.openai_compat import OpenAIProvider, OpenRouterProvider, XAIProvider
from services.gateway.routing.config import parse_catalog


def _configured() -> ConfiguredProvider:
    spec = parse_catalog(
        {
            "providers": [
                {
                    "name": "litellm",
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["claude-sonnet-4-5", "gemini-3-pro-preview"],
                    "max_output_tokens": 4096,
                }
            ]
        }
    )
    return ConfiguredProvider(spec.providers[0], None)


ROUTES: list[tuple[Provider, str]] = [
    (OpenAIProvider("openai", "http://127.0.0.1:9", "k"), "gpt-4o"),
    (OpenAIProvider("openai", "http://127.0.0.1:9", "k"), "o3"),
    (XAIProvider("xai", "http://127.0.0.1:9", "k"), "grok-4"),
    (OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k"), "anthropic/claude-sonnet-4.5"),
    (OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k"), "google/gemini-3-pro-preview"),
    (_configured(), "claude-sonnet-4-5"),
    (_configured(), "gemini-3-pro-preview"),
]

MARKER = st.sampled_from([{"type": "ephemeral"}, {}, None, {"type": "ephemeral", "ttl": "1h"}])
TEXT = st.text(alphabet='ab é"\\\n\u2028😀', max_size=6)


@st.composite
def parts(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(TEXT)
    out = []
    for _ in range(draw(st.integers(0, 3))):
        part: dict[str, Any] = {"type": "text", "text": draw(TEXT)}
        if draw(st.booleans()):
            part["cache_control"] = draw(MARKER)
        out.append(part)
    return out


@st.composite
def messages(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 5))):
        role = draw(st.sampled_from(["system", "developer", "user", "assistant", "tool"]))
        msg: dict[str, Any] = {"role": role, "content": draw(parts())}
        if draw(st.integers(0, 3)) == 0:
            msg["cache_control"] = draw(MARKER)
        if role == "assistant" and draw(st.booleans()):
            call: dict[str, Any] = {
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": "{}"},
            }
            if draw(st.booleans()):
                call["extra_content"] = {"google": {"thought_signature": "c2ln"}}
            msg["tool_calls"] = [call, {**call, "id": "call_2"}][: draw(st.integers(1, 2))]
            if draw(st.booleans()):
                msg["reasoning_details"] = [
                    {"type": "reasoning.text", "text": "t", "signature": draw(st.sampled_from(["s", ""]))}
                ]
        if role == "tool":
            msg["tool_call_id"] = "call_1"
        out.append(msg)
    return out


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "messages": draw(messages()), "stream": True}
    optional: dict[str, Any] = {
        "max_tokens": st.integers(1, 200_000),
        "reasoning_effort": st.sampled_from(["low", "high"]),
        "reasoning": st.just({"effort": "high"}),
        "stream_options": st.sampled_from([{}, {"include_usage": False}, {"include_usage": True}, None]),
        "usage": st.sampled_from([{}, {"include": True}, None]),
        "tools": st.just([{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        "temperature": st.just(0.5),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        body[key] = draw(optional[key])
    return body


@settings(max_examples=300, deadline=None)
@given(bodies(), st.sampled_from(range(len(ROUTES))), st.sampled_from([None, 0, 2]), st.booleans())
def test_the_passthrough_steps_leave_the_clients_body_as_it_came(
    client: dict[str, Any], route: int, indent: int | None, ascii_only: bool
) -> None:
    provider, model = ROUTES[route]
    client["model"] = model
    raw = json.dumps(client, indent=indent, ensure_ascii=ascii_only).encode()
    before = orjson.loads(raw)  # (the handler's parse: ``call.body``)
    kept = copy.deepcopy(before)
    body = dict(before)  # ``Proxy._build``'s passthrough, step by step
    body["model"] = model
    changed = WIRES["openai_chat"].strip_minted(body)
    if (limit := provider.known_output_limit(model)) is not None:
        changed = clamp_body(body, limit) or changed
    changed = provider.prepare(body, True, "openai_chat") or changed
    assert before == kept  # no step changed the client's body
    event(f"changed: {changed}")
    assert orjson.loads(dumps_body(body)) == body
