"""OpenAI Chat Completions request → Anthropic Messages request (conformance §6.3, §6.6, §6.7, §6.9)."""

from __future__ import annotations

from typing import Any

from services.gateway.dialects._anthropic_wire import ids_plain, tool_ids_mapped
from services.gateway.dialects._claude_details import blocks_of_details, details_of_thinking_blocks
from services.gateway.dialects._prompt_cache import (
    EPHEMERAL,
    NO_SESSION,
    Session,
    is_marker,
    keep_breakpoints,
    markers_onto_parts,
    place_anthropic_breakpoints,
)
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
    message_content,
    parse_data_url,
    text_of_part,
)
from services.gateway.dialects.openai_chat import parse_arguments

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
THINKING_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
_EFFORTS = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
_MIN_THINKING_BUDGET = 1024
_JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = (as_dict(p) for p in as_list(content))
    return "".join(
        p["text"] for p in parts if p.get("type") in ("text", "refusal") and isinstance(p.get("text"), str)
    )


def _image_block(part: dict[str, Any], path: str) -> dict[str, Any]:
    image_url = part.get("image_url")
    url = image_url if isinstance(image_url, str) else as_dict(image_url).get("url")
    if not isinstance(url, str):
        raise TranslationError(f"{path}.image_url.url: Field required", param=f"{path}.image_url")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    parsed = parse_data_url(url)
    if parsed is None or parsed[0] not in IMAGE_MEDIA_TYPES:
        raise TranslationError(
            f"{path}: images must be http(s) URLs or base64 data URLs of type jpeg, png, gif or webp",
            param=f"{path}.image_url",
        )
    return {"type": "image", "source": {"type": "base64", "media_type": parsed[0], "data": parsed[1]}}


def _document_block(part: dict[str, Any], path: str) -> dict[str, Any]:
    file = as_dict(part.get("file"))
    data = file.get("file_data")
    parsed = parse_data_url(data) if isinstance(data, str) else None
    if parsed is None and isinstance(data, str) and str(file.get("filename", "")).lower().endswith(".pdf"):
        parsed = ("application/pdf", data)  # some clients send bare base64 and let the filename speak
    if parsed is None or parsed[0] != "application/pdf":
        raise TranslationError(
            f"{path}: only PDF files sent as file_data can be forwarded", param=f"{path}.file"
        )
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": parsed[1]},
    }


def _marker(part: dict[str, Any]) -> dict[str, str] | None:
    """A content part's Anthropic-style ``cache_control`` (OpenRouter's chat extension for Claude), as
    Anthropic accepts it: ``{"type": "ephemeral"}`` with its ``ttl`` ("5m" or "1h") when one is given."""
    marker = part.get("cache_control")
    if not isinstance(marker, dict) or marker.get("type") != "ephemeral":
        return None
    ttl = marker.get("ttl")
    return {"type": "ephemeral", "ttl": ttl} if ttl in ("5m", "1h") else {"type": "ephemeral"}


def _marked(block: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    marker = _marker(part)
    if marker is not None:
        block["cache_control"] = marker
    return block


def _user_blocks(content: Any, path: str) -> list[dict[str, Any]]:
    content = message_content(content, path)
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(as_list(content)):
        part, where = as_dict(part), f"{path}.content.{j}"
        kind = part.get("type")
        if kind == "text" and text_of_part(part, where):
            blocks.append(
                _marked({"type": "text", "text": part["text"]}, part)
            )  # Anthropic rejects empty text
        elif kind == "image_url":
            blocks.append(_marked(_image_block(part, where), part))
        elif kind == "file":
            blocks.append(_marked(_document_block(part, where), part))
        elif kind == "input_audio":
            raise TranslationError(f"{where}: audio input is not supported by this model", param=where)
    return blocks


def _system_block(content: Any) -> dict[str, Any] | None:
    """A system message as one text block, carrying the marker of its last marked part, if any."""
    text = _text_of(content)
    if not text:
        return None
    markers = [m for p in as_list(content) if (m := _marker(as_dict(p))) is not None]
    return (
        {"type": "text", "text": text, "cache_control": markers[-1]}
        if markers
        else {"type": "text", "text": text}
    )


def _tool_id(raw: Any, fallback: str) -> str:
    # the client's id as it came: Anthropic's pattern and one id per call are made over the whole history
    # (``tool_ids_one_to_one``; some OpenAI-compatible models use "functions.name:0", given on every turn)
    return raw if isinstance(raw, str) and raw else fallback


def _tool_use(call: dict[str, Any], fallback_id: str) -> dict[str, Any] | None:
    call_id = _tool_id(call.get("id"), fallback_id)
    if call.get("type") == "custom":
        custom = as_dict(call.get("custom"))
        return {
            "type": "tool_use",
            "id": call_id,
            "name": str(custom.get("name", "")),
            "input": {"input": custom.get("input", "")},
        }
    function = as_dict(call.get("function"))
    if not function:
        return None
    # Invalid JSON (a model cut off by max_tokens) becomes {}: refusing would break every later turn.
    tool_input = parse_arguments(function.get("arguments"))
    return {"type": "tool_use", "id": call_id, "name": str(function.get("name", "")), "input": tool_input}


def _assistant_blocks(
    message: dict[str, Any],
    i: int,
    fn_ids: dict[str, str],
    thinking: bool = False,
    uses: list[str] | None = None,
) -> list[dict[str, Any]]:
    text = _text_of(message.get("content"))
    calls = [as_dict(c) for c in as_list(message.get("tool_calls"))]
    legacy = as_dict(message.get("function_call"))
    if legacy:  # legacy function calling has no ids: make one the following function message can find
        fn_ids[str(legacy.get("name", ""))] = f"call_{i}_fn"
        calls.append({"id": f"call_{i}_fn", "function": legacy})
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    if blocks:  # the text carries the marker of its last marked part, TTL and all, as a system message does
        # (s20 variant 08-af: a breakpoint on the previous answer was dropped, the gateway's 5-minute ones placed)
        markers = [m for p in as_list(message.get("content")) if (m := _marker(as_dict(p))) is not None]
        if markers:
            blocks[0]["cache_control"] = markers[-1]
    for k, call in enumerate(calls):
        block = _tool_use(call, f"call_{i}_{k}")
        if block is not None:
            if uses is not None:
                uses.append(block["id"])
            blocks.append(
                _marked(block, call)
            )  # a marker the turn's own carried (``_assistant_marks_onto_calls``)
    if thinking and ("reasoning_details" in message or "thinking_blocks" in message):
        # Claude's signed thinking the client was given (``_claude_details``), first in the turn as Claude wrote it
        # (a turn of thinking alone says nothing): OpenRouter's ``reasoning_details``, else LiteLLM's
        # ``thinking_blocks`` (a client whose history passed through LiteLLM; s28 variant 04-vK)
        # (``get``: a ``"reasoning_details": null`` without ``thinking_blocks`` gives nothing, not a KeyError's 500)
        details = message.get("reasoning_details")
        if details is None:
            details = details_of_thinking_blocks(message.get("thinking_blocks"))
        given = blocks_of_details(details, _text_of(message.get("reasoning_content")))
        if given and blocks:
            blocks[:0] = given
    return blocks


def _assistant_marks_onto_calls(messages: list[Any]) -> list[Any]:
    """``messages`` with the message-level ``cache_control`` of each assistant message that has tool calls (LiteLLM's
    style) moved onto its last call, where ``_assistant_blocks`` puts it on the last ``tool_use`` block: the end of
    the turn, as a message-level marker means (Anthropic prompt caching: ``tool_use`` blocks may carry
    ``cache_control``). ``markers_onto_parts`` would put it on the text (before the calls), or drop it when the
    turn has no text (s30 variant 08-chat-msg-marks-toolcalls-to-anthropic-vF: the breakpoint was lost). The
    client's messages are not changed (the changed ones are copies)."""
    out: list[Any] = []
    for message in messages:
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        if (
            isinstance(message, dict)
            and message.get("role") == "assistant"
            and is_marker(message.get("cache_control"))
            and isinstance(calls, list)
            and calls
            and isinstance(calls[-1], dict)
        ):
            moved = {k: v for k, v in message.items() if k != "cache_control"}
            moved["tool_calls"] = [*calls[:-1], {**calls[-1], "cache_control": message["cache_control"]}]
            message = moved
        out.append(message)
    return out


def _tool_result(tool_use_id: Any, content: Any, path: str) -> dict[str, Any]:
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise TranslationError(f"{path}.tool_call_id: Field required", param=f"{path}.tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(tool_use_id, tool_use_id)}
    if isinstance(content, list):
        items = _user_blocks(content, path)
        if items:
            block["content"] = items
    elif isinstance(content, str) and content:
        block["content"] = content
    return block


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return  # an empty message would split two turns that must be merged
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] += blocks  # Anthropic wants alternating roles: merge neighbours
    else:
        turns.append({"role": role, "content": list(blocks)})


def _messages(raw: Any, thinking: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The system blocks and the alternating turns of a chat ``messages`` list; ``thinking``: the request asks for
    thinking, so assistant messages' ``reasoning_details`` give their thinking blocks back (``_assistant_blocks``)."""
    if not isinstance(raw, list):
        raise TranslationError("messages: Input should be a valid list", param="messages")
    system: list[dict[str, Any]] = []  # text blocks
    turns: list[dict[str, Any]] = []
    fn_ids: dict[str, str] = {}
    uses: list[str] = []  # the tool_use ids made, in order, and the tool_result ids (``ids_plain``)
    results: list[str] = []
    for i, message in enumerate(raw):
        message, path = as_dict(message), f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            block = _system_block(message.get("content"))
            if block is not None:
                system.append(block)
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), path))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, i, fn_ids, thinking, uses))
        elif role == "tool":
            result = _tool_result(message.get("tool_call_id"), message.get("content"), path)
            results.append(result["tool_use_id"])
            _append(turns, "user", [result])
        elif role == "function":
            call_id = fn_ids.get(str(message.get("name", "")))
            result = _tool_result(call_id, message.get("content"), path)
            results.append(result["tool_use_id"])
            _append(turns, "user", [result])
        else:
            raise TranslationError(f"{path}.role: unexpected role {role!r}", param=f"{path}.role")
    for turn in turns:
        if turn["role"] == "user":  # tool results must open the user turn that answers the tool calls
            turn["content"].sort(key=lambda b: b.get("type") != "tool_result")
    # Anthropic's id pattern, one id per call (``tool_ids_one_to_one``): the ids as made unless that changes them
    return system, turns if ids_plain(uses, results) else tool_ids_mapped(turns)


def _tool(tool: dict[str, Any]) -> dict[str, Any] | None:
    if tool.get("type") == "custom":
        custom = as_dict(tool.get("custom"))
        schema = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}
        out: dict[str, Any] = {"name": str(custom.get("name", "")), "input_schema": schema}
        description = custom.get("description")
    else:
        # a tool is {"type": "function", "function": {...}}; legacy ``functions`` entries are the inner part
        function = as_dict(tool.get("function")) if tool.get("type") == "function" else tool
        if not isinstance(function.get("name"), str):
            return None
        schema = dict(as_dict(function.get("parameters")))
        schema.setdefault("type", "object")
        out = {"name": function["name"], "input_schema": schema}
        description = function.get("description")
        if function.get("strict") is True:
            out["strict"] = True
    if isinstance(description, str) and description:
        out["description"] = description
    return out


def _tool_choice(raw: Any) -> tuple[dict[str, Any] | None, set[str] | None]:
    """The Anthropic tool_choice, and the allowed tool names when the client restricted them."""
    if raw in ("auto", "required", "none"):
        return {"type": {"auto": "auto", "required": "any", "none": "none"}[raw]}, None
    choice = as_dict(raw)
    kind = choice.get("type")
    if kind in ("function", "custom") and isinstance(as_dict(choice.get(kind)).get("name"), str):
        return {"type": "tool", "name": choice[kind]["name"]}, None
    if kind == "allowed_tools":
        allowed = as_dict(choice.get("allowed_tools"))
        tools = [as_dict(t) for t in as_list(allowed.get("tools"))]
        names = {str(as_dict(t.get(t.get("type", "function"))).get("name")) for t in tools}
        return {"type": "any" if allowed.get("mode") == "required" else "auto"}, names
    if isinstance(choice.get("name"), str):  # legacy function_call: {"name": ...}
        return {"type": "tool", "name": choice["name"]}, None
    return None, None


def _add_tools(body: dict[str, Any], out: dict[str, Any], thinking: bool) -> None:
    raw_tools = as_list(body.get("tools")) or as_list(body.get("functions"))
    choice, allowed = _tool_choice(body.get("tool_choice", body.get("function_call")))
    tools = [t for t in (_tool(as_dict(raw)) for raw in raw_tools) if t is not None]
    if allowed is not None:
        tools = [t for t in tools if t["name"] in allowed]
    if not tools:
        return
    out["tools"] = tools
    if body.get("parallel_tool_calls") is False and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice and thinking and choice["type"] in ("any", "tool"):
        # Anthropic refuses forced tool use while thinking; letting the model choose is the closest.
        choice = {k: v for k, v in choice.items() if k != "name"} | {"type": "auto"}
    if choice:
        out["tool_choice"] = choice


def _add_thinking(
    body: dict[str, Any], target: Target, out: dict[str, Any], chosen: bool = False, keep: bool = True
) -> int:
    """``out["thinking"]`` (and ``output_config.effort`` for an adaptive model) for the body's
    ``reasoning_effort``. ``chosen``: ``out["max_tokens"]`` is the gateway's default, the client set no output
    limit; it is then raised to the default answer room plus the effort's thinking budget (within the model's
    limit), since Anthropic counts thinking in ``max_tokens`` ("budget_tokens must be less than max_tokens",
    extended-thinking docs): the default alone (8192) left a high effort's answer one token beside its thinking
    (s28 variants 17-chat-no-max-effort-high-sonnet45, 17-resp-no-max-effort-high-opus41-ns). ``keep``: False when
    the history rules thinking out (``keeps_thinking``): the effort is still checked (and an adaptive model's
    ``output_config.effort`` kept), but no thinking is set and ``max_tokens`` is not raised. Returns the tokens the
    raise added (0 when none, or when no thinking was set: the raise follows the thinking actually sent, s29 fix29;
    ``TranslatedRequest.thinking_room``)."""
    effort = body.get("reasoning_effort")
    if effort in (None, "none") or target.reasoning not in ("anthropic_adaptive", "anthropic_budget"):
        return 0
    if not isinstance(effort, str) or effort not in _EFFORTS:  # a list or object is unhashable: not a 500
        raise TranslationError(f"reasoning_effort: unsupported value {effort!r}", param="reasoning_effort")
    level = _EFFORTS[effort]
    before = out["max_tokens"]
    if chosen and keep:
        out["max_tokens"] = clamp_tokens(target.default_max_tokens + THINKING_BUDGETS[level], target)
    if target.reasoning == "anthropic_adaptive":
        if keep:
            out["thinking"] = {"type": "adaptive"}
        out.setdefault("output_config", {})["effort"] = level
        return int(out["max_tokens"]) - int(before) if keep else 0
    # budget_tokens must be at least 1024 and below max_tokens; a limit too small for that means no thinking.
    budget = min(THINKING_BUDGETS[level], out["max_tokens"] - 1)
    if keep and budget >= _MIN_THINKING_BUDGET:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        return int(out["max_tokens"]) - int(before)
    out["max_tokens"] = before
    return 0


def _drop_thinking(turns: list[dict[str, Any]]) -> None:
    """Remove the thinking and redacted_thinking blocks ``_assistant_blocks`` gave the assistant turns (in place:
    the turns are the translation's own)."""
    for turn in turns:
        if turn["role"] == "assistant":
            turn["content"] = [
                b for b in turn["content"] if b.get("type") not in ("thinking", "redacted_thinking")
            ]


def keeps_thinking(turns: list[dict[str, Any]]) -> bool:
    """False when thinking must be off: the last assistant turn (Anthropic blocks) calls a tool but does not
    start with a thinking block, as a Chat client's history does unless it gave back the ``reasoning_details``
    the gateway gave it (``_claude_details.blocks_of_details``). With thinking on, Anthropic refuses such a turn: 400 "Expected `thinking` or
    `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message
    must start with a thinking block" (extended-thinking docs, "Preserving thinking blocks"; s10 variant
    04-f). The same rule as the Responses translator's ``_keeps_thinking``."""
    last: list[Any] = []
    for turn in turns:
        if turn.get("role") == "assistant":
            content = turn.get("content")
            last = content if isinstance(content, list) else []
    if not any(as_dict(b).get("type") == "tool_use" for b in last):
        return True
    return as_dict(last[0]).get("type") in ("thinking", "redacted_thinking")


def _add_sampling(body: dict[str, Any], out: dict[str, Any]) -> None:
    if "thinking" in out:
        return  # thinking requires the default temperature and top_p
    temperature, top_p = body.get("temperature"), body.get("top_p")
    # Recent Claude models refuse temperature and top_p together; temperature is the more common intent.
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        out["temperature"] = min(float(temperature), 1.0)
    elif isinstance(top_p, (int, float)) and not isinstance(top_p, bool):
        out["top_p"] = top_p


def _max_tokens(body: dict[str, Any], target: Target) -> int:
    asked = chat_token_limit(body)
    return clamp_tokens(target.default_max_tokens if asked is None else asked, target)


def chat_to_anthropic(
    body: dict[str, Any], target: Target, session: Session = NO_SESSION
) -> TranslatedRequest:
    """An OpenAI Chat Completions request body → an Anthropic Messages body for ``target``.

    Sampling and product fields without an Anthropic equivalent (``seed``, ``logprobs``, penalties,
    ``store``, ``service_tier``, …) are dropped, as Anthropic's own compatibility layer does.
    Raises TranslationError for what cannot be expressed (``n`` > 1, audio, unsupported images).
    """
    if body.keys() <= _PLAIN_KEYS and (plain := _plain_turns(body)) is not None:
        return _plain_to_anthropic(body, target, *plain)
    check_field_types(body, CHAT_FIELD_TYPES)
    n = body.get("n")
    if n is not None and n != 1:
        raise TranslationError("n: only 1 completion per request is supported for this model", param="n")
    messages = body.get("messages")
    if isinstance(messages, list) and any(isinstance(m, dict) and "cache_control" in m for m in messages):
        # LiteLLM-style markers on whole messages (a tool result's, a user turn's, with their TTL) go onto the
        # message's last content part, where the translation reads them (``markers_onto_parts``; the client's
        # messages are not changed): they were dropped, and the gateway's own 5-minute breakpoints placed
        # instead (s20 variant 08-ac: a tool result's 1-hour breakpoint lost)
        moved: dict[str, Any] = {"messages": _assistant_marks_onto_calls(messages)}
        markers_onto_parts(moved)
        messages = moved["messages"]
    system, turns = _messages(messages, body.get("reasoning_effort") not in (None, "none"))
    out: dict[str, Any] = {"model": target.model, "max_tokens": _max_tokens(body, target), "messages": turns}
    # An optional field the body does not hold (or holds empty) adds nothing: each step below is skipped
    # without its call then (issue 13, session 18: most requests hold few of them; the output is the same,
    # tests/unit/dialects/test_request_path18.py compares it with the code before, byte for byte).
    if response_format := body.get("response_format"):  # an object (checked above)
        if response_format.get("type") == "json_schema":
            schema = as_dict(response_format.get("json_schema")).get("schema")
            out["output_config"] = {"format": {"type": "json_schema", "schema": as_dict(schema)}}
        elif response_format.get("type") == "json_object":
            system.append({"type": "text", "text": _JSON_OBJECT_INSTRUCTION})  # no JSON mode without a schema
    if system:
        if any("cache_control" in b for b in system):
            out["system"] = system  # the client's own breakpoints (and TTLs) are kept where it put them
        else:
            out["system"] = "\n".join(b["text"] for b in system)
    room = 0  # max_tokens raised for the thinking sent (``_add_thinking``)
    if "reasoning_effort" in body:
        keep = body["reasoning_effort"] in (None, "none") or keeps_thinking(turns)
        room = _add_thinking(body, target, out, chat_token_limit(body) is None, keep)
        if "thinking" not in out:  # no budget for it, or a tool turn without thinking: the given-back blocks
            _drop_thinking(turns)  # go (with thinking off, a final assistant turn's thinking is refused)
    if "temperature" in body or "top_p" in body:
        _add_sampling(body, out)
    if body.get("tools") or body.get("functions"):
        _add_tools(body, out, thinking="thinking" in out)
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else [s for s in as_list(stop) if isinstance(s, str)]
        if stops:
            out["stop_sequences"] = stops
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if body.get("stream") is True:
        out["stream"] = True
    # OpenAI clients seldom send cache markers: the gateway places them (system, tools, the last two user
    # turns), so each turn reads what the previous one wrote (dialects/_prompt_cache.py). A client that
    # marked parts itself (OpenRouter's extension) keeps its own, at most four as Anthropic allows (the
    # gateway's own are never more: nothing to keep to then).
    if place_anthropic_breakpoints(out):
        keep_breakpoints(out)
    # a chat body's translation holds only the thinking blocks ``blocks_of_details`` made from signatures that
    # are not the gateway's: without a ``thinking`` field, ``strip_for_anthropic`` has nothing to strip
    return TranslatedRequest(body=out, tool_names={}, unminted="thinking" not in out, thinking_room=room)


# The fields of a plain chat request (``_plain_turns``) that ``_plain_to_anthropic`` reads, and
# ``stream_options``, which ``chat_to_anthropic`` drops (the gateway asks the Anthropic wire for usage itself).
_PLAIN_KEYS = frozenset(
    {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens"}
)
_PLAIN_ROLES = ("system", "developer", "user", "assistant")  # (a tuple: a role may be any JSON value)
_PLAIN_MESSAGE_KEYS = frozenset({"role", "content"})
# each optional field's exact type in a plain body: another value (null, a bool for a count, a string) takes the
# general path, which checks it (``check_field_types``) or reads it as it always has
_PLAIN_TYPES: dict[str, type] = {"max_tokens": int, "max_completion_tokens": int, "stream_options": dict}


def _plain_turns(body: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]] | None:
    """The system texts and Anthropic turns of a plain chat body, or None when it is not one: ``messages`` a
    list of ``{"role", "content"}`` objects, each role system, developer, user or assistant, each content a
    string, the optional fields of ``_PLAIN_TYPES`` of their exact type. Turns as ``_messages`` makes them:
    an empty content adds nothing, neighbours of a role are merged (Anthropic wants alternating roles)."""
    messages = body.get("messages")
    if type(messages) is not list:
        return None
    for key, kind in _PLAIN_TYPES.items():
        if key in body and type(body[key]) is not kind:
            return None
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if type(message) is not dict or not message.keys() <= _PLAIN_MESSAGE_KEYS:
            return None
        role, content = message.get("role"), message.get("content")
        if type(content) is not str or role not in _PLAIN_ROLES:
            return None
        if not content:
            continue
        if role == "system" or role == "developer":
            system.append(content)
        elif turns and turns[-1]["role"] == role:
            turns[-1]["content"].append({"type": "text", "text": content})
        else:
            turns.append({"role": role, "content": [{"type": "text", "text": content}]})
    return system, turns


def _plain_to_anthropic(
    body: dict[str, Any], target: Target, system: list[str], turns: list[dict[str, Any]]
) -> TranslatedRequest:
    """``chat_to_anthropic`` of a plain body (``_plain_turns``: text messages, a token limit, ``stream``),
    written directly: the same body, key order and cache markers as the general path (its ``_messages``,
    field walk and ``place_anthropic_breakpoints``, which finds no client marker in such a body) at a
    fraction of the calls (issue 13, session 24: the bench's and the openai SDK's chat request to a Claude
    model; tests/unit/dialects/test_plain_chat24.py compares the two on random plain bodies).

    The body: ``model``, ``max_tokens`` (``_max_tokens``), the turns, ``system`` (the system and developer
    texts joined by a line feed, when any) as one text block, ``stream`` when true; the cache breakpoints
    (Anthropic prompt caching: at most four) on the system block and on the last block of each of the last
    two user turns."""
    out: dict[str, Any] = {"model": target.model, "max_tokens": _max_tokens(body, target), "messages": turns}
    if system:
        out["system"] = [{"type": "text", "text": "\n".join(system), "cache_control": dict(EPHEMERAL)}]
    if body.get("stream") is True:
        out["stream"] = True
    marked = 0
    for turn in reversed(turns):
        if turn["role"] == "user":
            turn["content"][-1]["cache_control"] = dict(EPHEMERAL)
            marked += 1
            if marked == 2:
                break
    return TranslatedRequest(body=out, unminted=True)
