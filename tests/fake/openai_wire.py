"""OpenAI Chat Completions wire shapes (conformance doc §1), with OpenRouter and xAI quirks (§5)."""

from __future__ import annotations

from typing import Any

from tests.fake.conversation import Reply, Usage, fragments, pieces
from tests.fake.frames import DONE, Frame, Meta, comment_frame, data_frame

# status -> (type, code), as OpenAI sends them
_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
# Where the reasoning text goes; plain OpenAI never returns it, only counts it.
_REASONING_FIELD = {"xai": "reasoning_content", "openrouter": "reasoning"}


def completion(meta: Meta, reply: Reply, usage: Usage | None) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object (§1.3)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    if reply.tool_call is not None:
        call = reply.tool_call
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
        ]
    if reply.thinking and meta.flavour in _REASONING_FIELD:
        message[_REASONING_FIELD[meta.flavour]] = reply.thinking
    body: dict[str, Any] = {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}],
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
    if usage is not None:
        body["usage"] = usage_dict(usage, meta.flavour)
    return body


def stream_frames(meta: Meta, reply: Reply, usage: Usage | None, include_usage: bool) -> list[Frame]:
    """The whole SSE stream: role chunk, content chunks, finish chunk, [usage chunk], ``[DONE]`` (§1.5-1.7)."""
    frames: list[Frame] = []
    if meta.flavour == "openrouter":
        frames += [comment_frame("OPENROUTER PROCESSING")] * 2

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        out = _chunk_base(meta) | {"choices": [choice]}
        return (out | {"usage": None}) if include_usage else out

    role_content = "" if reply.text is not None else None
    frames.append(data_frame(chunk({"role": "assistant", "content": role_content, "refusal": None})))
    if reply.thinking and meta.flavour in _REASONING_FIELD:
        field = _REASONING_FIELD[meta.flavour]
        frames += [data_frame(chunk({field: p}), content=True) for p in pieces(reply.thinking)]
    frames += [data_frame(chunk({"content": p}), content=True) for p in pieces(reply.text or "")]
    if reply.tool_call is not None:
        call = reply.tool_call
        head = {
            "index": 0,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        frames.append(data_frame(chunk({"tool_calls": [head]})))
        for part in fragments(call.arguments_json):
            frames.append(
                data_frame(
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}), content=True
                )
            )
    frames.append(data_frame(chunk({}, _finish(reply)), tail=True))
    if include_usage and usage is not None:
        frames.append(
            data_frame(
                _chunk_base(meta) | {"choices": [], "usage": usage_dict(usage, meta.flavour)}, tail=True
            )
        )
    frames.append(DONE)
    return frames


def stream_error_frame(meta: Meta) -> Frame:
    """A mid-stream failure. OpenAI: a bare ``{"error": …}``; OpenRouter also sends ``finish_reason:"error"``."""
    if meta.flavour == "openrouter":
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        routed = {"code": "server_error", "message": "Provider disconnected unexpectedly (fake)"}
        return data_frame(_chunk_base(meta) | {"error": routed, "choices": [choice]}, tail=True)
    error = {
        "message": "The server had an error while processing your request (fake).",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    return data_frame({"error": error}, tail=True)


def error_body(flavour: str, status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The error body for an HTTP error status (§1.8); OpenRouter's has a numeric ``code`` (§5)."""
    if flavour == "openrouter":
        return {"error": {"code": status, "message": message, "metadata": {"provider_name": "Fake"}}}
    kind, default_code = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code or default_code}}


def usage_dict(usage: Usage, flavour: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.output,
        "total_tokens": usage.prompt + usage.output,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if flavour == "openrouter":
        out["cost"] = openrouter_cost(usage)
        out["is_byok"] = False
        out["cost_details"] = {"upstream_inference_cost": None}
    return out


def openrouter_cost(usage: Usage) -> float:
    """USD the fake OpenRouter bills: $1 per million prompt tokens, $2 per million output tokens."""
    return round(usage.prompt * 1e-6 + usage.output * 2e-6, 12)


def models_list(models: list[str], owner: str) -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": 1735689600, "owned_by": owner} for m in models]
    return {"object": "list", "data": data}


def _chunk_base(meta: Meta) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
    if meta.flavour == "openrouter":
        base["provider"] = "Fake"
    return base


def _finish(reply: Reply) -> str:
    if reply.tool_call is not None:
        return "tool_calls"
    return "length" if reply.truncated else "stop"
