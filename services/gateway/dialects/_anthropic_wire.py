"""Shared pieces of the Anthropic Messages wire format: usage, stop reasons, error types."""

from __future__ import annotations

from typing import Any, get_args

from services.gateway.dialects.ir import StopReason, Usage

_STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))

ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# A thinking block must end with a signature; when the upstream is not Anthropic there is none, so the
# gateway closes the block with this marker (it cannot be verified by Anthropic, and is not meant to be).
SYNTHETIC_SIGNATURE = "ekai-gateway-synthetic-signature"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_anthropic(u: dict[str, Any]) -> Usage:
    """Anthropic ``usage`` → IR usage (``input_tokens`` is already the uncached part)."""
    details = u.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=_int(u.get("input_tokens")),
        output_tokens=_int(u.get("output_tokens")),
        cache_read_tokens=_int(u.get("cache_read_input_tokens")),
        cache_write_tokens=_int(u.get("cache_creation_input_tokens")),
        reasoning_tokens=_int(thinking),
    )


def usage_to_anthropic(u: Usage) -> dict[str, Any]:
    """IR usage → the client-facing Anthropic ``usage`` object (all four counts always present)."""
    out: dict[str, Any] = {
        "input_tokens": u.input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "output_tokens": u.output_tokens,
    }
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


def stop_from_anthropic(stop_reason: Any) -> StopReason:
    """An upstream ``stop_reason`` as an IR stop reason (the IR uses Anthropic's vocabulary)."""
    if stop_reason == "model_context_window_exceeded":
        return "max_tokens"
    if isinstance(stop_reason, str) and stop_reason in _STOP_REASONS:
        return stop_reason  # type: ignore[return-value]  # membership checked against the Literal
    return "end_turn"


def status_for_error_type(error_type: str) -> int:
    """The HTTP status Anthropic uses for an error type; unknown types count as 500 ``api_error``."""
    return ERROR_STATUS.get(error_type, 500)


# ---- errors in Anthropic's shape (conformance §2.6) ---------------------------------------------

_TYPE_FOR_STATUS = {
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


def anthropic_error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status (502/503 count as ``overloaded_error``)."""
    if status in _TYPE_FOR_STATUS:
        return _TYPE_FOR_STATUS[status]
    if status in (502, 503):
        return "overloaded_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}`` (conformance §2.6)."""
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": anthropic_error_type(status), "message": message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def client_status(status: int) -> int:
    """Anthropic clients expect 529 for an overloaded upstream (their SDKs retry it)."""
    return 529 if status in (502, 503) else status
