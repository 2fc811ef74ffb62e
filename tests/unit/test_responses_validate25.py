"""A Responses request's validation skips the optional fields' checks when the body has none of them (issue 13,
session 25): the same error (message and param) as the reading before, first error first, for any body; fewer
calls for a body of ``model`` and ``input`` alone (a count, deterministic)."""

from __future__ import annotations

import cProfile
import pstats
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects._request_common import TranslationError, as_dict, check_token_limit_range
from services.gateway.dialects.openai_responses import parse_request

# ---- the reading before session 25 (the oracle) ---------------------------------------------------------


def _before(body: dict[str, Any]) -> None:
    check_token_limit_range(body, ("max_output_tokens",))
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise TranslationError("model: Field required (a non-empty string)", param="model")
    raw = body.get("input")
    if raw is None and not any(body.get(k) for k in ("previous_response_id", "conversation", "prompt")):
        raise TranslationError("input: Field required (a string or a list of input items)", param="input")
    if raw is not None and not isinstance(raw, (str, list)):
        raise TranslationError("input: must be a string or a list of input items", param="input")
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, dict):
            raise TranslationError(f"input[{i}]: each input item must be an object", param=f"input[{i}]")
        if item.get("type", "message" if "role" in item else None) == "message":
            content = item.get("content")
            where = f"input[{i}].content"
            if not isinstance(content, (str, list)):
                raise TranslationError(f"{where}: must be a string or a list of content parts", param=where)
            for j, part in enumerate(content if isinstance(content, list) else []):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    w = f"{where}[{j}]"
                    raise TranslationError(f"{w}: each content part must be an object with a type", param=w)
    if body.get("instructions") is not None and not isinstance(body["instructions"], str):
        raise TranslationError("instructions: must be a string", param="instructions")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise TranslationError("tools: must be a list", param="tools")
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise TranslationError(
                f"tools[{i}]: each tool must be an object with a type", param=f"tools[{i}]"
            )
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
            raise TranslationError(
                f"tools[{i}].parameters: must be a JSON Schema object", param=f"tools[{i}].parameters"
            )
    _options_before(body)
    value = body.get("max_output_tokens")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise TranslationError("max_output_tokens: must be a positive integer", param="max_output_tokens")
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise TranslationError(f"{key}: must be a number", param=key)
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise TranslationError("stream: must be a boolean", param="stream")


def _options_before(body: dict[str, Any]) -> None:
    choice = body.get("tool_choice")
    if choice is not None and not (
        choice in ("auto", "none", "required")
        or (isinstance(choice, dict) and isinstance(choice.get("type"), str))
    ):
        raise TranslationError(
            'tool_choice: must be "auto", "none", "required" or an object with a type', param="tool_choice"
        )
    for key in ("reasoning", "text"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise TranslationError(f"{key}: must be an object", param=key)
    effort = as_dict(body.get("reasoning")).get("effort")
    if effort is not None and not isinstance(effort, str):
        raise TranslationError("reasoning.effort: must be a string", param="reasoning.effort")
    fmt = as_dict(body.get("text")).get("format")
    if fmt is not None and not (isinstance(fmt, dict) and isinstance(fmt.get("type"), str)):
        raise TranslationError("text.format: must be an object with a type", param="text.format")
    if as_dict(fmt).get("type") == "json_schema" and not isinstance(as_dict(fmt).get("schema"), dict):
        raise TranslationError(
            "text.format.schema: a JSON Schema object is required", param="text.format.schema"
        )
    if body.get("previous_response_id") is not None and not isinstance(body["previous_response_id"], str):
        raise TranslationError("previous_response_id: must be a string", param="previous_response_id")
    if body.get("parallel_tool_calls") is not None and not isinstance(body["parallel_tool_calls"], bool):
        raise TranslationError("parallel_tool_calls: must be a boolean", param="parallel_tool_calls")


# ---- bodies ---------------------------------------------------------------------------------------------

ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.sampled_from(["", " ", "x", "auto", "none", "required", "json_schema"]),
    st.just([]),
    st.just({}),
)
PART = st.one_of(ANY, st.fixed_dictionaries({"type": st.sampled_from(["input_text", "text"])}))
ITEM = st.one_of(
    ANY,
    st.fixed_dictionaries({"role": st.just("user")}, optional={"content": st.one_of(ANY, st.lists(PART))}),
    st.fixed_dictionaries({"type": st.sampled_from(["message", "function_call"])}, optional={"content": ANY}),
)
TOOL = st.one_of(
    ANY,
    st.fixed_dictionaries({"type": st.one_of(st.just("function"), ANY)}, optional={"parameters": ANY}),
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.one_of(st.just("gpt-4o-mini"), ANY),
    "input": st.one_of(st.just("hi"), ANY, st.lists(ITEM, max_size=3)),
    "instructions": ANY,
    "tools": st.one_of(ANY, st.lists(TOOL, max_size=3)),
    "tool_choice": st.one_of(ANY, st.fixed_dictionaries({"type": ANY})),
    "reasoning": st.one_of(ANY, st.fixed_dictionaries({}, optional={"effort": ANY})),
    "text": st.one_of(
        ANY,
        st.fixed_dictionaries(
            {},
            optional={
                "format": st.one_of(ANY, st.fixed_dictionaries({"type": ANY}, optional={"schema": ANY}))
            },
        ),
    ),
    "previous_response_id": ANY,
    "conversation": ANY,
    "prompt": ANY,
    "parallel_tool_calls": ANY,
    "max_output_tokens": st.one_of(ANY, st.just(1e30), st.just(-(2**64))),
    "temperature": ANY,
    "top_p": ANY,
    "stream": ANY,
    "store": ANY,
}
BODY = st.fixed_dictionaries({}, optional=FIELDS)


def _verdict(check: Any, body: dict[str, Any]) -> tuple[str, str | None] | None:
    try:
        check(body)
    except TranslationError as exc:
        return str(exc), exc.param
    return None


@settings(max_examples=600, deadline=None)
@given(BODY)
def test_same_error_as_before_for_any_body(body: dict[str, Any]) -> None:
    assert _verdict(parse_request, body) == _verdict(_before, body)


def test_each_field_alone_still_refused() -> None:
    """A body of model, input and one bad optional field: each still a 400 naming that field (the skip keys on the
    field's presence, so a field left out of ``_FIELDS`` would pass unchecked)."""
    bad = {
        "instructions": 5,
        "tools": "x",
        "tool_choice": 5,
        "reasoning": "high",
        "text": "x",
        "previous_response_id": 5,
        "parallel_tool_calls": "yes",
        "max_output_tokens": 0,
        "temperature": "hot",
        "top_p": True,
    }
    for key, value in bad.items():
        verdict = _verdict(parse_request, {"model": "gpt-4o-mini", "input": "hi", key: value})
        assert verdict is not None and verdict[1] == key, (key, verdict)
    assert _verdict(parse_request, {"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 1e30}) == (
        "max_output_tokens: integer above maximum value, expected a value <= 9223372036854775807",
        "max_output_tokens",
    )


def test_a_bare_request_makes_fewer_calls() -> None:
    """``{"model", "input"}`` (the bench's Responses request): 15 Python calls or fewer, 23 before (a count)."""
    body = {"model": "gpt-4o-mini", "input": "hello bench"}
    parse_request(body)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(10):
        parse_request(body)
    profile.disable()
    total = sum(s[1] for s in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]
    assert (total - 1) / 10 <= 15  # less ``disable``'s own call, counted once
