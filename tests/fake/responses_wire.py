"""OpenAI Responses wire shapes (conformance doc §4): the ``response`` object, its SSE events, compaction.

A stream is what OpenAI sends: every frame has an ``event:`` line equal to ``data.type`` and a
``sequence_number`` counting from 0; ``response.created`` and ``response.in_progress`` open it; each
output item has ``response.output_item.added`` … its deltas … ``response.output_item.done`` with the
complete item; ``response.completed`` (or ``response.incomplete`` after ``max_output_tokens``) closes
it with usage. Reasoning items carry a summary and, when the request includes
``reasoning.encrypted_content``, an opaque ``encrypted_content`` that a client must send back unchanged.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fake.conversation import Reply, Usage, fragments, pieces
from tests.fake.frames import Frame, Meta, event_frame

ENCRYPTED_INCLUDE = "reasoning.encrypted_content"


@dataclass(frozen=True, slots=True)
class Options:
    """What the request asked for that shapes the answer (echoed in the ``response`` object)."""

    encrypted_reasoning: bool  # ``include`` holds ``reasoning.encrypted_content``
    echo: dict[str, Any]  # request fields the response object repeats (tools, instructions, …)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Options:
        include = body.get("include") or []
        reasoning = body.get("reasoning") or {}
        text = body.get("text") or {}
        echo = {
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "store": body.get("store", True),
            "background": body.get("background") is True,
            "text": {
                "format": text.get("format") or {"type": "text"},
                "verbosity": text.get("verbosity", "medium"),
            },
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "metadata": body.get("metadata") or {},
        }
        return cls(ENCRYPTED_INCLUDE in include, echo)


def encrypted_content(meta: Meta, kind: str = "reasoning") -> str:
    """An opaque, deterministic blob (base64 with ``+``, ``/`` and ``=``, like OpenAI's ``gAAAA…``)."""
    seed = hashlib.sha256(f"{kind}:{meta.id}".encode()).digest()
    return "gAAAAB" + base64.b64encode(seed * 3 + b"\xfb\xff\xbf").decode()


def item_ids(meta: Meta) -> dict[str, str]:
    suffix = meta.id.removeprefix("resp_")
    return {
        "reasoning": f"rs_{suffix}",
        "message": f"msg_{suffix}",
        "function_call": f"fc_{suffix}",
        "custom_tool_call": f"ctc_{suffix}",
        "compaction": f"cmp_{suffix}",
    }


def output_items(meta: Meta, reply: Reply, options: Options) -> list[dict[str, Any]]:
    """The complete output items, in order: reasoning, message text, tool call (or one compaction item)."""
    ids = item_ids(meta)
    items: list[dict[str, Any]] = []
    if reply.compaction is not None:
        return [
            {
                "id": ids["compaction"],
                "type": "compaction",
                "encrypted_content": compaction_content(meta, reply),
            }
        ]
    if reply.thinking:
        items.append(_reasoning(ids["reasoning"], meta, options, [_summary(reply.thinking)]))
    if reply.text is not None:
        items.append(
            _message(
                ids["message"], "incomplete" if reply.truncated else "completed", [_text_part(reply.text)]
            )
        )
    if reply.tool_call is not None:
        items.append(_call(ids, reply, "completed", final=True))
    return items


def compaction_content(meta: Meta, reply: Reply) -> str:
    """The compaction item's opaque content; it decodes to the fake's summary (tests may look)."""
    return "cmpAAAA" + base64.b64encode((reply.compaction or "").encode()).decode()


def response(meta: Meta, reply: Reply, usage: Usage | None, options: Options) -> dict[str, Any]:
    """The non-streamed ``response`` object (also the payload of ``response.completed``)."""
    status = "incomplete" if reply.truncated else "completed"
    return _response_base(meta, options, status) | {
        "output": output_items(meta, reply, options),
        "usage": usage_dict(usage) if usage is not None else None,
        "incomplete_details": {"reason": "max_output_tokens"} if reply.truncated else None,
    }


def stream_frames(meta: Meta, reply: Reply, usage: Usage | None, options: Options) -> list[Frame]:
    """The whole SSE stream, with consecutive ``sequence_number``s (see the module docstring)."""
    events: list[tuple[dict[str, Any], bool]] = []  # (event, is a content delta)

    def emit(event: dict[str, Any], content: bool = False) -> None:
        events.append((event, content))

    in_progress = _response_base(meta, options, "in_progress") | {"output": [], "usage": None}
    emit({"type": "response.created", "response": in_progress})
    emit({"type": "response.in_progress", "response": in_progress})
    ids = item_ids(meta)
    index = 0
    if reply.compaction is not None:
        item = output_items(meta, reply, options)[0]
        emit({"type": "response.output_item.added", "output_index": 0, "item": item})
        emit({"type": "response.compaction.compacting", "item_id": item["id"], "output_index": 0})
        emit({"type": "response.output_item.done", "output_index": 0, "item": item}, content=True)
    if reply.thinking:
        _reasoning_events(emit, ids["reasoning"], index, meta, reply.thinking, options)
        index += 1
    if reply.text is not None:
        _message_events(emit, ids["message"], index, reply)
        index += 1
    if reply.tool_call is not None:
        _call_events(emit, ids, index, reply)
    final = response(meta, reply, usage, options)
    emit({"type": "response.incomplete" if reply.truncated else "response.completed", "response": final})
    frames = [
        event_frame({"type": e["type"], "sequence_number": n, **_without_type(e)}, content=content)
        for n, (e, content) in enumerate(events)
    ]
    return [*frames[:-1], Frame(frames[-1].data, tail=True)]


def stream_error_frame(meta: Meta, options: Options) -> Callable[[int], Frame]:
    """A mid-stream failure: ``response.failed`` with ``response.error``, numbered where it lands."""

    def frame(sequence_number: int) -> Frame:
        failed = _response_base(meta, options, "failed") | {
            "output": [],
            "usage": None,
            "error": {
                "code": "server_error",
                "message": "The server had an error while processing your request (fake).",
            },
        }
        return event_frame(
            {"type": "response.failed", "sequence_number": sequence_number, "response": failed}, tail=True
        )

    return frame


def compact_response(
    meta: Meta, reply: Reply, usage: Usage | None, user_messages: list[str]
) -> dict[str, Any]:
    """``POST /v1/responses/compact``: a ``response.compaction`` whose ``output`` is the replacement
    history: every user message, then exactly one ``compaction`` item (what Codex keeps)."""
    suffix = meta.id.removeprefix("resp_")
    messages = [
        {
            "id": f"msg_{suffix}_{n}",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        for n, text in enumerate(user_messages)
    ]
    item = {
        "id": item_ids(meta)["compaction"],
        "type": "compaction",
        "encrypted_content": compaction_content(meta, reply),
    }
    return {
        "id": meta.id,
        "object": "response.compaction",
        "created_at": meta.created,
        "output": [*messages, item],
        "usage": usage_dict(usage) if usage is not None else None,
    }


def usage_dict(usage: Usage) -> dict[str, Any]:
    """Responses usage: ``input_tokens`` includes cached ones; ``output_tokens`` includes reasoning."""
    return {
        "input_tokens": usage.prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read, "cache_write_tokens": usage.cache_write},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.prompt + usage.output,
    }


# --- items and their events -----------------------------------------------------------------


def _response_base(meta: Meta, options: Options, status: str) -> dict[str, Any]:
    return {
        "id": meta.id,
        "object": "response",
        "created_at": meta.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "max_tool_calls": None,
        "model": meta.model,
        "safety_identifier": None,
        "service_tier": "default",
        "temperature": 1.0,
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "user": None,
        **options.echo,
    }


def _reasoning(item_id: str, meta: Meta, options: Options, summary: list[dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
    if options.encrypted_reasoning:
        item["encrypted_content"] = encrypted_content(meta)
    return item


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "content": content, "role": "assistant"}


def _call(ids: dict[str, str], reply: Reply, status: str, *, final: bool) -> dict[str, Any]:
    call = reply.tool_call
    assert call is not None
    if call.custom_input is not None:
        return {
            "id": ids["custom_tool_call"],
            "type": "custom_tool_call",
            "status": status,
            "call_id": call.id,
            "input": call.custom_input if final else "",
            "name": call.name,
        }
    return {
        "id": ids["function_call"],
        "type": "function_call",
        "status": status,
        "arguments": call.arguments_json if final else "",
        "call_id": call.id,
        "name": call.name,
    }


def _reasoning_events(
    emit: Callable[..., None], item_id: str, index: int, meta: Meta, text: str, options: Options
) -> None:
    at = {"item_id": item_id, "output_index": index}
    emit(
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": _reasoning(item_id, meta, options, []),
        }
    )
    emit({"type": "response.reasoning_summary_part.added", **at, "summary_index": 0, "part": _summary("")})
    for piece in pieces(text):
        emit(
            {"type": "response.reasoning_summary_text.delta", **at, "summary_index": 0, "delta": piece},
            content=True,
        )
    emit({"type": "response.reasoning_summary_text.done", **at, "summary_index": 0, "text": text})
    emit({"type": "response.reasoning_summary_part.done", **at, "summary_index": 0, "part": _summary(text)})
    emit(
        {
            "type": "response.output_item.done",
            "output_index": index,
            "item": _reasoning(item_id, meta, options, [_summary(text)]),
        }
    )


def _message_events(emit: Callable[..., None], item_id: str, index: int, reply: Reply) -> None:
    text = reply.text or ""
    at = {"item_id": item_id, "output_index": index, "content_index": 0}
    emit(
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": _message(item_id, "in_progress", []),
        }
    )
    emit({"type": "response.content_part.added", **at, "part": _text_part("")})
    for piece in pieces(text):
        emit({"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}, content=True)
    emit({"type": "response.output_text.done", **at, "text": text, "logprobs": []})
    emit({"type": "response.content_part.done", **at, "part": _text_part(text)})
    status = "incomplete" if reply.truncated else "completed"
    emit(
        {
            "type": "response.output_item.done",
            "output_index": index,
            "item": _message(item_id, status, [_text_part(text)]),
        }
    )


def _call_events(emit: Callable[..., None], ids: dict[str, str], index: int, reply: Reply) -> None:
    call = reply.tool_call
    assert call is not None
    added = _call(ids, reply, "in_progress", final=False)
    at = {"item_id": added["id"], "output_index": index}
    emit({"type": "response.output_item.added", "output_index": index, "item": added})
    if call.custom_input is not None:
        for part in fragments(call.custom_input):
            emit({"type": "response.custom_tool_call_input.delta", **at, "delta": part}, content=True)
        emit({"type": "response.custom_tool_call_input.done", **at, "input": call.custom_input})
    else:
        for part in fragments(call.arguments_json):
            emit({"type": "response.function_call_arguments.delta", **at, "delta": part}, content=True)
        emit(
            {
                "type": "response.function_call_arguments.done",
                **at,
                "arguments": call.arguments_json,
            }
        )
    emit(
        {
            "type": "response.output_item.done",
            "output_index": index,
            "item": _call(ids, reply, "completed", final=True),
        }
    )


def _without_type(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "type"}
