"""Opaque strings the gateway itself puts into Responses items, and namespaced tool names (pure).

On a translated route (a Responses client served by a Chat or Anthropic model) two Responses fields that
OpenAI fills with encrypted state must be filled by the gateway, so that the next request, which carries
the whole transcript again (Codex sends ``store: false``), can be translated back:

- ``reasoning.encrypted_content`` made from an Anthropic ``thinking`` block (text + signature) or a
  ``redacted_thinking`` block: it goes back to Anthropic unchanged, so long tool loops keep their thinking
  (conformance §6.11, "put the thinking and its signature into encrypted_content").
- ``compaction.encrypted_content``: the handoff summary the routed model wrote when Codex asked for a
  remote compaction (``compaction_trigger`` item or ``POST /v1/responses/compact``).

Format: ``"ekai.<kind>1." + base64url(JSON)``, no padding; the JSON carries ``"ekai": <kind name>``.
The clear prefix tells ours apart from OpenAI's own opaque blobs, which must never reach another provider
(and whose content we never forge). See ``/work/notes/compaction.md`` for the item shapes.

Namespace tools (Codex's ``{"type": "namespace", "name": NS, "tools": [...]}``): the model's call comes back
to Codex as ``function_call{namespace: NS, name: N}`` and Codex finds the handler under ``"NS:N"``
(codex-rs ``tool_handler_key``). The gateway uses that same ``"NS:N"`` as the client name of a flattened
namespace member; ``:`` cannot occur in a plain Responses tool name.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

THINKING_PREFIX = "ekai.t1."
COMPACTION_PREFIX = "ekai.c1."
NAMESPACE_SEPARATOR = ":"


def _encode(prefix: str, payload: dict[str, Any]) -> str:
    return prefix + base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def _decode(prefix: str, token: Any) -> dict[str, Any] | None:
    if not isinstance(token, str) or not token.startswith(prefix):
        return None
    data = token[len(prefix) :]
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def encode_thinking(thinking: str, signature: str) -> str:
    """``reasoning.encrypted_content`` for an Anthropic thinking block (its text and signature)."""
    return _encode(THINKING_PREFIX, {"ekai": "thinking", "thinking": thinking, "signature": signature})


def encode_redacted_thinking(data: str) -> str:
    """``reasoning.encrypted_content`` for an Anthropic ``redacted_thinking`` block."""
    return _encode(THINKING_PREFIX, {"ekai": "redacted_thinking", "data": data})


def decode_thinking(token: Any) -> dict[str, Any] | None:
    """The Anthropic block a gateway-made ``encrypted_content`` holds; None for anything else.

    Only a block with a non-empty signature (or redacted data) is returned: Anthropic verifies
    signatures, so a block we did not receive from Anthropic must never be sent to it.
    """
    payload = _decode(THINKING_PREFIX, token)
    if payload is None:
        return None
    kind, thinking, signature, data = (payload.get(k) for k in ("ekai", "thinking", "signature", "data"))
    if kind == "thinking" and isinstance(thinking, str) and isinstance(signature, str) and signature:
        return {"type": "thinking", "thinking": thinking, "signature": signature}
    if kind == "redacted_thinking" and isinstance(data, str) and data:
        return {"type": "redacted_thinking", "data": data}
    return None


def encode_compaction(summary: str) -> str:
    """``compaction.encrypted_content`` holding the summary a translated route produced."""
    return _encode(COMPACTION_PREFIX, {"ekai": "compaction", "summary": summary})


def decode_compaction(token: Any) -> str | None:
    """The summary in a gateway-made compaction ``encrypted_content``; None if it is not ours."""
    payload = _decode(COMPACTION_PREFIX, token)
    if payload is None or payload.get("ekai") != "compaction" or not isinstance(payload.get("summary"), str):
        return None
    return str(payload["summary"])


def namespaced(namespace: str, name: str) -> str:
    """The gateway's client name for member ``name`` of namespace tool ``namespace``."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}"


def split_namespaced(client_name: str) -> tuple[str | None, str]:
    """``"NS:N"`` → ``("NS", "N")``; a plain name → ``(None, name)``: what a ``function_call`` item carries."""
    namespace, sep, name = client_name.partition(NAMESPACE_SEPARATOR)
    return (namespace, name) if sep and namespace and name else (None, client_name)
