"""Session 29 (issue 13): the Responses → Anthropic translator places its cache breakpoints without looking for the
client's (``_prompt_cache.place_unmarked_breakpoints``): every block, tool and field of the body it builds is its
own, so the look (``body_has_markers``: the whole body but the system text serialised) always found none.

The property: over Codex's captured request with its items mutated, dropped and reordered, grown with tool loops
(function and custom calls, their outputs as text, parts or Codex's legacy object, reasoning items the gateway
made, images, files, assistant and user messages), tools of every kind, and ``cache_control`` keys the client put
anywhere (items, parts, tools, tool schemas, arguments, metadata, the top level), the translated body is the
body the look-first placement (``place_anthropic_breakpoints``) makes of the same body without the gateway's
markers: the same bytes, and no client marker passed through. A planted bug (a text part keeping the client's
``cache_control``) fails it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._prompt_cache import _NOT_MARKED, place_anthropic_breakpoints
from services.gateway.dialects._request_common import TranslationError
from services.gateway.dialects._request_from_responses import responses_to_anthropic
from services.gateway.dialects._responses_opaque import encode_thinking
from services.gateway.providers.anthropic import AnthropicProvider

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PROVIDER = AnthropicProvider("anthropic", "http://127.0.0.1:9", "k")
TARGETS = [_PROVIDER.target(m) for m in ("claude-haiku-4-5", "claude-opus-4-6", "claude-3-haiku")]
CODEX = json.loads((Path(__file__).parents[2] / "fixtures/requests/codex_say_hi.json").read_text())["body"]
CLIENT_MARK = {
    "type": "ephemeral",
    "ttl": "1h",
}  # a client's marker: never the gateway's own {"type": "ephemeral"}
GATEWAY_MARK = {"type": "ephemeral"}

texts = st.sampled_from(["", "ok", 'say "cache_control"', "é✓ 😀\n\\"]) | st.text(max_size=12)
marks = st.sampled_from([CLIENT_MARK, None, {}, "no-store"])


def _part(draw: st.DrawFn, assistant: bool) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["output_text", "refusal"] if assistant else ["input_text", "input_image", "input_file"]
        )
    )
    part: dict[str, Any] = {"type": kind}
    if kind == "input_image":
        part["image_url"] = draw(st.sampled_from(["https://x/y.png", "data:image/png;base64,AAAA"]))
    elif kind == "input_file":
        part["file_data"] = "data:application/pdf;base64,AAAA"
    else:
        part["refusal" if kind == "refusal" else "text"] = draw(texts)
    if draw(st.booleans()):
        part["cache_control"] = draw(marks)
    return part


@st.composite
def items(draw: st.DrawFn, i: int) -> list[dict[str, Any]]:
    call_id = f"call_{i}"
    kind = draw(st.sampled_from(["user", "assistant", "developer", "loop", "custom", "reasoning", "lone"]))
    if kind in ("user", "assistant", "developer"):
        content: Any = (
            draw(texts)
            if draw(st.booleans())
            else [_part(draw, kind == "assistant") for _ in range(draw(st.integers(0, 3)))]
        )
        item = {"type": "message", "role": kind, "content": content}
        if draw(st.booleans()):
            item["cache_control"] = draw(marks)
        return [item]
    if kind == "reasoning":
        return [
            {"type": "reasoning", "summary": [], "encrypted_content": encode_thinking(draw(texts), "sig")}
        ]
    if kind == "custom":
        call = {"type": "custom_tool_call", "name": "apply_patch", "input": draw(texts), "call_id": call_id}
    else:
        args = {"cmd": draw(texts), "cache_control": draw(marks)} if draw(st.booleans()) else {"cmd": "ls"}
        call = {
            "type": "function_call",
            "name": "exec_command",
            "arguments": orjson.dumps(args).decode(),
            "call_id": call_id,
        }
    out = draw(
        st.sampled_from(
            [
                draw(texts),
                [{"type": "input_text", "text": "r", "cache_control": CLIENT_MARK}],
                {"content": "x", "success": False},
            ]
        )
    )
    result = {"type": f"{call['type']}_output", "call_id": call_id, "output": out}
    return [result] if kind == "lone" else [call, result] if draw(st.booleans()) else [call]


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = copy.deepcopy(CODEX)
    body["model"] = "claude-haiku-4-5"
    kept = draw(st.lists(st.sampled_from(range(len(body["input"]))), unique=True))
    grown = [body["input"][k] for k in kept] + [
        it for i in range(draw(st.integers(0, 5))) for it in draw(items(i))
    ]
    order = draw(st.permutations(range(len(grown))))
    body["input"] = [grown[k] for k in order]
    tools = [t for t in body["tools"] if draw(st.booleans())]
    for tool in tools:
        if draw(st.booleans()):
            tool["cache_control"] = draw(marks)
        if tool.get("type") == "function" and draw(st.booleans()):
            tool["parameters"]["properties"]["cache_control"] = {"type": "object"}
    if draw(st.booleans()):
        tools.append(
            {
                "type": "namespace",
                "name": "ns",
                "tools": [{"type": "function", "name": "f", "cache_control": CLIENT_MARK}],
            }
        )
    body["tools"] = tools
    for key in draw(
        st.lists(st.sampled_from(["cache_control", "metadata", "instructions", "text"]), unique=True)
    ):
        body[key] = (
            {"cache_control": CLIENT_MARK}
            if key == "metadata"
            else draw(texts)
            if key == "instructions"
            else CLIENT_MARK
        )
        if key == "text":
            body[key] = {
                "format": {"type": "json_schema", "schema": {"properties": {"cache_control": CLIENT_MARK}}}
            }
    return body


def _without_gateway_marks(node: Any) -> None:
    """Drop the gateway's own markers (``{"type": "ephemeral"}`` exactly) where a marker can be."""
    if isinstance(node, dict):
        if node.get("cache_control") == GATEWAY_MARK:
            del node["cache_control"]
        for key, value in node.items():
            if key not in _NOT_MARKED:
                _without_gateway_marks(value)
    elif isinstance(node, list):
        for value in node:
            _without_gateway_marks(value)


@PROPS
@given(bodies(), st.sampled_from(TARGETS))
def test_placement_is_the_look_first_placement(body: dict[str, Any], target: Any) -> None:
    sent = copy.deepcopy(body)
    try:
        out = responses_to_anthropic(sent, target).body
    except TranslationError:
        return
    assert sent == body  # the client's body is left as it was
    reference = copy.deepcopy(out)
    _without_gateway_marks(reference)
    assert place_anthropic_breakpoints(reference) is False  # no client marker came through
    assert orjson.dumps(reference) == orjson.dumps(out)


def test_the_capture_is_marked_as_before() -> None:
    out = responses_to_anthropic(copy.deepcopy({**CODEX, "model": "claude-haiku-4-5"}), TARGETS[0]).body
    assert out["system"][-1]["cache_control"] == GATEWAY_MARK
    assert out["tools"][-1]["cache_control"] == GATEWAY_MARK
    assert out["messages"][-1]["content"][-1] == {
        "type": "text",
        "text": "say hi",
        "cache_control": GATEWAY_MARK,
    }
