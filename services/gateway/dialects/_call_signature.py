"""A provider's signature on a tool call, carried through clients that have no place for it (pure).

Gemini 3 signs the first function call of each step with an opaque thought signature and wants it back, exactly,
on the next turn (Gemini API docs, "Thought signatures": on the OpenAI-compatible endpoint it sits in
``tool_calls[].extra_content.google.thought_signature``; a history without it is a 400, and the documented dummy
``skip_thought_signature_validator`` passes but "may lead to degraded model performance"). An Anthropic Messages
client (Claude Code) or a Responses client (Codex) has no field for it, but sends a tool call's id back unchanged
on every later turn (``tool_use.id`` and ``tool_result.tool_use_id``; ``call_id`` on ``function_call`` and on its
output). So the gateway folds the signature into the id it gives those clients (``signed_id``) and unfolds it when
the conversation comes back (``split_id``): onto the call when the target takes Gemini's signatures
(``Target.thought_signatures``), dropped with the id restored everywhere else (``plain_id``; the wires'
``strip_minted``), so no other provider sees it. Prior art: BerriAI/litellm#16895 keeps it in the chat id too.

Why the id rather than a cache keyed by call id: the gateway runs several worker processes and restarts, and a
conversation comes back to any of them, maybe days later; the id travels with the conversation itself.

Format: ``<id>__ekaisig<v><text>``, ``<v>`` ``b`` when the signature is standard base64 (RFC 4648 §4; Gemini's
is a bytes field in JSON), ``<text>`` being the same characters in the URL-safe alphabet without padding (§5;
as long as the signature), or ``u`` for any other string, ``<text>`` its UTF-8 bytes in URL-safe base64 without
padding. Both alphabets are ``[A-Za-z0-9_-]``, so a signed id matches Anthropic's ``tool_use.id`` pattern
``^[a-zA-Z0-9_-]+$`` (else 400 "String should match pattern": CommandCodeAI/command-code#323) whenever ``<id>``
does. A signed id is longer than OpenAI's limits for ids it is sent back (Responses ``call_id``: 64 characters,
"string too long. Expected a string with maximum length 64", AnswerDotAI/fastllm#45; chat: 40): it is never sent
to OpenAI, only to the clients, whose SDKs (anthropic, openai) and agents take any string. An id that already
holds the marker is not signed: the split is at the first marker.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

MARK = "__ekaisig"
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
_TO_URL = str.maketrans("+/", "-_")
_FROM_URL = str.maketrans("-_", "+/")


def signed_id(call_id: str, signature: str | None) -> str:
    """``call_id`` carrying ``signature`` (module docstring's format); ``call_id`` itself when there is no
    signature, or when ``call_id`` is empty or already holds ``MARK``."""
    if not signature or not call_id or MARK in call_id:
        return call_id
    if len(signature) % 4 == 0 and _BASE64.fullmatch(signature):
        return f"{call_id}{MARK}b{signature.rstrip('=').translate(_TO_URL)}"
    text = base64.urlsafe_b64encode(signature.encode()).decode().rstrip("=")
    return f"{call_id}{MARK}u{text}"


def split_id(call_id: str) -> tuple[str, str | None]:
    """``(id, signature)`` of an id ``signed_id`` made; ``(call_id, None)`` for any other (a marker followed by
    anything ``signed_id`` does not write is not one)."""
    at = call_id.find(MARK)
    if at <= 0:
        return call_id, None
    kind, text = call_id[at + len(MARK) : at + len(MARK) + 1], call_id[at + len(MARK) + 1 :]
    if not _URLSAFE.fullmatch(text) or len(text) % 4 == 1:  # (no base64 text is 1 past a multiple of 4)
        return call_id, None
    padded = text + "=" * (-len(text) % 4)
    if kind == "b":
        return call_id[:at], padded.translate(_FROM_URL)
    if kind == "u":
        try:
            return call_id[:at], base64.urlsafe_b64decode(padded).decode()
        except (binascii.Error, UnicodeDecodeError):
            return call_id, None
    return call_id, None


def plain_id(call_id: Any) -> Any:
    """``call_id`` without a signature ``signed_id`` folded into it (anything else as it is)."""
    return split_id(call_id)[0] if isinstance(call_id, str) and MARK in call_id else call_id


def chat_signature(call: dict[str, Any]) -> str | None:
    """The thought signature on a Chat Completions tool call (``extra_content.google.thought_signature``, Google's
    OpenAI-compatible endpoint), None when it has none."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


# OpenRouter's ``reasoning_details[].format`` for Gemini's thought signatures
GEMINI_DETAILS_FORMAT = "google-gemini-v1"


def details_signatures(details: Any) -> dict[str, str]:
    """Gemini's thought signatures in a message's (or a stream delta's) ``reasoning_details``, by the id of the call
    each signs: OpenRouter carries a step's signature as ``{"type": "reasoning.encrypted", "data": <signature>,
    "id": <tool call id>, "format": "google-gemini-v1"}`` and wants it back on the next turn (OpenRouter docs,
    "Reasoning Tokens": "Preserving reasoning blocks"; else 400 "Gemini models require OpenRouter reasoning details
    to be preserved": LibreChat-AI/agents#37; one entry a step, ``id`` its first call's: RooCodeInc/Roo-Code#10640).
    An entry without an id is keyed ``""`` (the step's first call). Empty for anything else."""
    out: dict[str, str] = {}
    if not isinstance(details, list):
        return out
    for detail in details:
        if (
            isinstance(detail, dict)
            and detail.get("type") == "reasoning.encrypted"
            and detail.get("format") == GEMINI_DETAILS_FORMAT
            and isinstance(data := detail.get("data"), str)
            and data
        ):
            call_id = detail.get("id")
            out.setdefault(call_id if isinstance(call_id, str) else "", data)
    return out


def details_entry(call_id: Any, signature: str, index: int) -> dict[str, Any]:
    """The ``reasoning_details`` entry that gives OpenRouter Gemini's ``signature`` of call ``call_id`` back
    (``details_signatures``' shape), at ``index``."""
    return {
        "type": "reasoning.encrypted",
        "data": signature,
        "id": call_id,
        "format": GEMINI_DETAILS_FORMAT,
        "index": index,
    }


def chat_extra(signature: str) -> dict[str, Any]:
    """A Chat Completions tool call's ``extra_content`` carrying ``signature`` where Google reads it."""
    return {"google": {"thought_signature": signature}}


# the fields of Anthropic blocks and Responses items that hold a tool call's id
_ANTHROPIC_ID = {"tool_use": "id", "tool_result": "tool_use_id"}
_RESPONSES_ID = {
    "function_call": "call_id",
    "custom_tool_call": "call_id",
    "function_call_output": "call_id",
    "custom_tool_call_output": "call_id",
}


def plain_block(block: Any) -> Any:
    """An Anthropic content block whose ``tool_use``/``tool_result`` id holds a signature: a copy with the id
    restored (``plain_id``); any other block as it is."""
    return _plain(block, _ANTHROPIC_ID)


def plain_item(item: Any) -> Any:
    """A Responses input item whose call id holds a signature: a copy with the id restored; any other as it is."""
    return _plain(item, _RESPONSES_ID)


def _plain(part: Any, fields: dict[str, str]) -> Any:
    if not isinstance(part, dict) or (key := fields.get(part.get("type"))) is None:  # type: ignore[arg-type]
        return part
    value = part.get(key)
    if not isinstance(value, str) or MARK not in value:
        return part
    plain = plain_id(value)
    return part if plain == value else {**part, key: plain}
