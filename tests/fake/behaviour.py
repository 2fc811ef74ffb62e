"""Fault-injection knobs and the small spec language that sets them.

A spec is a comma-separated list of items, e.g. ``"latency:0.5,chunk-delay:0.1"`` or
``"status:429:retry-after=2"``. The same grammar is used by ``FakeProvider.set_fault``, the
``--fault`` CLI flag, the ``x-fake-fault`` request header, a ``@fault=<spec>`` model-name suffix and
``POST /_fake/fault``, so every way of steering the fake speaks one language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

ToolPolicy = Literal["auto", "mention", "never"]
BodyFault = Literal["not-json", "array", "error"]
MODEL_FAULT_MARK = "@fault="


@dataclass(slots=True)
class Behaviour:
    """How the fake answers. Defaults mean: a healthy, instant provider."""

    status: int | None = None  # answer every request with this HTTP error status
    retry_after: float | None = None  # `retry-after` header sent with `status`
    error_code: str | None = None  # overrides the error `code` (OpenAI) / `type` (Anthropic)
    latency: float = 0.0  # seconds to sleep before sending headers
    hang: bool = False  # never answer; the handler ends when the client disconnects
    first_byte_delay: float = 0.0  # headers sent at once, body delayed this long
    chunk_delay: float = 0.0  # seconds between stream frames
    end_delay: float = 0.0  # seconds between a stream's last frame and the end of the body
    break_before_first_byte: bool = False  # read the request, then drop the connection
    break_mid_stream: bool = False  # two content frames, then an abrupt TCP reset
    error_mid_stream: bool = False  # two content frames, then the format's in-stream error
    no_usage: bool = False  # omit usage from responses and streams
    cache_read: int = 0  # prompt tokens reported as cache reads (capped at the prompt size)
    cache_write: int = 0  # prompt tokens reported as cache writes (capped likewise)
    tools: ToolPolicy = "auto"  # when to answer with a tool call, see conversation.plan_reply
    echo_key: bool = False  # error bodies and in-stream error events quote the key the request carried
    html_error: bool = False  # with `status`: an HTML error page (text/html), as a proxy or CDN sends
    body: BodyFault | None = None  # a 200 whose body is not an answer: "not-json" (HTML) or "array" (`[]`)
    stall: bool = False  # headers sent, then silence until the client goes away
    stall_mid_stream: bool = False  # two content frames, then silence (no end, no error)
    hold_mid_stream: bool = (
        False  # two content frames, then silence until ``POST /_fake/release``, then the rest
    )
    no_close: bool = False  # a stream that ends cleanly without its closing frames (finish, usage, [DONE])
    early: bool = False  # mid-stream faults fire before the first frame instead (nothing useful was sent)
    trickle: bool = False  # two content frames (streams) or half the JSON body, then a keep-alive forever
    trickle_bytes: bool = False  # two content frames, then a data line one byte at a time that never ends
    cut_mid_frame: bool = False  # two content frames, then half of the next frame and a clean end of body


_FLAGS = {
    "hang": "hang",
    "break-before-first-byte": "break_before_first_byte",
    "break-mid-stream": "break_mid_stream",
    "error-mid-stream": "error_mid_stream",
    "no-usage": "no_usage",
    "echo-key": "echo_key",
    "stall": "stall",
    "stall-mid-stream": "stall_mid_stream",
    "hold-mid-stream": "hold_mid_stream",
    "no-close": "no_close",
    "early": "early",
    "trickle": "trickle",
    "trickle-bytes": "trickle_bytes",
    "cut-mid-frame": "cut_mid_frame",
}
_SECONDS = {
    "latency": "latency",
    "first-byte-delay": "first_byte_delay",
    "chunk-delay": "chunk_delay",
    "end-delay": "end_delay",
}
_COUNTS = {"cache-read": "cache_read", "cache-write": "cache_write"}


def apply_spec(spec: str, base: Behaviour) -> Behaviour:
    """Return a copy of ``base`` with every item of ``spec`` applied. Raises ValueError on bad input."""
    out = replace(base)
    for item in (part.strip() for part in spec.split(",")):
        if item:
            _apply_item(item, out)
    return out


def _apply_item(item: str, out: Behaviour) -> None:
    key, _, arg = item.partition(":")
    if key in _FLAGS and not arg:
        setattr(out, _FLAGS[key], True)
    elif key in _SECONDS:
        setattr(out, _SECONDS[key], _number(item, arg))
    elif key in _COUNTS:
        setattr(out, _COUNTS[key], int(_number(item, arg)))
    elif key == "status":
        _apply_status(item, arg, out)
    elif key == "tools" and arg in ("auto", "mention", "never"):
        out.tools = arg  # type: ignore[assignment]  # narrowed by the membership test
    elif key == "body" and arg in ("not-json", "array", "error"):
        out.body = arg  # type: ignore[assignment]  # narrowed by the membership test
    elif key in ("ok", "none") and not arg:
        out.status = None
    else:
        raise ValueError(f"unknown fake fault item {item!r}")


def _apply_status(item: str, arg: str, out: Behaviour) -> None:
    code, *options = arg.split(":")
    out.status = int(_number(item, code))
    for option in options:
        name, _, value = option.partition("=")
        if name == "retry-after":
            out.retry_after = _number(item, value)
        elif name == "code" and value:
            out.error_code = value
        elif name == "html" and not value:
            out.html_error = True
        else:
            raise ValueError(f"unknown option {option!r} in {item!r}")


def _number(item: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{item!r} needs a number") from None
    if value < 0:
        raise ValueError(f"{item!r} must not be negative")
    return value


def split_model(model: str) -> tuple[str, str]:
    """``"gpt-4o@fault=status:500"`` -> ``("gpt-4o", "status:500")``; no suffix -> ``(model, "")``."""
    name, _, spec = model.partition(MODEL_FAULT_MARK)
    return name, spec
