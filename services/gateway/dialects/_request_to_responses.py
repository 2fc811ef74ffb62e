"""Chat Completions or Anthropic Messages request → OpenAI Responses request (conformance §6.11, reversed).

For a chat or Anthropic client routed to a model served on the Responses wire only. Mapping:
- ``system``/``developer`` messages → message items of that role, in place; ``user`` text, ``image_url``
  and ``file`` parts → ``input_text``, ``input_image`` and ``input_file``; assistant text → ``output_text``.
- ``tool_calls`` → ``function_call`` / ``custom_tool_call`` items (``call_id`` = the call id); ``tool``
  messages → ``function_call_output`` / ``custom_tool_call_output``. Legacy ``function_call`` too.
- ``tools`` → flat Responses ``function`` / ``custom`` tools; ``tool_choice`` likewise.
- ``max_completion_tokens`` / ``max_tokens`` → ``max_output_tokens`` (clamped); ``reasoning_effort`` →
  ``reasoning.effort``; ``response_format`` → ``text.format``; ``store: false`` always (the gateway
  sends the whole conversation every time and keeps nothing at OpenAI).
- Dropped: ``stop`` (the Responses API has none), ``stream_options`` (usage always comes), ``logprobs``,
  penalties, ``seed``, ``n`` = 1. ``n`` > 1 and audio input → TranslationError.
Anthropic requests go through ``anthropic_to_chat`` first (thinking blocks and server tools are dropped
there), so both directions share one mapping.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.gateway.dialects._prompt_cache import NO_SESSION, Session
from services.gateway.dialects._request_common import (
    CHAT_FIELD_TYPES,
    Target,
    TranslatedRequest,
    TranslationError,
    as_dict,
    as_list,
    chat_token_limit,
    check_field_types,
    clamp_tokens,
)
from services.gateway.dialects._request_to_chat import anthropic_to_chat

_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = (as_dict(p) for p in as_list(content))
    return "".join(
        str(p.get("text") if p.get("type") != "refusal" else p.get("refusal"))
        for p in parts
        if p.get("type") in ("text", "refusal") and isinstance(p.get("text", p.get("refusal")), str)
    )


def _input_parts(content: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(as_list(content)):
        part, where = as_dict(part), f"{path}.content.{j}"
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
            parts.append({"type": "input_text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image if isinstance(image, str) else as_dict(image).get("url")
            if not isinstance(url, str):
                raise TranslationError(f"{where}.image_url.url: Field required", param=f"{where}.image_url")
            detail = as_dict(image).get("detail")
            parts.append({"type": "input_image", "image_url": url, "detail": detail or "auto"})
        elif kind == "file":
            file = as_dict(part.get("file"))
            item: dict[str, Any] = {"type": "input_file"}
            for key in ("file_data", "file_id", "filename"):
                if isinstance(file.get(key), str):
                    item[key] = file[key]
            parts.append(item)
        elif kind == "input_audio":
            raise TranslationError(f"{where}: audio input is not supported by this model", param=where)
    return parts


def _message(role: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": parts}


def _call_item(call: dict[str, Any], call_id: str, custom_ids: set[str]) -> dict[str, Any]:
    if call.get("type") == "custom":
        custom = as_dict(call.get("custom"))
        custom_ids.add(call_id)  # its output must go back as a custom_tool_call_output
        raw_input = custom.get("input")
        text = raw_input if isinstance(raw_input, str) else ""
        return {
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": str(custom.get("name", "")),
            "input": text,
        }
    function = as_dict(call.get("function"))
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments or {}).decode()
    return {
        "type": "function_call",
        "call_id": call_id,
        "name": str(function.get("name", "")),
        "arguments": arguments,
    }


def _assistant(
    message: dict[str, Any], i: int, custom_ids: set[str], fn_ids: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text = _text(message.get("content"))
    if text:
        items.append(_message("assistant", [{"type": "output_text", "text": text}]))
    calls = [as_dict(c) for c in as_list(message.get("tool_calls"))]
    legacy = as_dict(message.get("function_call"))
    if legacy:  # legacy function calling has no ids: make one the following function message can find
        fn_ids[str(legacy.get("name", ""))] = f"call_{i}_fn"
        calls.append({"id": f"call_{i}_fn", "type": "function", "function": legacy})
    for k, call in enumerate(calls):
        raw_id = call.get("id")
        items.append(
            _call_item(call, raw_id if isinstance(raw_id, str) and raw_id else f"call_{i}_{k}", custom_ids)
        )
    return items


def _tool_output(call_id: Any, content: Any, path: str, custom_ids: set[str]) -> dict[str, Any]:
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{path}.tool_call_id: Field required", param=f"{path}.tool_call_id")
    kind = "custom_tool_call_output" if call_id in custom_ids else "function_call_output"
    output: Any = _text(content)
    if isinstance(content, list) and any(as_dict(p).get("type") == "image_url" for p in content):
        output = _input_parts(content, path)  # function_call_output takes a list of input parts too
    return {"type": kind, "call_id": call_id, "output": output}


def _input(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise TranslationError("messages: Input should be a valid list", param="messages")
    items: list[dict[str, Any]] = []
    custom_ids: set[str] = set()
    fn_ids: dict[str, str] = {}
    for i, message in enumerate(raw):
        message, path = as_dict(message), f"messages.{i}"
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text(message.get("content"))
            if text:
                items.append(_message(str(role), [{"type": "input_text", "text": text}]))
        elif role == "user":
            parts = _input_parts(message.get("content"), path)
            if parts:
                items.append(_message("user", parts))
        elif role == "assistant":
            items += _assistant(message, i, custom_ids, fn_ids)
        elif role == "tool":
            items.append(_tool_output(message.get("tool_call_id"), message.get("content"), path, custom_ids))
        elif role == "function":
            call_id = fn_ids.get(str(message.get("name", "")))
            items.append(_tool_output(call_id, message.get("content"), path, custom_ids))
        else:
            raise TranslationError(f"{path}.role: unexpected role {role!r}", param=f"{path}.role")
    return items


def _tool(tool: dict[str, Any]) -> dict[str, Any] | None:
    if tool.get("type") == "custom":
        custom = as_dict(tool.get("custom"))
        out: dict[str, Any] = {"type": "custom", "name": str(custom.get("name", ""))}
        if isinstance(custom.get("description"), str):
            out["description"] = custom["description"]
        fmt = as_dict(custom.get("format"))
        grammar = as_dict(fmt.get("grammar"))
        if fmt.get("type") == "grammar" and isinstance(grammar.get("definition"), str):
            out["format"] = {
                "type": "grammar",
                "syntax": grammar.get("syntax", "lark"),
                "definition": grammar["definition"],
            }
        return out
    function = as_dict(tool.get("function")) if tool.get("type") == "function" else tool
    if not isinstance(function.get("name"), str):
        return None
    out = {"type": "function", "name": function["name"]}
    if isinstance(function.get("description"), str):
        out["description"] = function["description"]
    out["parameters"] = as_dict(function.get("parameters")) or {"type": "object", "properties": {}}
    out["strict"] = function.get("strict") is True
    return out


def _tool_choice(raw: Any) -> Any:
    if raw in ("auto", "none", "required"):
        return raw
    choice = as_dict(raw)
    kind = choice.get("type")
    if kind in ("function", "custom") and isinstance(as_dict(choice.get(kind)).get("name"), str):
        return {"type": kind, "name": choice[kind]["name"]}
    if kind == "allowed_tools":
        allowed = as_dict(choice.get("allowed_tools"))
        tools = []
        for tool in (as_dict(t) for t in as_list(allowed.get("tools"))):
            kind_of = tool.get("type", "function")
            tools.append({"type": kind_of, "name": as_dict(tool.get(kind_of)).get("name")})
        return {"type": "allowed_tools", "mode": allowed.get("mode", "auto"), "tools": tools}
    if isinstance(choice.get("name"), str):  # legacy function_call: {"name": ...}
        return {"type": "function", "name": choice["name"]}
    return None


def _max_output_tokens(body: dict[str, Any], target: Target) -> int | None:
    asked = chat_token_limit(body)
    return None if asked is None else clamp_tokens(asked, target)


def _text_format(response_format: dict[str, Any]) -> dict[str, Any] | None:
    if response_format.get("type") == "json_schema":
        spec = as_dict(response_format.get("json_schema"))
        fmt: dict[str, Any] = {
            "type": "json_schema",
            "name": spec.get("name") if isinstance(spec.get("name"), str) else "output",
            "schema": as_dict(spec.get("schema")),
        }
        if isinstance(spec.get("strict"), bool):
            fmt["strict"] = spec["strict"]
        return fmt
    if response_format.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def chat_to_responses(
    body: dict[str, Any], target: Target, session: Session = NO_SESSION
) -> TranslatedRequest:
    """An OpenAI Chat Completions request body → a Responses body for ``target`` (see the module docstring)."""
    check_field_types(body, CHAT_FIELD_TYPES)
    n = body.get("n")
    if n is not None and n != 1:
        raise TranslationError("n: only 1 completion per request is supported for this model", param="n")
    out: dict[str, Any] = {"model": target.model, "input": _input(body.get("messages")), "store": False}
    limit = _max_output_tokens(body, target)
    if limit is not None:
        out["max_output_tokens"] = limit
    raw_tools = as_list(body.get("tools")) or as_list(body.get("functions"))
    tools = [t for t in (_tool(as_dict(raw)) for raw in raw_tools) if t is not None]
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice", body.get("function_call")))
        if choice is not None:
            out["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    effort = body.get("reasoning_effort")
    if target.reasoning is not None and isinstance(effort, str) and effort in _EFFORTS:
        out["reasoning"] = {"effort": effort}
    if target.reasoning is None:  # reasoning models refuse a non-default temperature or top_p
        for key in ("temperature", "top_p"):
            if isinstance(body.get(key), (int, float)) and not isinstance(body[key], bool):
                out[key] = body[key]
    fmt = _text_format(as_dict(body.get("response_format")))
    if fmt is not None:
        out["text"] = {"format": fmt}
    for key in ("user", "safety_identifier", "prompt_cache_key"):
        if isinstance(body.get(key), str) and body[key]:
            out[key] = body[key]
    if body.get("stream") is True:
        out["stream"] = True
    return TranslatedRequest(body=out, tool_names={})


def anthropic_to_responses(
    body: dict[str, Any], target: Target, session: Session = NO_SESSION
) -> TranslatedRequest:
    """An Anthropic Messages request body → a Responses body: ``anthropic_to_chat``, then ``chat_to_responses``.

    The tool-name map of the first step is kept (Anthropic allows names OpenAI refuses).
    """
    chat = anthropic_to_chat(body, target, session)
    responses = chat_to_responses(chat.body, target)
    return TranslatedRequest(body=responses.body, tool_names=chat.tool_names)
