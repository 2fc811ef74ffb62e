"""OpenAI Responses request → Chat Completions or Anthropic Messages request (conformance §4, §6.11).

Used when a Responses client (Codex CLI, the openai SDK's ``responses.create``) is routed to a model that
does not speak the Responses wire: xAI, OpenRouter and catalog providers (chat) or Claude (Anthropic).
Sources: ``../shared/docs/api-conformance.md`` §4 and §6.11, ``client-protocols.md`` (Codex, prompt
caching), the Codex capture ``tests/fixtures/requests/codex_say_hi.json``, and codex-rs (``ResponseItem``
in protocol/src/models.rs, ``CompactionInput`` in codex-api) for the compaction and namespace shapes
(``/work/notes/compaction.md``).

Mapping, both targets:
- ``instructions`` and every ``developer``/``system`` message item → the system prompt, in order.
- ``input`` string → one user message; ``message`` items with ``input_text``/``output_text``/``refusal``,
  ``input_image`` (http(s) or data URL; ``file_id`` → 400) and ``input_file`` (PDF ``file_data``).
- ``function_call``/``custom_tool_call`` → tool calls (``call_id`` is the tool id); their outputs (a string,
  a list of parts, or Codex's legacy ``{content, success}``) → tool results, placed right after the calls.
  A call whose output is missing gets a placeholder result; an output without its call is dropped.
- ``custom`` tools (Codex's lark-grammar ``apply_patch``) → function tools taking ``{"input": string}``,
  with the grammar in the description; ``TranslatedRequest.custom_tools`` names them so the answer goes
  back as ``custom_tool_call`` with the raw text. ``namespace`` tools are flattened: member ``N`` of ``NS``
  has the client name ``"NS:N"`` (``_responses_opaque.namespaced``). Names are made valid for the target
  (64 chars of ``[A-Za-z0-9_-]``); ``tool_names`` maps them back. Hosted tools (``web_search``,
  ``tool_search``, ``file_search``, …) and their items are dropped: the turn goes on without them.
- ``reasoning`` items: for Anthropic, those the gateway made from a thinking block (``_responses_opaque``)
  become that block again, others are dropped; for chat, the text of the others (reasoning_text, else the
  summary) goes back as the assistant message's ``reasoning_content`` to a target that takes it
  (``Target.reasoning_content``: DeepSeek's thinking-mode tool loop requires it), and is dropped elsewhere.
- ``compaction_trigger`` → a final user message asking for a handoff summary, tool use off, and
  ``TranslatedRequest.compaction``; a ``compaction`` item the gateway made → a user message with the summary;
  OpenAI's own (opaque) compaction → 400.
- Dropped: ``store: false``, ``include``, ``text.verbosity``, ``client_metadata``, ``stream_options``,
  ``metadata``, ``truncation``, ``service_tier``, ``reasoning.summary``.
- Refused with 400 (nothing upstream can honour them): ``previous_response_id``, ``conversation``,
  ``prompt`` (stored prompt templates), ``background: true`` and an explicit ``store: true``; the client
  must resend the whole conversation with ``store: false``, as Codex does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from services.gateway.dialects._anthropic_wire import tool_ids_one_to_one
from services.gateway.dialects._call_signature import chat_extra, split_id
from services.gateway.dialects._claude_details import signed_back
from services.gateway.dialects._prompt_cache import (
    EPHEMERAL,
    NO_SESSION,
    Session,
    place_chat_breakpoints,
    place_unmarked_breakpoints,
)
from services.gateway.dialects._request_common import (
    Target,
    TranslatedRequest,
    TranslationError,
    as_dict,
    as_list,
    clamp_tokens,
)
from services.gateway.dialects._request_to_anthropic import (
    _JSON_OBJECT_INSTRUCTION,
    _add_sampling,
    _add_thinking,
    _append,
    _tool_id,
    _user_blocks,
)
from services.gateway.dialects._request_to_chat import MAX_STOP_SEQUENCES, ToolNamer, _sampling
from services.gateway.dialects._request_to_responses import anthropic_to_responses, chat_to_responses
from services.gateway.dialects._responses_opaque import decode_compaction, decode_thinking, namespaced
from services.gateway.dialects.openai_chat import parse_arguments

__all__ = [
    "anthropic_to_responses",
    "chat_to_responses",
    "compact_to_responses",
    "responses_to_anthropic",
    "responses_to_chat",
    "validate_responses_request",
]

# Asked of the model, as the last user message, when Codex requests a remote compaction.
COMPACTION_INSTRUCTION = (
    "CONTEXT CHECKPOINT. Do not continue the task and do not call any tool now. Write a handoff summary of "
    "the conversation so far for another assistant that will carry on the work with nothing but this "
    "summary and the system instructions. Include:\n"
    "- the user's goal and every requirement, constraint and preference they stated;\n"
    "- what has been done so far, the key decisions and the reasons for them;\n"
    "- the current state that matters: files created or changed (with paths), commands run and their "
    "outcome, errors met, identifiers and exact values that will be needed again;\n"
    "- what remains to be done, as concrete next steps, and any open questions or risks.\n"
    "Be concise and precise, use headings and bullet points, and quote exact text where the wording "
    "matters. Answer with the summary only."
)
# Put before a summary the gateway produced, when a later request carries the compaction item back.
COMPACTION_PREAMBLE = (
    "The earlier part of this conversation was compacted to save context. Here is the handoff summary "
    "written at that point; build on the work it describes and do not redo it:"
)
MISSING_OUTPUT = "No output was recorded for this tool call."
OPENING = "Begin."  # the user turn a conversation must open with when the client sent none
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_CHAT_ID_MAX = 40  # OpenAI rejects longer tool call ids


# ---------------------------------------------------------------------------------------------------
# Validation, refusals


def validate_responses_request(body: Any) -> None:
    """Check the shape of a ``POST /v1/responses`` body; TranslationError (→ 400 in OpenAI's shape) if not.

    Only what every route needs: passthrough routes forward the body as it is, so fields OpenAI itself
    validates in depth (and ``previous_response_id``, which OpenAI honours) are left alone here. The types
    of the fields a translation reads are checked, so a malformed one is a 400 on every route rather than
    silently ignored on a translated one (``reasoning: "high"``, ``text: "x"``, ``tool_choice: 5``, …).
    """
    if not isinstance(body, dict):
        raise TranslationError("The request body must be a JSON object", param=None)
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
        _validate_message_content(item, f"input[{i}]")
    if not _FIELDS.isdisjoint(
        body
    ):  # none of them: nothing to check (issue 13, session 25: ~8 calls a request)
        _validate_fields(body)
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise TranslationError("stream: must be a boolean", param="stream")


def _validate_message_content(item: dict[str, Any], path: str) -> None:
    """A message item's ``content``: a string or a list of part objects."""
    if item.get("type", "message" if "role" in item else None) != "message":
        return
    content = item.get("content")
    if not isinstance(content, (str, list)):
        raise TranslationError(
            f"{path}.content: must be a string or a list of content parts", param=f"{path}.content"
        )
    for j, part in enumerate(content if isinstance(content, list) else []):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            where = f"{path}.content[{j}]"
            raise TranslationError(f"{where}: each content part must be an object with a type", param=where)


# the fields ``_validate_options`` reads: a body without any of them passes it
_OPTIONS = frozenset({"tool_choice", "reasoning", "text", "previous_response_id", "parallel_tool_calls"})
# the fields ``_validate_fields`` reads: a body without any of them passes it
_FIELDS = _OPTIONS | {"instructions", "tools", "max_output_tokens", "temperature", "top_p"}


def _validate_fields(body: dict[str, Any]) -> None:
    """The optional fields ``validate_responses_request`` judges after ``input``, in its order (the first error
    found is the one told): ``instructions``, ``tools``, the options (``_OPTIONS``), ``max_output_tokens``,
    ``temperature`` and ``top_p``. A body holding none of ``_FIELDS`` passes it."""
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
    if not _OPTIONS.isdisjoint(body):  # none of them: nothing to check (issue 13, session 18: ~12 calls)
        _validate_options(body)
    _max_output_tokens(body)
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise TranslationError(f"{key}: must be a number", param=key)


def _validate_options(body: dict[str, Any]) -> None:
    """The types of the optional fields the gateway reads (as OpenAI checks them; values are checked where
    they are translated)."""
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


# the fields ``_refuse_stateful`` reads: a body without any of them passes it
_STATEFUL = frozenset({"previous_response_id", "store", "conversation", "prompt", "background"})


def _refuse_stateful(body: dict[str, Any]) -> None:
    """Server-side state exists only at OpenAI: refuse what a translated route cannot honour."""
    if body.get("previous_response_id") is not None:
        raise TranslationError(
            "previous_response_id is not supported for this model: the gateway keeps no responses. "
            "Send the whole conversation in `input` (with store: false) instead.",
            param="previous_response_id",
        )
    if body.get("store") is True:
        raise TranslationError(
            "store: true is not supported for this model: the gateway does not store responses. "
            "Send store: false (and the whole conversation in `input`).",
            param="store",
        )
    for key, what in (("conversation", "conversations"), ("prompt", "stored prompt templates")):
        if body.get(key) is not None:
            raise TranslationError(f"{key}: {what} are not supported for this model", param=key)
    if body.get("background") is True:
        raise TranslationError(
            "background: background responses are not supported for this model", "background"
        )


def _max_output_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_output_tokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TranslationError("max_output_tokens: must be a positive integer", param="max_output_tokens")
    return value


# ---------------------------------------------------------------------------------------------------
def hosted_item(kind: str) -> bool:
    """Whether an input item's ``type`` names a hosted tool's item (OpenAI's Responses API reference, "Input
    items": ``web_search_call``, ``file_search_call``, ``computer_call`` / ``computer_call_output``,
    ``image_generation_call``, ``code_interpreter_call``, ``local_shell_call`` / ``_output``, ``shell_call``,
    ``apply_patch_call``, ``tool_search_call`` / ``tool_search_output``, ``mcp_list_tools``, ``mcp_call``,
    ``mcp_approval_request`` / ``_response``): by its shape, so that a hosted tool added later is still
    dropped, not refused, while a misspelt or made-up type (``mesage``, ``bogus``) is a 400 rather than an
    item silently lost."""
    return kind.endswith(("_call", "_output")) or kind.startswith("mcp_")


# Input items → a neutral transcript


@dataclass(frozen=True)
class _User:
    parts: list[dict[str, Any]]  # chat-shaped content parts (text, image_url, file)
    path: str = "input"  # the input item the parts came from, for error messages


@dataclass(frozen=True)
class _Text:
    text: str  # assistant text


@dataclass(frozen=True)
class _Thinking:
    block: dict[str, Any]  # an Anthropic thinking / redacted_thinking block the gateway made


@dataclass(frozen=True)
class _Call:
    call_id: str
    name: str  # the client's tool name (namespace members: "NS:N")
    arguments: str  # JSON text (a custom tool's raw input travels as {"input": text})
    signature: str | None = None  # Gemini's signature the client carried in its call_id (``_call_signature``)


@dataclass(frozen=True)
class _Result:
    call_id: str
    parts: list[dict[str, Any]]  # chat-shaped parts: text and image_url
    is_error: bool = False
    path: str = "input"


@dataclass(frozen=True)
class _Reasoning:
    text: (
        str  # a reasoning item's text (its reasoning_text parts, else its summary) that is no thinking block
    )


_Entry = _User | _Text | _Thinking | _Reasoning | _Call | _Result


@dataclass
class _Transcript:
    system: list[str] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)
    compaction: bool = False


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _image_part(part: dict[str, Any], path: str) -> dict[str, Any]:
    if part.get("file_id") is not None:
        raise TranslationError(
            f"{path}.file_id: uploaded files cannot be sent to this model; send the image as a URL or a "
            "base64 data URL",
            param=f"{path}.file_id",
        )
    url = part.get("image_url")
    url = url if isinstance(url, str) else as_dict(url).get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
        raise TranslationError(
            f"{path}.image_url: an http(s) URL or a base64 data URL is required", param=f"{path}.image_url"
        )
    image: dict[str, Any] = {"url": url}
    if part.get("detail") in ("low", "high"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: dict[str, Any], path: str) -> dict[str, Any]:
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        raise TranslationError(
            f"{path}: files can be sent to this model only inline, as file_data", param=f"{path}.file_data"
        )
    filename = part.get("filename") if isinstance(part.get("filename"), str) else "document.pdf"
    return {"type": "file", "file": {"filename": filename, "file_data": data}}


def _parts(content: Any, path: str) -> list[dict[str, Any]]:
    """Responses content (a string or a list of parts) → chat-shaped parts."""
    if isinstance(content, str):
        return [_text_part(content)] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(as_list(content)):
        part, where = as_dict(part), f"{path}[{j}]"
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "refusal", "summary_text"):
            text = part.get("refusal") if kind == "refusal" else part.get("text")
            if isinstance(text, str) and text:
                parts.append(_text_part(text))
        elif kind == "input_image":
            parts.append(_image_part(part, where))
        elif kind == "input_file":
            parts.append(_file_part(part, where))
        elif kind == "input_audio":
            raise TranslationError(f"{where}: audio input is not supported by this model", param=where)
    return parts


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = (as_dict(p) for p in as_list(content))
    return "\n\n".join(p["text"] for p in parts if isinstance(p.get("text"), str) and p["text"])


def _output_parts(output: Any, path: str) -> tuple[list[dict[str, Any]], bool]:
    """A tool output (string, list of parts, or Codex's legacy ``{content, success}``) → parts, is_error."""
    if isinstance(output, dict):
        text = output.get("content", output.get("output", ""))
        return _parts(text if isinstance(text, (str, list)) else orjson.dumps(text).decode(), path), (
            output.get("success") is False
        )
    if isinstance(output, (str, list)):
        return _parts(output, path), False
    return ([_text_part(orjson.dumps(output).decode())] if output is not None else []), False


def _signed_call_id(item: dict[str, Any], path: str) -> tuple[str, str | None]:
    """An item's ``call_id`` and the signature the gateway folded into it, if any (``_call_signature``)."""
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{path}.call_id: Field required", param=f"{path}.call_id")
    return split_id(call_id)


def _call_id(item: dict[str, Any], path: str) -> str:
    return _signed_call_id(item, path)[0]


def _call(item: dict[str, Any], path: str) -> _Call:
    """A ``function_call`` / ``custom_tool_call`` item; a namespace member's name becomes ``"NS:N"``."""
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{path}.name: Field required", param=f"{path}.name")
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = namespaced(namespace, name)
    if item.get("type") == "custom_tool_call":
        raw_input = item.get("input")
        arguments = orjson.dumps({"input": raw_input if isinstance(raw_input, str) else ""}).decode()
    else:
        args = item.get("arguments")
        if isinstance(args, str) and args.strip() not in ("", "null"):
            arguments = args
        else:
            # "", whitespace, "null", null or missing: a call without parameters, "{}" (OpenAI's contract,
            # arguments is a JSON-encoded object; api-conformance.md §1.7): a chat upstream (vLLM's templates
            # json.loads it) is never sent "" (s14 variant 01-e)
            arguments = orjson.dumps(args if isinstance(args, dict) else {}).decode()
    call_id, signature = _signed_call_id(item, path)
    return _Call(call_id, name, arguments, signature)


def _compaction_summary(item: dict[str, Any], path: str) -> str:
    summary = decode_compaction(item.get("encrypted_content"))
    if summary is None:
        raise TranslationError(
            f"{path}: this compaction item was made by OpenAI and only OpenAI models can read it. Continue "
            "this conversation on an OpenAI model, or start a new session for this model.",
            param=f"{path}.encrypted_content",
        )
    return summary


def _transcript(body: dict[str, Any]) -> _Transcript:
    out = _Transcript()
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        out.system.append(body["instructions"])
    raw = body.get("input")
    items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else as_list(raw)
    for i, item in enumerate(items):
        item, path = as_dict(item), f"input[{i}]"
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            _message(item, path, out)
        elif kind in ("function_call", "custom_tool_call"):
            out.entries.append(_call(item, path))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            parts, is_error = _output_parts(item.get("output"), f"{path}.output")
            out.entries.append(_Result(_call_id(item, path), parts, is_error, f"{path}.output"))
        elif kind == "reasoning":
            block = decode_thinking(item.get("encrypted_content"))
            if block is not None:
                out.entries.append(_Thinking(block))
            elif text := _reasoning_text(item):
                out.entries.append(_Reasoning(text))
        elif kind in ("compaction", "compaction_summary"):
            summary = _compaction_summary(item, path)
            out.entries.append(_User([_text_part(f"{COMPACTION_PREAMBLE}\n\n{summary}")]))
        elif kind == "compaction_trigger":
            out.compaction = True
        elif kind == "item_reference":
            raise TranslationError(
                f"{path}: item references need stored responses, which this model does not have; send the "
                "items themselves",
                param=f"{path}.id",
            )
        elif type(kind) is not str or not hosted_item(kind):  # a type that is no string is no item either
            raise TranslationError(
                f"{path}.type: unknown input item type {kind!r} (expected 'message', 'function_call', "
                "'function_call_output', 'custom_tool_call', 'custom_tool_call_output', 'reasoning', "
                "'compaction' or a hosted tool's item)",
                param=f"{path}.type",
            )
        # Anything else (web_search_call, tool_search_call/output, image_generation_call, local_shell_call,
        # mcp items, …) belongs to a hosted tool that is not offered upstream: dropped.
    if out.compaction:
        out.entries.append(_User([_text_part(COMPACTION_INSTRUCTION)]))
    return out


def _reasoning_text(item: dict[str, Any]) -> str:
    """A reasoning item's text: its ``reasoning_text`` content parts, else its ``summary_text`` parts, joined."""
    for key, kind in (("content", "reasoning_text"), ("summary", "summary_text")):
        parts = [as_dict(p) for p in as_list(item.get(key))]
        text = "".join(p["text"] for p in parts if p.get("type") == kind and isinstance(p.get("text"), str))
        if text:
            return text
    return ""


def _message(item: dict[str, Any], path: str, out: _Transcript) -> None:
    role = item.get("role")
    content = item.get("content")
    if role in ("system", "developer"):
        text = _plain_text(content)
        if text:
            out.system.append(text)
    elif role == "user":
        parts = _parts(content, f"{path}.content")
        if parts:
            out.entries.append(_User(parts, path))  # Anthropic's converter adds ".content.<j>"
    elif role == "assistant":
        text = "".join(p["text"] for p in _parts(content, f"{path}.content") if p["type"] == "text")
        if text:
            out.entries.append(_Text(text))
    else:
        raise TranslationError(f"{path}.role: unexpected role {role!r}", param=f"{path}.role")


def _unique_ids(entries: list[_Entry]) -> list[_Entry]:
    """Entries where every call has its own id, and each result names the call it answers.

    Some chat models number their calls per answer (``call_0``, ``functions.read:0``), so one id can
    come back in several turns; a result answers the latest call with its id. Upstream APIs want ids
    unique in a request, so a repeated id gets a suffix. A result before any call with its id is dropped.
    """
    latest: dict[str, str] = {}  # client call id → the id its latest call got
    taken: set[str] = set()
    out: list[_Entry] = []
    for entry in entries:
        if isinstance(entry, _Call):
            call_id, n = entry.call_id, 1
            while call_id in taken:
                n += 1
                call_id = f"{entry.call_id}_{n}"
            taken.add(call_id)
            latest[entry.call_id] = call_id
            out.append(replace(entry, call_id=call_id))
        elif isinstance(entry, _Result):
            if entry.call_id in latest:
                out.append(replace(entry, call_id=latest[entry.call_id]))
        else:
            out.append(entry)
    return out


def _ordered(entries: list[_Entry]) -> list[_Entry]:
    """Entries with every call's result right after the assistant turn that made it.

    A result closes the assistant turn before it (each Responses output is one upstream turn); a call
    without a result gets a placeholder (chat and Anthropic both refuse unanswered calls); a result
    without a call, or a second result for the same call, is dropped.
    """
    entries = _unique_ids(entries)
    results: dict[str, _Result] = {}
    for entry in entries:
        if isinstance(entry, _Result):
            results.setdefault(entry.call_id, entry)
    out: list[_Entry] = []
    pending: list[str] = []

    def close_turn() -> None:
        for call_id in pending:
            out.append(results.get(call_id) or _Result(call_id, [_text_part(MISSING_OUTPUT)]))
        pending.clear()

    for entry in entries:
        if isinstance(entry, (_Result, _User)):
            close_turn()
            if isinstance(entry, _Result):
                continue
        elif isinstance(entry, _Call):
            pending.append(entry.call_id)
        out.append(entry)
    close_turn()
    return out


def _without_reasoning(entries: list[_Entry]) -> list[_Entry]:
    """``entries`` less the reasoning items that are no thinking block (for a target that cannot take them)."""
    return [e for e in entries if not isinstance(e, _Reasoning)]


def _turns(entries: list[_Entry]) -> Iterator[tuple[str, list[_Entry]]]:
    """Ordered entries grouped into runs: ("assistant", text/thinking/calls) and ("user", user/results)."""
    role, run = "", list[_Entry]()
    for entry in entries:
        entry_role = "user" if isinstance(entry, (_User, _Result)) else "assistant"
        if entry_role != role and run:
            yield role, run
            run = []
        role = entry_role
        run.append(entry)
    if run:
        yield role, run


# ---------------------------------------------------------------------------------------------------
# Tools


@dataclass(frozen=True)
class _Tool:
    name: str  # the client's name ("NS:N" for a namespace member)
    description: str | None
    parameters: dict[str, Any]
    strict: bool = False


def _custom_tool_parameters() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "The raw text the tool takes."}},
        "required": ["input"],
        "additionalProperties": False,
    }


def _custom_description(tool: dict[str, Any]) -> str:
    """The description of a free-form tool, with what the model must know to call it as a function."""
    base = tool.get("description") if isinstance(tool.get("description"), str) else ""
    note = (
        "Here this tool is called as a function: pass the raw text as its one string argument, `input`. "
        "The text reaches the tool verbatim, so apart from that argument's JSON string encoding do not "
        "wrap, quote or escape it."
    )
    fmt = as_dict(tool.get("format"))
    definition = fmt.get("definition")
    if fmt.get("type") == "grammar" and isinstance(definition, str) and definition.strip():
        syntax = fmt.get("syntax") if fmt.get("syntax") in ("lark", "regex") else "lark"
        kind = "Lark grammar" if syntax == "lark" else "regular expression"
        note += f" The text must match this {kind} exactly:\n```\n{definition.strip()}\n```"
    return f"{base}\n\n{note}" if base else note


def _function_tool(tool: dict[str, Any], name: str, extra: str = "") -> _Tool:
    schema = dict(as_dict(tool.get("parameters"))) or {"type": "object", "properties": {}}
    schema.setdefault("type", "object")
    description = tool.get("description") if isinstance(tool.get("description"), str) else None
    if extra:
        description = f"{description}\n\n{extra}" if description else extra
    return _Tool(name, description, schema, tool.get("strict") is True)


def _tool_name(tool: dict[str, Any], path: str) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{path}.name: Field required", param=f"{path}.name")
    return name


def _tools(raw: Any) -> tuple[list[_Tool], set[str]]:
    """The function-callable tools (custom and namespace members flattened), and the custom tools' names."""
    tools: list[_Tool] = []
    custom: set[str] = set()
    for i, tool in enumerate(as_list(raw)):
        tool, path = as_dict(tool), f"tools[{i}]"
        kind = tool.get("type")
        if kind == "function":
            tools.append(_function_tool(tool, _tool_name(tool, path)))
        elif kind == "custom":
            name = _tool_name(tool, path)
            tools.append(_Tool(name, _custom_description(tool), _custom_tool_parameters()))
            custom.add(name)
        elif kind == "namespace":
            namespace = _tool_name(tool, path)
            about = tool.get("description") if isinstance(tool.get("description"), str) else ""
            extra = f"(Part of the `{namespace}` tools{': ' + about if about else ''}.)"
            for j, member in enumerate(as_list(tool.get("tools"))):
                member, where = as_dict(member), f"{path}.tools[{j}]"
                if member.get("type", "function") == "function":
                    name = namespaced(namespace, _tool_name(member, where))
                    tools.append(_function_tool(member, name, extra))
        # Hosted tools (web_search*, tool_search, file_search, code_interpreter, computer_use, mcp,
        # image_generation, local_shell, …) run at OpenAI only: dropped, never turned into empty functions.
    return tools, custom


@dataclass(frozen=True)
class _Choice:
    mode: str  # "auto" | "none" | "required" | "tool"
    name: str | None = None  # the client's tool name when mode == "tool"
    allowed: frozenset[str] | None = None  # client names when the client restricted the tools


def _choice_name(name: Any, tools: list[_Tool]) -> str | None:
    """The client tool name a tool_choice refers to (a bare namespace member name is looked up)."""
    if not isinstance(name, str):
        return None
    names = [t.name for t in tools]
    if name in names:
        return name
    members = [n for n in names if n.rpartition(":")[2] == name]
    return members[0] if len(members) == 1 else None


_AUTO = _Choice("auto")  # no tool_choice: the model chooses


def _tool_choice(raw: Any, tools: list[_Tool]) -> _Choice:
    if raw in ("auto", "none", "required"):
        return _Choice(str(raw))
    choice = as_dict(raw)
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name = _choice_name(choice.get("name"), tools)
        return _Choice("tool", name) if name else _Choice("auto")
    if kind == "allowed_tools":
        allowed = {_choice_name(as_dict(t).get("name"), tools) for t in as_list(choice.get("tools"))}
        names = frozenset(n for n in allowed if n)
        return _Choice("required" if choice.get("mode") == "required" else "auto", allowed=names)
    return _Choice("auto")  # a hosted tool, or nothing: the model chooses


# ---------------------------------------------------------------------------------------------------
# Shared field helpers


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    return [stop] if isinstance(stop, str) else [s for s in as_list(stop) if isinstance(s, str)]


def _user_id(body: dict[str, Any]) -> str | None:
    for key in ("safety_identifier", "user"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    return None


def _effort(body: dict[str, Any]) -> str | None:
    effort = as_dict(body.get("reasoning")).get("effort")
    if effort is None or effort == "none":
        return None
    if effort not in EFFORTS:
        raise TranslationError(f"reasoning.effort: unsupported value {effort!r}", param="reasoning.effort")
    return str(effort)


def _text_format(body: dict[str, Any]) -> dict[str, Any]:
    return as_dict(as_dict(body.get("text")).get("format"))


def _prepare(body: dict[str, Any], validated: bool) -> tuple[_Transcript, list[_Tool], set[str], _Choice]:
    if not validated:
        validate_responses_request(body)
    # An optional field the body does not hold (or holds empty) adds nothing: its step is skipped without
    # its call then (issue 13, session 18; tests/unit/dialects/test_request_path18.py compares the output
    # with the code before, byte for byte).
    if body.keys() & _STATEFUL:
        _refuse_stateful(body)
    transcript = _transcript(body)
    raw_tools, raw_choice = body.get("tools"), body.get("tool_choice")
    tools, custom = _tools(raw_tools) if raw_tools else ([], set())
    choice = _AUTO if raw_choice is None else _tool_choice(raw_choice, tools)
    if choice.allowed is not None:
        tools = [t for t in tools if t.name in choice.allowed]
    if transcript.compaction:
        choice = _Choice("none")  # the summary is text; tools stay declared so the cached prefix holds
    return transcript, tools, custom, choice


# ---------------------------------------------------------------------------------------------------
# → Chat Completions


def _chat_id(call_id: str) -> str:
    if len(call_id) <= _CHAT_ID_MAX:
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[: _CHAT_ID_MAX - 5]


def _chat_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and parts[0]["type"] == "text":
        return str(parts[0]["text"])
    return parts


def _chat_assistant(
    run: list[_Entry], names: ToolNamer, signatures: bool = False, claude: str = ""
) -> list[dict[str, Any]]:
    """One assistant message (or none); the run's ``_Reasoning`` (kept only for a target that takes it,
    ``_chat_messages``) goes back as its ``reasoning_content``. ``signatures``: the target takes Gemini's
    thought signatures (``Target.thought_signatures``): a call's goes back onto it; otherwise it is dropped.
    ``claude``: Claude on OpenRouter or behind LiteLLM (``Target.claude_field``): the run's Claude-signed thinking
    (reasoning items the gateway made from it) goes back in that field (``_claude_details.signed_back``)."""
    texts = [e.text for e in run if isinstance(e, _Text)]
    thought = "".join(e.text for e in run if isinstance(e, _Reasoning))
    calls = [_chat_call(e, names, signatures) for e in run if isinstance(e, _Call)]
    if not texts and not calls:
        return []  # only thinking: nothing a chat model can take back
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    if thought:
        message["reasoning_content"] = thought
    if claude:
        message.update(signed_back([e.block for e in run if isinstance(e, _Thinking)], claude))
    return [message]


def _chat_call(call: _Call, names: ToolNamer, signatures: bool) -> dict[str, Any]:
    function = {"name": names.upstream(call.name), "arguments": call.arguments}
    out: dict[str, Any] = {"id": _chat_id(call.call_id), "type": "function", "function": function}
    if signatures and call.signature is not None:
        out["extra_content"] = chat_extra(call.signature)
    return out


def _chat_user(run: list[_Entry]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []  # chat tool messages hold text only: images follow as a user message
    parts: list[dict[str, Any]] = []
    for entry in run:
        if isinstance(entry, _Result):
            text = "\n".join(p["text"] for p in entry.parts if p["type"] == "text")
            images += [p for p in entry.parts if p["type"] != "text"]
            content = f"Error: {text}" if entry.is_error else text
            messages.append({"role": "tool", "tool_call_id": _chat_id(entry.call_id), "content": content})
        elif isinstance(entry, _User):
            parts += entry.parts
    if images or parts:
        messages.append({"role": "user", "content": _chat_content(images + parts)})
    return messages


def _chat_tool(tool: _Tool, names: ToolNamer) -> dict[str, Any]:
    function: dict[str, Any] = {"name": names.upstream(tool.name)}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    if tool.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: _Choice, names: ToolNamer) -> Any:
    if choice.mode == "tool" and choice.name:
        return {"type": "function", "function": {"name": names.upstream(choice.name)}}
    return choice.mode


def _chat_reasoning(effort: str | None, target: Target, out: dict[str, Any]) -> None:
    if effort is None:
        return
    if target.reasoning == "reasoning_effort":
        # OpenAI itself takes every Responses level; other chat APIs know low/medium/high only.
        openai_like = target.max_tokens_field == "max_completion_tokens"
        out["reasoning_effort"] = effort if openai_like else _three_levels(effort)
    elif target.reasoning == "openrouter":
        out["reasoning"] = {"effort": _three_levels(effort)}


def _three_levels(effort: str) -> str:
    return {"minimal": "low", "xhigh": "high"}.get(effort, effort)


def _chat_format(body: dict[str, Any], out: dict[str, Any]) -> None:
    fmt = _text_format(body)
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        name = fmt.get("name") if isinstance(fmt.get("name"), str) and fmt.get("name") else "output"
        schema: dict[str, Any] = {"name": name, "schema": fmt["schema"]}
        if isinstance(fmt.get("strict"), bool):
            schema["strict"] = fmt["strict"]
        if isinstance(fmt.get("description"), str):
            schema["description"] = fmt["description"]
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}


def _chat_messages(
    transcript: _Transcript,
    names: ToolNamer,
    reasoning: bool = False,
    signatures: bool = False,
    claude: str = "",
) -> list[dict[str, Any]]:
    """Chat messages of the transcript. ``reasoning``: the target takes reasoning items back as
    ``reasoning_content`` (``Target.reasoning_content``); else they are dropped. ``signatures``, ``claude``: as
    ``_chat_assistant``'s."""
    messages: list[dict[str, Any]] = []
    if transcript.system:
        messages.append({"role": "system", "content": "\n\n".join(transcript.system)})
    entries = transcript.entries if reasoning else _without_reasoning(transcript.entries)
    for role, run in _turns(_ordered(entries)):
        messages += (
            _chat_assistant(run, names, signatures, claude) if role == "assistant" else _chat_user(run)
        )
    first = next((m for m in messages if m["role"] != "system"), None)
    if first is None or first["role"] != "user":
        # Many chat models (and Anthropic behind OpenRouter) need the conversation to open with a user turn.
        messages.insert(1 if transcript.system else 0, {"role": "user", "content": OPENING})
    return messages


def _chat_extras(body: dict[str, Any], target: Target, out: dict[str, Any]) -> None:
    stops = _stops(body)
    if stops:
        out["stop"] = stops[:MAX_STOP_SEQUENCES]
    user = _user_id(body)
    if user:
        out["user"] = user
    cache_key = body.get("prompt_cache_key")
    if isinstance(cache_key, str) and cache_key and target.prompt_cache_key:
        out["prompt_cache_key"] = cache_key


def responses_to_chat(
    body: dict[str, Any], target: Target, session: Session = NO_SESSION, *, validated: bool = False
) -> TranslatedRequest:
    """A Responses request body → a Chat Completions body for ``target`` (see the module docstring).

    ``validated``: the body already passed ``validate_responses_request`` (``registry.PAIRS`` says so: the
    gateway runs the client format's ``parse`` before any translation), so it is not checked twice.

    ``prompt_cache_key`` is kept for targets that take it (OpenAI); other chat providers cache by prefix on
    their own, except Anthropic models over the chat format (``target.cache_markers``), which get cache
    breakpoints on content parts. A ``call_id`` carrying Gemini's thought signature (``_call_signature``) goes as
    its plain id, the signature on the call for a target that takes it (``target.thought_signatures``) and dropped
    for others. Claude's signed thinking (reasoning items the gateway made from it) goes back as
    ``reasoning_details`` to Claude on OpenRouter (``target.claude_details``). Raises TranslationError for what
    cannot be sent.
    """
    transcript, tools, custom, choice = _prepare(body, validated)
    names = ToolNamer()
    chat_tools = [_chat_tool(t, names) for t in tools]  # first, so the definitions claim their names
    messages = _chat_messages(
        transcript, names, target.reasoning_content, target.thought_signatures, target.claude_field
    )
    out: dict[str, Any] = {"model": target.model, "messages": messages}
    limit = _max_output_tokens(body)
    if limit is not None:
        out[target.max_tokens_field] = clamp_tokens(limit, target)
    if chat_tools:
        out["tools"] = chat_tools
        if choice.mode != "auto" or choice.allowed is not None:
            out["tool_choice"] = _chat_tool_choice(choice, names)
        if isinstance(body.get("parallel_tool_calls"), bool) and choice.mode != "none":
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    _sampling(body, target, out)
    _chat_reasoning(_effort(body), target, out)
    if not transcript.compaction:
        _chat_format(body, out)
    _chat_extras(body, target, out)
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # the gateway needs usage for cost, always
    if target.cache_markers:
        place_chat_breakpoints(out)  # a Claude model over the chat format caches only what is marked
    return TranslatedRequest(
        body=out,
        tool_names=dict(names.to_client),
        custom_tools=frozenset(custom),
        compaction=transcript.compaction,
    )


# ---------------------------------------------------------------------------------------------------
# → Anthropic Messages


def _anthropic_assistant(run: list[_Entry], names: ToolNamer, thinking: bool) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for entry in run:
        if isinstance(entry, _Thinking) and thinking:
            blocks.append(dict(entry.block))
        elif isinstance(entry, _Text):
            blocks.append({"type": "text", "text": entry.text})
        elif isinstance(entry, _Call):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": _tool_id(entry.call_id, "call"),
                    "name": names.upstream(entry.name),
                    "input": parse_arguments(entry.arguments),
                }
            )
    return blocks


def _anthropic_user(run: list[_Entry]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for entry in run:
        if isinstance(entry, _Result):
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(entry.call_id, "call")}
            content = _user_blocks(entry.parts, entry.path)
            if content:
                result["content"] = content
            if entry.is_error:
                result["is_error"] = True
            blocks.append(result)
        elif isinstance(entry, _User):
            blocks += _user_blocks(entry.parts, entry.path)
    return blocks


def _keeps_thinking(entries: list[_Entry]) -> bool:
    """False when thinking must be off: the last assistant turn called tools but starts with no thinking.

    Anthropic requires the assistant turn of an unfinished tool loop to start with its thinking block when
    thinking is on; a turn made by another model (or before thinking was on) has none to give back.
    """
    last: list[_Entry] = []
    for role, run in _turns(entries):
        if role == "assistant":
            last = run
    if not any(isinstance(e, _Call) for e in last):
        return True
    return isinstance(last[0], _Thinking)


def _anthropic_tool(tool: _Tool, names: ToolNamer) -> dict[str, Any]:
    out: dict[str, Any] = {"name": names.upstream(tool.name), "input_schema": tool.parameters}
    if tool.description:
        out["description"] = tool.description
    if tool.strict:
        out["strict"] = True
    return out


def _anthropic_tool_choice(choice: _Choice, names: ToolNamer, body: dict[str, Any], thinking: bool) -> Any:
    kind = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[choice.mode]
    if thinking and kind in ("any", "tool"):
        kind = "auto"  # Anthropic refuses forced tool use while thinking; letting the model choose is closest
    out: dict[str, Any] = {"type": kind}
    if kind == "tool" and choice.name:
        out["name"] = names.upstream(choice.name)
    if body.get("parallel_tool_calls") is False and kind != "none":
        out["disable_parallel_tool_use"] = True
    return out if out != {"type": "auto"} else None


def _anthropic_turns(entries: list[_Entry], names: ToolNamer, thinking: bool) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for role, run in _turns(entries):
        if role == "assistant":
            _append(turns, "assistant", _anthropic_assistant(run, names, thinking))
        else:
            _append(turns, "user", _anthropic_user(run))
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": OPENING}]})
    return turns


def _anthropic_format(fmt: dict[str, Any], out: dict[str, Any], system: list[str]) -> None:
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        output_format = {"type": "json_schema", "schema": fmt["schema"]}
        out["output_config"] = {**as_dict(out.get("output_config")), "format": output_format}
    elif fmt.get("type") == "json_object":
        system.append(_JSON_OBJECT_INSTRUCTION)  # Anthropic has no JSON mode without a schema


def _anthropic_extras(body: dict[str, Any], out: dict[str, Any]) -> None:
    stops = _stops(body) if "stop" in body else None
    if stops:
        out["stop_sequences"] = stops
    user = _user_id(body)
    if user:
        out["metadata"] = {"user_id": user}
    if body.get("stream") is True:
        out["stream"] = True


def responses_to_anthropic(
    body: dict[str, Any], target: Target, session: Session = NO_SESSION, *, validated: bool = False
) -> TranslatedRequest:
    """A Responses request body → an Anthropic Messages body for ``target`` (see the module docstring).

    ``max_tokens`` is always set (``max_output_tokens`` or the target's default, clamped); reasoning
    effort becomes thinking as in ``chat_to_anthropic``; thinking blocks the gateway produced go back with
    their signatures; ``prompt_cache_key`` becomes cache breakpoints (system, tools, last user turns).
    ``validated`` as in ``responses_to_chat``.
    """
    if type(body.get("input")) is str and body.keys() <= _PLAIN_KEYS and body.get("store") is not True:
        if not validated:
            validate_responses_request(body)
        return _plain_to_anthropic(body, target)
    transcript, tools, custom, choice = _prepare(body, validated)
    names = ToolNamer()
    anthropic_tools = [_anthropic_tool(t, names) for t in tools]
    limit = _max_output_tokens(body)
    out: dict[str, Any] = {
        "model": target.model,
        "max_tokens": clamp_tokens(limit if limit is not None else target.default_max_tokens, target),
    }
    effort = _effort(body) if "reasoning" in body else None
    entries = _ordered(_without_reasoning(transcript.entries))
    room = 0  # max_tokens raised for the thinking sent (``_add_thinking``)
    if effort is not None:
        keep = effort == "none" or _keeps_thinking(entries)
        room = _add_thinking({"reasoning_effort": effort}, target, out, limit is None, keep)
    thinking = "thinking" in out
    out["messages"] = tool_ids_one_to_one(_anthropic_turns(entries, names, thinking))
    system = list(transcript.system)
    if not transcript.compaction and "text" in body:
        _anthropic_format(_text_format(body), out, system)
    if system:
        out["system"] = [{"type": "text", "text": "\n\n".join(system)}]
    if "temperature" in body or "top_p" in body:
        _add_sampling(body, out)
    if anthropic_tools:
        out["tools"] = anthropic_tools
        tool_choice = _anthropic_tool_choice(choice, names, body, thinking)
        if tool_choice:
            out["tool_choice"] = tool_choice
    _anthropic_extras(body, out)
    # every block, tool and field of ``out`` is made here, none copied from the client's: no marker of its own
    place_unmarked_breakpoints(out)
    return TranslatedRequest(
        body=out,
        tool_names=dict(names.to_client),
        custom_tools=frozenset(custom),
        compaction=transcript.compaction,
        thinking_room=room,
    )


# The fields of a plain Responses request (a string ``input``, at most ``instructions`` and a token limit;
# the openai SDK's ``responses.create(model=…, input="…")``) that ``_plain_to_anthropic`` writes, and those
# ``responses_to_anthropic`` drops for Anthropic whatever their value (the module docstring's "Dropped").
# ``store`` is one of them unless it is ``true`` (refused: ``_refuse_stateful``).
_PLAIN_KEYS = frozenset(
    {"model", "input", "stream", "instructions", "max_output_tokens"}
    | {"store", "include", "metadata", "service_tier", "truncation", "stream_options", "client_metadata"}
    | {"prompt_cache_key"}
)


def _plain_to_anthropic(body: dict[str, Any], target: Target) -> TranslatedRequest:
    """``responses_to_anthropic`` of a validated plain request (``_PLAIN_KEYS``, a string ``input``, ``store``
    not true), written directly: the same body, key order and markers as the general path (its transcript,
    turns and ``place_anthropic_breakpoints``, which finds no client marker in a body made only of these
    fields) at a fraction of the calls (issue 13, session 23: the bench's Responses → Anthropic request;
    tests/unit/dialects/test_plain_responses23.py compares the two on random plain bodies).

    The body: ``model``, ``max_tokens`` (``max_output_tokens`` or the target's default, clamped), one user
    turn with the input as a text block (``OPENING`` for an empty input: a conversation opens with a user
    turn), ``system`` (the instructions, when not empty), ``stream`` when true; the cache breakpoints on the
    system block and on the user turn's block (Anthropic prompt caching: at most four, system and the last
    two user turns). Raises ``TranslationError`` for an invalid ``max_output_tokens``.

    ``_max_output_tokens`` is called only when the body holds a limit, and ``clamp_tokens``'s rule is written
    here (issue 13, session 35: two code objects fewer on the usual request; test_plain_responses23.py)."""
    limit: int = target.default_max_tokens
    if body.get("max_output_tokens") is not None:
        limit = _max_output_tokens(body) or limit  # (not None here: an int of at least 1, or it raised)
    ceiling = target.max_output_tokens
    out: dict[str, Any] = {"model": target.model, "max_tokens": min(limit, ceiling) if ceiling else limit}
    text = body["input"] or OPENING
    out["messages"] = [
        {"role": "user", "content": [{"type": "text", "text": text, "cache_control": dict(EPHEMERAL)}]}
    ]
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        out["system"] = [{"type": "text", "text": instructions, "cache_control": dict(EPHEMERAL)}]
    if body.get("stream") is True:
        out["stream"] = True
    return TranslatedRequest(body=out, unminted=True)  # text blocks only, no ``thinking``: nothing to strip


# ---------------------------------------------------------------------------------------------------
# POST /v1/responses/compact


def compact_to_responses(body: dict[str, Any]) -> dict[str, Any]:
    """A ``POST /v1/responses/compact`` body → a ``/v1/responses`` body ending with a compaction trigger.

    Codex's compact request is ``{model, input, instructions, tools, parallel_tool_calls, reasoning?,
    text?}`` (codex-rs ``CompactionInput``); it wants one JSON answer whose ``output`` holds the
    ``compaction`` item, so the result is non-streamed, with ``store: false``. Any trigger the client
    already put in ``input`` is moved to the end (OpenAI accepts it only as the last item).
    """
    out = {k: v for k, v in body.items() if k not in ("stream", "stream_options", "store", "background")}
    raw = body.get("input")
    if isinstance(raw, str):
        items: list[Any] = [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw}]}
        ]
    else:
        items = [i for i in as_list(raw) if as_dict(i).get("type") != "compaction_trigger"]
    out["input"] = [*items, {"type": "compaction_trigger"}]
    out["store"] = False
    out["stream"] = False
    return out
