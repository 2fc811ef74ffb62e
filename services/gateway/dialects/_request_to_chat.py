"""Anthropic Messages request → OpenAI Chat Completions request (conformance §6.1, §6.6, §6.8, §6.9)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from services.gateway.dialects._call_signature import chat_extra, plain_id, split_id
from services.gateway.dialects._claude_details import signed_back
from services.gateway.dialects._prompt_cache import NO_SESSION, Session, is_marker
from services.gateway.dialects._request_common import (
    MESSAGES_FIELD_TYPES,
    Target,
    TranslatedRequest,
    TranslationError,
    as_dict,
    as_list,
    check_field_types,
    clamp_tokens,
    message_content,
    require_max_tokens,
    text_of_part,
)
from services.gateway.dialects._request_to_anthropic import keeps_thinking
from services.gateway.dialects._tool_args import input_object

# Claude Code's first system block changes per conversation and would spoil upstream prefix caching.
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
MAX_STOP_SEQUENCES = 4  # OpenAI rejects more
_TOOL_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_TOOL_NAME_MAX = 64


class ToolNamer:
    """Client tool names → names OpenAI accepts (64 chars of ``[A-Za-z0-9_-]``), unique and stable."""

    def __init__(self) -> None:
        self._upstream: dict[str, str] = {}
        self.to_client: dict[str, str] = {}  # only the names that had to change

    def upstream(self, name: str) -> str:
        """The upstream name for a client tool name (the same answer every time)."""
        if name in self._upstream:
            return self._upstream[name]
        candidate = _TOOL_NAME_BAD_CHARS.sub("_", name)[:_TOOL_NAME_MAX] or "tool"
        taken = set(self._upstream.values())
        if candidate != name or candidate in taken:
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            if candidate in taken or len(candidate) == _TOOL_NAME_MAX:
                candidate = f"{candidate[: _TOOL_NAME_MAX - 9]}_{digest}"
            self.to_client[candidate] = name
        self._upstream[name] = candidate
        return candidate


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(
        b["text"] for b in as_list(content) if as_dict(b).get("type") == "text" and b.get("text")
    )


def _marker(block: dict[str, Any], markers: bool) -> dict[str, Any]:
    """``{"cache_control": …}`` to add to a part made from ``block`` when the target honours markers."""
    control = block.get("cache_control")
    return {"cache_control": control} if markers and is_marker(control) else {}


def _system_message(system: Any, markers: bool = False) -> list[dict[str, Any]]:
    if isinstance(system, list):
        system = [b for b in system if not str(as_dict(b).get("text", "")).startswith(BILLING_HEADER_PREFIX)]
        if markers and any(isinstance(b, dict) and "cache_control" in b for b in system):
            # The blocks stay content parts with their markers (and TTLs), so the target caches the prompt.
            parts = [
                {"type": "text", "text": b["text"], **_marker(b, markers)}
                for b in system
                if isinstance(b, dict)
                and b.get("type") == "text"
                and isinstance(b.get("text"), str)
                and b["text"]
            ]
            return [{"role": "system", "content": parts}] if parts else []
    text = _text_of(system)
    return [{"role": "system", "content": text}] if text else []


def _image_part(source: dict[str, Any], path: str) -> dict[str, Any]:
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str):
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"
    elif kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise TranslationError(f"{path}: image source type {kind!r} cannot be sent to this model", param=path)
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = as_dict(block.get("source"))
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        filename = block.get("title") if isinstance(block.get("title"), str) else "document.pdf"
        file_data = f"data:application/pdf;base64,{source.get('data', '')}"
        return {"type": "file", "file": {"filename": filename, "file_data": file_data}}
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    if source.get("type") == "content":
        return {"type": "text", "text": _text_of(source.get("content"))}
    raise TranslationError(
        f"{path}: document source type {source.get('type')!r} cannot be sent to this model", path
    )


def _search_result_text(block: dict[str, Any]) -> str:
    """A ``search_result`` block's text for a chat model: its title, its source and its content's text
    blocks, one a line (Anthropic, "Search results": ``source``, ``title`` and ``content``, text blocks, are
    required; the block may stand in a user turn or in a tool_result). Chat has no such part: the text keeps
    what the model reads and the source it may cite; dropped, the search tool's answer and its marker were
    lost (s21 variants 08-v18 to 08-v20)."""
    lines = [str(block[k]) for k in ("title", "source") if isinstance(block.get(k), str) and block[k]]
    body = _text_of(block.get("content"))
    return "\n".join([*lines, body] if body else lines)


def _tool_result(
    block: dict[str, Any], path: str, markers: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One ``tool`` message, plus the images and PDF documents it carried (OpenAI tool messages hold text only;
    those go to a user message after the tool messages, as ``image_url`` and ``file`` parts; a text document's
    text, and a ``search_result``'s (``_search_result_text``), join the message's text; they were dropped). A marked result (``cache_control`` on the block or on a
    block of its content) keeps its marker when the target honours markers: on the text part, or, when the
    result carried images, on the last image part, which is where the result's content ends in the
    translated prompt. Anthropic's marker on a tool_result caches its images too ("Prompt caching": a
    breakpoint covers the whole block); a marker left on the text, or lost with no text, left a Claude
    Code screenshot outside OpenRouter's cached prefix (s21 variants 08-v10, 08-v14)."""
    content = block.get("content")
    texts: list[str] = [content] if isinstance(content, str) else []
    images: list[dict[str, Any]] = []
    marker = _marker(block, markers)
    for j, item in enumerate(as_list(content)):
        item = as_dict(item)
        if item.get("type") == "text" and isinstance(item.get("text"), str):
            texts.append(item["text"])
            marker = _marker(item, markers) or marker
        elif item.get("type") == "image":
            images.append(_image_part(as_dict(item.get("source")), f"{path}.content.{j}"))
            marker = _marker(item, markers) or marker
        elif item.get("type") == "search_result" and (found := _search_result_text(item)):
            texts.append(found)
            marker = _marker(item, markers) or marker
        elif item.get("type") == "document":  # a PDF goes as a file part beside the images; text stays text
            part = _document_part(item, f"{path}.content.{j}")
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                images.append(part)
            marker = _marker(item, markers) or marker
    text = "\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}"
    message: dict[str, Any] = {
        "role": "tool",
        "tool_call_id": plain_id(str(block.get("tool_use_id") or "")),
        "content": text,
    }
    if marker and images:
        images[-1] = {**images[-1], **marker}
    elif marker and text:
        message["content"] = [{"type": "text", "text": text, **marker}]
    return message, images


def _keep_moved_images_cached(
    tool_messages: list[dict[str, Any]], images: list[dict[str, Any]], moved_before: list[int]
) -> None:
    """Move the marker of the last marked tool message onto the last image moved from it or a result before it,
    when that image (now after every tool message) would otherwise fall past the marker. Anthropic caches the
    prompt up to the marked block ("Prompt caching": the prefix is everything before the breakpoint, in order), so
    in the original turn a screenshot in an earlier parallel result is inside the prefix a later result's marker
    ends; translated, it came after that marker and left OpenRouter's cached prefix (s22 variant 08-w2). The
    marker moves rather than copies: the tool messages before the image stay inside the prefix it ends, and the
    count of markers (Anthropic allows 4) is unchanged. ``moved_before[k]``: how many of ``images`` came from tool
    message ``k`` and the ones before it."""
    marked = [k for k, m in enumerate(tool_messages) if _marked_content(m)]
    if not marked or moved_before[marked[-1]] == 0:
        return
    last = marked[-1]
    image = moved_before[last] - 1
    if "cache_control" in images[image]:
        return
    message = tool_messages[last]
    part = message["content"][0]
    message["content"] = part["text"]
    images[image] = {**images[image], "cache_control": part["cache_control"]}


def _marked_content(message: dict[str, Any]) -> bool:
    """Whether a tool message made by ``_tool_result`` carries a marker (its one text part)."""
    content = message["content"]
    return isinstance(content, list) and bool(content) and "cache_control" in content[0]


def _user(content: Any, path: str, markers: bool = False) -> list[dict[str, Any]]:
    content = message_content(content, path)
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    moved_before: list[
        int
    ] = []  # per tool message: how many moved images came from it and the results before
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(as_list(content)):
        block, where = as_dict(block), f"{path}.content.{j}"
        kind = block.get("type")
        if kind == "tool_result":
            message, result_images = _tool_result(block, where, markers)
            tool_messages.append(message)
            images += result_images
            moved_before.append(len(images))
        elif kind == "text" and text_of_part(block, where):
            parts.append({"type": "text", "text": block["text"], **_marker(block, markers)})
        elif kind == "image":  # a marked image or document keeps its marker (OpenRouter's content-part
            # types carry cache_control on image_url and file parts as on text; bug8a variant 08-h)
            parts.append({**_image_part(as_dict(block.get("source")), where), **_marker(block, markers)})
        elif kind == "document":
            parts.append({**_document_part(block, where), **_marker(block, markers)})
        elif kind == "search_result" and (found := _search_result_text(block)):
            parts.append({"type": "text", "text": found, **_marker(block, markers)})
    # OpenAI wants the tool messages right after the assistant's tool calls, before any other content.
    if markers and images:
        _keep_moved_images_cached(tool_messages, images, moved_before)
    parts = images + parts
    if not parts:
        return tool_messages
    if len(parts) == 1 and parts[0]["type"] == "text" and "cache_control" not in parts[0]:
        return [*tool_messages, {"role": "user", "content": parts[0]["text"]}]
    return [*tool_messages, {"role": "user", "content": parts}]


def _assistant(
    content: Any,
    names: ToolNamer,
    markers: bool = False,
    reasoning: bool = False,
    signatures: bool = False,
    claude: str = "",
) -> list[dict[str, Any]]:
    """One assistant message (or none). ``reasoning``: the target takes the thinking blocks' text back as
    ``reasoning_content`` (``Target.reasoning_content``); otherwise thinking is dropped. ``signatures``: the
    target takes Gemini's thought signatures (``Target.thought_signatures``): one a tool_use id carries
    (``_call_signature``) goes onto its call; otherwise it is dropped. The id is restored either way.
    ``claude``: the target is Claude on OpenRouter or behind LiteLLM (``Target.claude_field``): Claude-signed thinking
    and redacted thinking go back in that field (``_claude_details.signed_back``)."""
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}]
    texts: list[str] = []
    thoughts: list[str] = []
    marked: dict[str, Any] = {}
    calls: list[dict[str, Any]] = []
    for block in as_list(content):
        block = as_dict(block)
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
            marked = _marker(block, markers) or marked
        elif reasoning and block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(input_object(block.get("input"))).decode()
            function = {"name": names.upstream(str(block.get("name") or "")), "arguments": arguments}
            call_id, signature = split_id(str(block.get("id") or ""))
            call = {"id": call_id, "type": "function", "function": function}
            if signature is not None and signatures:
                call["extra_content"] = chat_extra(signature)
            calls.append(call)
    if not texts and not calls:
        return []  # only thinking blocks: nothing an OpenAI model can take back
    text = "".join(texts)
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if marked and text:
        message["content"] = [{"type": "text", "text": text, **marked}]
    if calls:
        message["tool_calls"] = calls
    if thoughts and (thought := "".join(thoughts)):
        message["reasoning_content"] = thought
    if claude:
        message.update(signed_back(as_list(content), claude))
    return [message]


def _messages(
    raw: Any,
    names: ToolNamer,
    markers: bool = False,
    reasoning: bool = False,
    signatures: bool = False,
    claude: str = "",
) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise TranslationError("messages: Input should be a valid list", param="messages")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(raw):
        message, path = as_dict(message), f"messages.{i}"
        role = message.get("role")
        if role == "user":
            out += _user(message.get("content"), path, markers)
        elif role == "assistant":
            out += _assistant(message.get("content"), names, markers, reasoning, signatures, claude)
        elif role == "system":
            # Claude Code sends mid-conversation system messages; OpenAI takes them in place.
            out += _system_message(message.get("content"), markers)
        else:
            raise TranslationError(f"{path}.role: unexpected role {role!r}", param=f"{path}.role")
    return out


def _tools(raw: Any, names: ToolNamer, markers: bool = False) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(as_list(raw)):
        tool = as_dict(tool)
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web_search_20250305, bash_20250124, …) run at Anthropic only
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise TranslationError(f"tools.{i}.name: Field required", param=f"tools.{i}.name")
        schema = tool.get("input_schema") if isinstance(tool.get("input_schema"), dict) else None
        function: dict[str, Any] = {"name": names.upstream(tool["name"])}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = schema or {"type": "object", "properties": {}}
        if tool.get("strict") is True:
            function["strict"] = True
        tools.append({"type": "function", "function": function, **_marker(tool, markers)})
    return tools


def _tool_choice(raw: Any, names: ToolNamer, out: dict[str, Any]) -> None:
    choice = as_dict(raw)
    kind = choice.get("type")
    if kind in ("auto", "any", "none"):
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    elif kind == "tool" and isinstance(choice.get("name"), str):
        name = names.upstream(choice["name"])
        defined = {t["function"]["name"] for t in out.get("tools", [])}
        # a server tool (web search) was left out: forcing it would name a function that does not exist
        out["tool_choice"] = {"type": "function", "function": {"name": name}} if name in defined else "auto"
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _effort(body: dict[str, Any]) -> str | None:
    thinking = as_dict(body.get("thinking"))
    if thinking.get("type") == "disabled":
        return None
    effort = as_dict(body.get("output_config")).get("effort")
    if effort in ("low", "medium", "high"):
        return str(effort)
    if effort in ("xhigh", "max"):
        return "high"
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled" and isinstance(budget, int):
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    return None  # adaptive without an effort: leave it to the model's default


def _reasoning(body: dict[str, Any], target: Target, out: dict[str, Any]) -> None:
    if target.claude_field and _claude_thinking(body, target.claude_field, out):
        return
    effort = _effort(body)
    if effort is None:
        return
    if target.reasoning == "reasoning_effort":
        out["reasoning_effort"] = effort
    elif target.reasoning == "openrouter":
        out["reasoning"] = {"effort": effort}


_MIN_THINKING_BUDGET = 1024  # Anthropic extended thinking: budget_tokens >= 1024


def _claude_thinking(body: dict[str, Any], field: str, out: dict[str, Any]) -> bool:
    """An Anthropic client's ``thinking`` (``enabled`` with ``budget_tokens``, or ``adaptive``) for Claude served on
    the chat wire (``Target.claude_field``), in the field that host reads; True when set here, False to leave it to
    the effort (``_effort``). Behind LiteLLM (``thinking_blocks``): ``thinking`` as the client sent it, which LiteLLM
    passes on to Anthropic (LiteLLM docs, "'Thinking' / 'Reasoning Content'", docs/my-website/docs/reasoning_content.md:
    the proxy's ``/v1/chat/completions`` takes a top-level ``"thinking": {"type": "enabled", "budget_tokens": N}``;
    checked s31 fix31 in github:BerriAI/litellm, ``litellm/llms/anthropic/chat/transformation.py``
    ``AnthropicConfig.get_supported_openai_params``: ``thinking`` is a supported parameter of a Claude model its map
    says reasons, mapped to Anthropic's own), unless the history's last tool turn begins with no thinking (Anthropic refuses it then:
    ``keeps_thinking``). On OpenRouter (``reasoning_details``): a budget as ``reasoning: {"max_tokens": N}`` (OpenRouter
    docs, "Reasoning Tokens": for Anthropic models it is the thinking budget), adaptive without an effort as
    ``reasoning: {"enabled": true}``; adaptive with ``output_config.effort`` goes by the effort. s29 fix29: before,
    a budget became a coarse effort on OpenRouter and nothing at all behind LiteLLM. A budget at or above the output
    limit in ``out`` (the client's ``max_tokens`` clamped to the model's) is lowered to one below it, or thinking left
    out when that is under 1024 (Anthropic extended thinking docs: ``budget_tokens`` >= 1024 and < ``max_tokens``)."""
    thinking = as_dict(body.get("thinking"))
    kind, budget = thinking.get("type"), thinking.get("budget_tokens")
    if kind not in ("enabled", "adaptive"):
        return False
    limit = out.get("max_tokens", out.get("max_completion_tokens"))
    asked = body.get("max_tokens")
    if (
        kind == "enabled"
        and type(budget) is int
        and type(limit) is int
        and type(asked) is int
        and limit <= budget < asked
    ):
        # the output limit was clamped below the client's budget (``clamp_tokens``): Anthropic refuses a budget at
        # or above ``max_tokens`` (extended thinking docs), and needs 1024 at least (s30 variant
        # 17-cc-64k-litellm-bedrock-opus41-vF: 64000/63999 to Opus 4.1 behind LiteLLM went out as 32000/63999)
        if limit - 1 < _MIN_THINKING_BUDGET:
            return True  # no room to think: thinking left out (an effort would ask for a budget again)
        budget = limit - 1
        thinking = {**thinking, "budget_tokens": budget}
    if field == "thinking_blocks":
        if keeps_thinking(as_list(body.get("messages"))):
            out["thinking"] = dict(thinking)
        return True
    if kind == "enabled" and isinstance(budget, int) and not isinstance(budget, bool):
        out["reasoning"] = {"max_tokens": budget}
        return True
    if kind == "adaptive" and _effort(body) is None:
        out["reasoning"] = {"enabled": True}
        return True
    return False


def _sampling(body: dict[str, Any], target: Target, out: dict[str, Any]) -> None:
    if target.reasoning == "reasoning_effort":
        return  # OpenAI reasoning models (o-series, gpt-5) refuse any non-default temperature or top_p
    for key in ("temperature", "top_p"):
        if isinstance(body.get(key), (int, float)) and not isinstance(body[key], bool):
            out[key] = body[key]
    top_k = body.get("top_k")
    if target.top_k and type(top_k) is int and top_k > 0:  # (an integer, checked; Anthropic: top_k > 0)
        out["top_k"] = top_k


def anthropic_to_chat(
    body: dict[str, Any], target: Target, session: Session = NO_SESSION
) -> TranslatedRequest:
    """An Anthropic Messages request body → an OpenAI Chat Completions body for ``target``.

    Fields with no OpenAI equivalent (``context_management``, thinking blocks, server tools, …) are dropped, and
    ``top_k`` but for a target that takes it (``target.top_k``: OpenRouter); thinking blocks go back as the assistant message's ``reasoning_content`` to a target that
    takes it (``target.reasoning_content``: DeepSeek refuses a thinking-mode tool loop without it). Prompt caching (client-protocols.md, "Prompt caching across formats"): ``cache_control``
    markers stay on the matching content parts, system blocks, tools and messages, TTL and all, when the
    target honours them (``target.cache_markers``: Claude on OpenRouter), and are dropped elsewhere; a target
    that takes ``prompt_cache_key`` (OpenAI) gets the client's session id (Claude Code's
    ``x-claude-code-session-id``), so a session's turns land on the same prefix cache. A tool_use id carrying
    Gemini's thought signature (``_call_signature``) goes as its plain id, the signature on the call for a target
    that takes it (``target.thought_signatures``) and dropped for others. Claude's signed thinking goes back as
    ``reasoning_details`` to Claude on OpenRouter, ``thinking_blocks`` to Claude behind LiteLLM (``target.claude_field``). Raises TranslationError for content
    that cannot be sent.
    """
    if body.keys() <= _PLAIN_KEYS and (plain := _plain_messages(body)) is not None:
        return _plain_to_chat(body, target, session, plain)
    check_field_types(body, MESSAGES_FIELD_TYPES)
    names = ToolNamer()
    markers = target.cache_markers
    # An optional field the body does not hold (or holds empty) adds nothing: each step below is skipped
    # without its call then (issue 13, session 18: most requests hold few of them; the output is the same,
    # tests/unit/dialects/test_request_path18.py compares it with the code before, byte for byte).
    raw_tools = body.get("tools")
    tools = _tools(raw_tools, names, markers) if raw_tools else []  # first: the definitions claim their names
    system = body.get("system")
    messages = _messages(
        body.get("messages"),
        names,
        markers,
        target.reasoning_content,
        target.thought_signatures,
        target.claude_field,
    )
    if system:
        messages = _system_message(system, markers) + messages
    out: dict[str, Any] = {"model": target.model, "messages": messages}
    if target.prompt_cache_key and session.id:
        out["prompt_cache_key"] = session.id
    if markers and is_marker(body.get("cache_control")):
        out["cache_control"] = body["cache_control"]  # top-level automatic caching (OpenRouter takes it too)
    out[target.max_tokens_field] = clamp_tokens(require_max_tokens(body), target)
    if tools:
        out["tools"] = tools
        _tool_choice(body.get("tool_choice"), names, out)
    stops = body.get("stop_sequences")
    if stops and (stops := [s for s in stops if isinstance(s, str)]):  # a list of strings (checked above)
        out["stop"] = stops[:MAX_STOP_SEQUENCES]
    if "temperature" in body or "top_p" in body or "top_k" in body:
        _sampling(body, target, out)
    config = body.get("output_config")
    if config or "thinking" in body:
        _reasoning(body, target, out)
    if config and isinstance(output_format := config.get("format"), dict):  # an object (checked above)
        if output_format.get("type") == "json_schema" and isinstance(output_format.get("schema"), dict):
            schema = {"name": "output", "schema": output_format["schema"], "strict": True}
            out["response_format"] = {"type": "json_schema", "json_schema": schema}
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if metadata else None  # an object (checked above)
    if isinstance(user_id, str) and user_id:
        # Claude Code's user_id is a JSON blob with device and session ids: send a stable pseudonym instead.
        out["user"] = hashlib.sha256(user_id.encode()).hexdigest()[:32]
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # the gateway needs usage for cost, always
    return TranslatedRequest(body=out, tool_names=dict(names.to_client))


# The fields of a plain Messages request (``_plain_messages``), all of which ``_plain_to_chat`` reads.
_PLAIN_KEYS = frozenset({"model", "max_tokens", "messages", "stream", "system"})
_PLAIN_MESSAGE_KEYS = frozenset({"role", "content"})


def _plain_messages(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The chat messages of a plain Messages body, or None when it is not one: ``max_tokens`` an integer of at
    least 1, ``system`` absent or a string, ``messages`` a list of ``{"role", "content"}`` objects, each role
    user, assistant or system, each content a string. Messages as ``_messages`` makes them: each user and
    assistant message as it came (an empty content too), a system message only when not empty."""
    limit, system, messages = body.get("max_tokens"), body.get("system", ""), body.get("messages")
    if type(limit) is not int or limit < 1 or type(system) is not str or type(messages) is not list:
        return None
    out = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if type(message) is not dict or not message.keys() <= _PLAIN_MESSAGE_KEYS:
            return None
        role, content = message.get("role"), message.get("content")
        if type(content) is not str:
            return None
        if role == "user" or role == "assistant":
            out.append({"role": role, "content": content})
        elif role == "system":
            if content:
                out.append({"role": "system", "content": content})
        else:
            return None
    return out


def _plain_to_chat(
    body: dict[str, Any], target: Target, session: Session, messages: list[dict[str, Any]]
) -> TranslatedRequest:
    """``anthropic_to_chat`` of a plain body (``_plain_messages``: text messages, a string ``system``,
    ``max_tokens``, ``stream``), written directly: the same body and key order as the general path (its
    field walk, tool namer and ``_messages``) at a fraction of the calls (issue 13, session 24: the bench's
    and the anthropic SDK's text request to an OpenAI model; tests/unit/dialects/test_plain_messages24.py
    compares the two on random plain bodies).

    The body: ``model``, the messages, ``prompt_cache_key`` (the session's, when the target takes it), the
    target's token-limit field (``max_tokens``, clamped), ``stream`` and ``stream_options.include_usage``
    when streamed (the gateway needs usage for cost)."""
    out: dict[str, Any] = {"model": target.model, "messages": messages}
    if target.prompt_cache_key and session.id:
        out["prompt_cache_key"] = session.id
    limit, ceiling = body["max_tokens"], target.max_output_tokens  # (``clamp_tokens``' rule, its call saved)
    out[target.max_tokens_field] = min(limit, ceiling) if ceiling else limit
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    # by position (a keyword costs the type call a dict), no tool renamed, no custom tool, no compaction; text
    # messages only, no ``thinking``: nothing minted to strip (``Proxy._build`` skips ``strip_minted``; session 28)
    return TranslatedRequest(out, {}, _NO_CUSTOM, False, True)


_NO_CUSTOM: frozenset[str] = frozenset()
