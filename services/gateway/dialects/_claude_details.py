"""Claude's signed thinking as OpenRouter carries it on the chat wire, to and from Anthropic blocks (pure).

OpenRouter returns Claude's thinking in the message's (or the stream delta's) ``reasoning_details``: a thinking
block as ``{"type": "reasoning.text", "text": …, "signature": …, "format": "anthropic-claude-v1", "index": i}``
(streamed, the signature comes in a later entry of the same index, often with no text), a redacted one as
``{"type": "reasoning.encrypted", "data": …, "format": "anthropic-claude-v1"}``; and it wants them back, unchanged,
on the assistant message of the next turn (OpenRouter docs, "Reasoning Tokens": "Preserving reasoning blocks",
reasoning_details array structure). An Anthropic client (Claude Code) gets them as the thinking block's
``signature`` (``signature_delta`` streamed) and ``redacted_thinking`` blocks, and a Responses client (Codex) in
its ``reasoning`` item's ``encrypted_content`` (``_responses_opaque``), so Claude keeps its thinking on the next
turn; when the conversation comes back to Claude on OpenRouter (``Target.claude_details``) they go back as
``reasoning_details`` (``details_of_blocks``). Other targets get none of it (the translators' rules: thinking is
dropped, or goes as ``reasoning_content``).

Only an entry whose ``format`` is Claude's, or not given (as ``openai_compat._claude_signed`` reads them), is
Claude's: OpenAI's and Gemini's ``reasoning.encrypted`` entries and gpt-oss's unsigned text are not, and an
Anthropic client could not give them back to Anthropic. The gateway's own synthetic signature and ``ekai.*``
tokens are never sent as Claude's.
"""

from __future__ import annotations

from typing import Any

from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE

CLAUDE_FORMAT = "anthropic-claude-v1"  # OpenRouter's reasoning_details[].format for Claude's thinking
_MINTED_PREFIX = "ekai."  # (``_minted.MINTED_PREFIX``: every opaque token the gateway makes starts with it)


def _claudes(detail: Any) -> bool:
    return isinstance(detail, dict) and detail.get("format", CLAUDE_FORMAT) in (CLAUDE_FORMAT, None)


def signature_of(detail: Any) -> str | None:
    """The signature of a Claude ``reasoning.text`` entry (a non-empty string), else None."""
    if not _claudes(detail) or detail.get("type") != "reasoning.text":
        return None
    signature = detail.get("signature")
    return signature if isinstance(signature, str) and signature else None


def redacted_of(detail: Any) -> str | None:
    """The ``data`` of a Claude ``reasoning.encrypted`` entry (Claude's redacted thinking), else None."""
    if not _claudes(detail) or detail.get("type") != "reasoning.encrypted":
        return None
    data = detail.get("data")
    return data if isinstance(data, str) and data else None


def signed_thoughts(details: Any) -> list[tuple[str, str]] | None:
    """A whole message's ``reasoning_details`` read as Claude's thinking: ``(kind, value)`` pairs in order,
    ``("text", t)`` and ``("signature", s)`` for the parts of a signed thinking block (a signature closes its
    block), ``("redacted", data)`` for a redacted block. None when no entry holds a Claude signature or redacted
    block (the answer's ``reasoning`` text then stands as before)."""
    if not isinstance(details, list):
        return None
    out: list[tuple[str, str]] = []
    signed = False
    for detail in details:
        if (data := redacted_of(detail)) is not None:
            out.append(("redacted", data))
            signed = True
            continue
        if not _claudes(detail) or detail.get("type") != "reasoning.text":
            continue
        text = detail.get("text")
        if isinstance(text, str) and text:
            out.append(("text", text))
        if (signature := signature_of(detail)) is not None:
            out.append(("signature", signature))
            signed = True
    return out if signed else None


def claude_free(details: list[Any]) -> list[Any]:
    """``details`` without Claude's entries (``reasoning.text`` and ``reasoning.encrypted`` whose format is
    Claude's or not given): what is left when the provider refused Claude's thinking
    (``_minted.strip_refused_for_chat``)."""
    return [
        d for d in details if not (_claudes(d) and d.get("type") in ("reasoning.text", "reasoning.encrypted"))
    ]


def _real(signature: Any) -> bool:
    return (
        isinstance(signature, str)
        and bool(signature)
        and signature != SYNTHETIC_SIGNATURE
        and not signature.startswith(_MINTED_PREFIX)
    )


def details_of_blocks(blocks: list[Any]) -> list[dict[str, Any]]:
    """The ``reasoning_details`` of an assistant message made from Anthropic content blocks: each ``thinking``
    block with a real signature (not the gateway's synthetic one nor an ``ekai.*`` token) as a signed
    ``reasoning.text`` entry, each ``redacted_thinking`` block as a ``reasoning.encrypted`` one, in order,
    ``index`` counting from 0; unsigned thinking and every other block give nothing."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "thinking" and _real(block.get("signature")) and isinstance(block.get("thinking"), str):
            out.append(
                {
                    "type": "reasoning.text",
                    "text": block["thinking"],
                    "signature": block["signature"],
                    "format": CLAUDE_FORMAT,
                    "index": len(out),
                }
            )
        elif kind == "redacted_thinking" and _real(block.get("data")):
            out.append(
                {
                    "type": "reasoning.encrypted",
                    "data": block["data"],
                    "format": CLAUDE_FORMAT,
                    "index": len(out),
                }
            )
    return out


def details_of_thinking_blocks(value: Any) -> list[dict[str, Any]]:
    """LiteLLM's ``thinking_blocks`` (a chat message's or stream delta's list of Anthropic-shaped
    ``{"type": "thinking", "thinking", "signature"}`` and ``{"type": "redacted_thinking", "data"}``: LiteLLM docs,
    "'Thinking' / 'Reasoning Content'") as ``reasoning_details`` entries (``details_of_blocks``: only real
    signatures and redacted data; an entry holding a piece of streamed text without its signature gives nothing,
    the text comes as ``reasoning_content``). [] for anything not a list."""
    return details_of_blocks(value) if isinstance(value, list) else []


def signed_back(blocks: list[Any], field: str) -> dict[str, list[dict[str, Any]]]:
    """What an assistant message on the chat wire carries of Claude's signed thinking among Anthropic content
    ``blocks``: ``{field: …}``, as OpenRouter takes it (``field`` ``reasoning_details``: ``details_of_blocks``) or as
    LiteLLM does (``thinking_blocks``: the blocks themselves, Anthropic's shape, LiteLLM docs "'Thinking' /
    'Reasoning Content'"); {} when ``field`` is "" or no block has a real signature or redacted data."""
    if not field or not (details := details_of_blocks(blocks)):
        return {}
    return {field: details if field == "reasoning_details" else blocks_of_details(details)}


def thinking_entry(thinking: str, signature: str, index: int) -> dict[str, Any]:
    """The ``reasoning_details`` entry of one signed Claude thinking block (OpenRouter's ``reasoning.text``)."""
    return {
        "type": "reasoning.text",
        "text": thinking,
        "signature": signature,
        "format": CLAUDE_FORMAT,
        "index": index,
    }


def redacted_entry(data: str, index: int) -> dict[str, Any]:
    """The ``reasoning_details`` entry of one Claude ``redacted_thinking`` block (``reasoning.encrypted``)."""
    return {"type": "reasoning.encrypted", "data": data, "format": CLAUDE_FORMAT, "index": index}


def real(value: Any) -> bool:
    """A signature or redacted ``data`` Anthropic may have issued: a non-empty string, neither the gateway's
    synthetic signature nor an ``ekai.*`` token."""
    return _real(value)


def blocks_of_details(details: Any, reasoning: str = "") -> list[dict[str, Any]]:
    """The Anthropic ``thinking`` / ``redacted_thinking`` blocks a Chat client gives back in an assistant message's
    ``reasoning_details`` (the entries the gateway gave it, ``details_of_blocks``' shape, or OpenRouter's), in order:
    the inverse of ``details_of_blocks``, so a Chat client's tool loop on Claude keeps its thinking (Anthropic,
    extended-thinking docs, "Preserving thinking blocks": the last assistant turn's thinking goes back unchanged).

    Only blocks Anthropic can verify are made: a ``reasoning.text`` entry's text closed by a real signature
    (``_real``; text in entries before it with no signature joins it, as OpenRouter streams it), a
    ``reasoning.encrypted`` entry's data. A signed entry without any text takes ``reasoning`` (the message's
    ``reasoning_content``, where a client keeps the text it was streamed) when it is the only signed block;
    otherwise its text is unknown and the block is left out (a block whose thinking differs from what was signed
    is refused: 400 "Invalid `signature` in `thinking` block"). [] when nothing qualifies."""
    parts = signed_thoughts(details)
    if parts is None:
        return []
    signed = sum(1 for kind, _ in parts if kind == "signature")
    out: list[dict[str, Any]] = []
    text: list[str] = []
    for kind, value in parts:
        if kind == "text":
            text.append(value)
        elif kind == "redacted":
            text.clear()
            if _real(value):
                out.append({"type": "redacted_thinking", "data": value})
        else:
            thinking = "".join(text) or (reasoning if signed == 1 else "")
            text.clear()
            if thinking and _real(value):
                out.append({"type": "thinking", "thinking": thinking, "signature": value})
    return out
