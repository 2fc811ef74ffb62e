"""Errors, and how each client API format expects to see them.

    GatewayError                 an answer the client gets in its own format, with a status
    ├── ClientError              the request itself is wrong (4xx); never retried, never trips a breaker
    └── UpstreamError            a provider failed: status (None for connection faults) and whether
                                 another provider may be tried

Rendering is pure: ``error_body(fmt, …)`` and ``stream_error_frame(fmt, …)``.
"""

from __future__ import annotations

from typing import Any

import orjson

from shared.sse import encode_event

ClientFormat = str  # "openai_chat" | "anthropic"

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def anthropic_type(status: int) -> str:
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    if status in (502, 503):
        return "overloaded_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def openai_type(status: int) -> str:
    return _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


class GatewayError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

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
    ) -> None:
        super().__init__(status or 502, message)
        self.upstream_status = status
        self.provider = provider
        self.retryable = retryable
        self.body = body
        self.upstream_type = error_type
        self.retry_after_s = retry_after_s

    @property
    def error_type(self) -> str:
        return self.upstream_type or ("connection_error" if self.upstream_status is None else openai_type(self.status))


def error_body(fmt: ClientFormat, status: int, message: str, *, code: str | None = None,
               param: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    """The error object a client of ``fmt`` expects for ``status``."""
    if fmt == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": anthropic_type(status), "message": message}}
        if request_id:
            body["request_id"] = request_id
        return body
    return {"error": {"message": message, "type": openai_type(status), "param": param, "code": code}}


def client_status(fmt: ClientFormat, status: int) -> int:
    """Anthropic clients expect 529 for an overloaded upstream (their SDKs retry it)."""
    if fmt == "anthropic" and status in (502, 503):
        return 529
    return status


def stream_error_frame(fmt: ClientFormat, status: int, message: str) -> bytes:
    """An error after the stream began, as an in-stream event in the client's format."""
    if fmt == "anthropic":
        payload = {"type": "error", "error": {"type": anthropic_type(status), "message": message}}
        return encode_event(orjson.dumps(payload), "error")
    payload = {"error": {"message": message, "type": openai_type(status), "param": None, "code": None}}
    return encode_event(orjson.dumps(payload))


def parse_upstream_error(body: bytes) -> tuple[str, str | None]:
    """(message, type) from an OpenAI-, Anthropic- or OpenRouter-shaped error body, or the raw text."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", errors="replace").strip()
        return (text[:500] or "upstream error", None)
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or "upstream error")
        etype = err.get("type") if isinstance(err.get("type"), str) else None
        return message, etype
    if isinstance(err, str):
        return err, None
    return (str(data)[:500], None)
