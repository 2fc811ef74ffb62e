"""The gateway's errors: what went wrong, and whether another provider may be tried.

    GatewayError                 an answer the client gets in its own format, with a status
    ├── ClientError              the request itself is wrong (4xx); never retried, never trips a breaker
    └── UpstreamError            a provider failed: status (None for connection faults) and whether
                                 another provider may be tried

How each client format renders an error (body, status, in-stream frame) is registered with the format
(``dialects.registry``); the ledger's ``error_type`` uses OpenAI's words for a status.
"""

from __future__ import annotations

import orjson

from services.gateway.dialects._error_meaning import (
    bare_error,
    counts_told,
    error_json,
    provider_message,
    unwrapped,
    validation_message,
)
from services.gateway.dialects._openai_wire import openai_error_type as openai_type
from shared.sse import SSEDecoder


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        closes_connection: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        # the answer says ``Connection: close`` (RFC 9112 section 9.6) and the connection ends after it: what
        # follows on it cannot be trusted (a body its Content-Encoding could not decode, left half read)
        self.closes_connection = closes_connection

    @property
    def error_type(self) -> str:
        return self.code or openai_type(self.status)


class ClientError(GatewayError):
    """The request is at fault: 400, 404 (unknown model), 413, 422."""


class UpstreamError(GatewayError):
    """A provider did not answer well. ``body`` is its raw error body (key already scrubbed)."""

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        provider: str,
        retryable: bool,
        body: bytes = b"",
        error_type: str | None = None,
        retry_after_s: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status or 502, message)
        self.headers = headers or {}  # the provider's response headers that go back to the client
        self.upstream_status = status
        self.provider = provider
        self.retryable = retryable
        self.body = body
        self.upstream_type = error_type
        self.retry_after_s = retry_after_s

    @property
    def error_type(self) -> str:
        return self.upstream_type or (
            "connection_error" if self.upstream_status is None else openai_type(self.status)
        )


# How an event stream's first line may begin (WHATWG HTML, server-sent events: a field name and its colon, or a
# comment's colon; llama.cpp's ``error:`` field, ``shared.sse``), after a BOM and white space
_STREAM_HEADS = (b"data:", b"event:", b"error:", b"id:", b"retry:", b":")


def unframed_error_body(body: bytes) -> bytes:
    """An error body (status >= 400) written as an event stream, as some servers answer a streamed request they
    refuse (``data: {"error": {...}}`` lines and a blank line, an ``event: error`` line before them; the data on
    one line or on several, which the WHATWG rules join with LF), given as the data of its first event that holds
    a JSON object or list: the error object every reader (``parse_upstream_error``, the error meaning, a
    same-format client, whose SDK parses an error body as JSON: OpenAI API reference, "Error codes"; Anthropic,
    "Errors") takes. Any other body is returned as it is (no decoding unless its first bytes are a stream's).
    Before, such a body reached a same-format client as it came and a translated one with the ``data:`` lines
    in its message (s24 variant 18-multi-vF)."""
    if not body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_STREAM_HEADS):
        return body
    for ev in SSEDecoder().feed(body + b"\n\n"):
        data = ev.data.encode()
        try:
            if not ev.comment and isinstance(orjson.loads(data), (dict, list)):
                return data
        except orjson.JSONDecodeError:
            continue
    return body


def parse_upstream_error(body: bytes) -> tuple[str, str | None]:
    """(message, type) from an OpenAI-, Anthropic- or OpenRouter-shaped error body, vLLM's bare error object,
    a FastAPI/pydantic validation error (``validation_message``: FastAPI's ``detail``, Mistral's nested one),
    Gemini's OpenAI-compatible endpoint's one-element list ``[{"error": {...}}]``, or the raw text; a leading UTF-8 BOM
    is passed over (``error_json``)."""
    try:
        data = unwrapped(error_json(body))
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", errors="replace").strip()
        return (text[:500] or "upstream error", None)
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        message = provider_message(err) or counts_told(err, str(err.get("message") or "upstream error"))
        etype = err.get("type") if isinstance(err.get("type"), str) else None
        return message, etype
    if isinstance(err, str):
        return err, None
    if isinstance(data, dict) and (said := validation_message(data)):
        etype = data.get("type")
        return said, etype if isinstance(etype, str) else None
    if bare_error(data):  # vLLM: the error object is the body itself
        etype = data.get("type")
        return str(data["message"]), etype if isinstance(etype, str) else None
    return (str(data)[:500], None)
