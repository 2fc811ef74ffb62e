"""Builders the gateway's end-to-end files share: a catalog gateway over the scripted upstream, and chat stream frames.

``catalog_gateway(up, tmp_path_factory, name, catalog)``: recorder + gateway whose only providers are ``catalog``
(TOML with ``{up}`` for the scripted upstream's URL, so literal braces are doubled), in a fresh temporary folder.
``frame(obj)``: one SSE ``data:`` frame of a JSON object; ``chunk(text, finish, index, ident, model)``: a Chat
Completions chunk of one choice; ``ok_stream()``: a whole short chat stream ("Hi", stop, usage, ``[DONE]``);
``catalog(provider(name, *models, price=…), …)``: a catalog file's text for ``catalog_stack`` (``{url}``). Session 29
(fix29): these were written again in each e2e file. Session 32 (tidy32): ``delta_frame(delta, finish, ident, model)``,
a chunk frame of any delta as relays write it; ``chat_answer(content, ident, model, usage)``, a whole chat answer;
``messages_answer(text, ident, usage)``, a whole Anthropic Messages answer;
``messages_stream_kinds(url, body, request_id)``, what an Anthropic Messages stream's client hears, in order.
Session 33 (tidy33): ``catalog_gw(name, catalog, paths, **env)``, a module's ``gw`` fixture on ``catalog_stack``;
``chat_stream(text, ident, model, usage)``, a whole short chat stream's frames; ``unended_chat_stream(head, usage,
usage_apart, two_lines)``, bug32b's stream whose last line never ended (unit and e2e); ``in_pieces(obj, status,
pause_s)``, bug31b's error answer in two pieces; ``above_8192_refused(frames, pause_s)``, DeepSeek's output-limit
refusal then the answer within it; ``QUOTA_SPENT``, OpenAI's ``insufficient_quota`` error body;
``LLAMACPP_OVERFLOW``, llama.cpp's context overflow (40000 > 32768); ``USAGE``, the
12 / 3 tokens' chat usage; ``HI``, a one-line chat conversation; ``scripted_gw(name, paths, **env)``, ``catalog_gw``
on ``scripted_stack``; ``chat_streamed(gw, rid, model, include_usage)``, a streamed chat request's text and error.
Session 34 (tidy34): ``CHEAP``/``DEAR`` and ``cheap_and_dear(model, *cheap_only)``, a fallback pair by price;
``CONTEXT_OVERFLOW``, ``UNENDED_CHAT_OVERFLOW``, ``UNENDED_CLAUDE_TOO_LONG``, bug33a's refusals whose line never ended;
``KIMI_CALL_ID``, ``ANTHROPIC_ID``, ``tool_ids(body)``, bug33b's call ids; ``responses_frame(kind, seq, body)``,
``output_text(text)``, ``raw_frames(body)``, ``IR_USAGES``, the Responses encoder's frames from their objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx2
import openai
import orjson
import pytest
from hypothesis import strategies as st

from services.gateway.dialects import ir
from shared.sse import SSEDecoder
from tests.procs import Stack, stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, sse

USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
HI = [{"role": "user", "content": "Say hello."}]
# OpenAI's spent quota: a 429 with no Retry-After; clients must not retry it (kind 11)
QUOTA_SPENT = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
# llama.cpp's server past its context: the counts in fields of its own (tools/server/README.md, "Error responses")
LLAMACPP_OVERFLOW = {
    "error": {
        "code": 400,
        "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 40000,
        "n_ctx": 32768,
    }
}
# OpenAI's in-band refusal of a prompt past the model's context (bug33a's kind 10)
CONTEXT_OVERFLOW = {
    "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 "
    "tokens. Please reduce the length of the messages.",
    "type": "invalid_request_error",
    "param": "messages",
    "code": "context_length_exceeded",
}
# bug33a: each a whole body of one event, no line break after its data line (the body closed right after the JSON)
UNENDED_CHAT_OVERFLOW = b"data: " + orjson.dumps({"error": CONTEXT_OVERFLOW})
UNENDED_CLAUDE_TOO_LONG = (
    b'event: error\ndata: {"type":"error","error":{"type":"invalid_request_error",'
    b'"message":"prompt is too long: 210000 tokens > 200000 maximum"}}'
)
# bug33b: Kimi K2's name for its first call (``functions.<name>:<n>``), outside Anthropic's id pattern
KIMI_CALL_ID = "functions.weather:0"
ANTHROPIC_ID = re.compile(
    r"^[a-zA-Z0-9_-]+$"
)  # Anthropic's tool id pattern (its 400 "String should match pattern")
# a catalog's fallback pair (``cheap_and_dear``): their chat paths on the scripted upstream
CHEAP = "/cheap/v1/chat/completions"
DEAR = "/dear/v1/chat/completions"
# DeepSeek's refusal of a max_tokens above its output limit, which it states (kind 17)
REFUSED_ABOVE_8192 = {
    "error": {
        "message": "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]",
        "type": "invalid_request_error",
    }
}


@contextmanager
def catalog_gateway(
    up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory, name: str, catalog: str
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(name)
    path = tmp / "catalog.toml"
    path.write_text(catalog.format(up=up.url))
    with stack(tmp, {}, CATALOG_PATH=str(path)) as st:
        yield st


def catalog_gw(name: str, catalog: str, paths: dict[str, str] | None = None, **env: str) -> Any:
    """A module-scoped ``gw`` fixture: ``catalog_stack(name, catalog, paths, **env)``'s stack (the module assigns it:
    ``gw = catalog_gw("fix32", CATALOG, BREAKER_FAILURES="1000")``; pytest names a fixture by the attribute)."""

    @pytest.fixture(scope="module")
    def gw(catalog_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
        with catalog_stack(name, catalog, paths, **env) as st:
            yield st

    return gw


def scripted_gw(name: str, paths: dict[str, str], **env: str) -> Any:
    """A module-scoped stack fixture on ``scripted_stack(name, paths, **env)`` (built-in providers at those paths of
    the scripted upstream), assigned as ``catalog_gw``'s: ``claude = scripted_gw("fix28-claude", {...})``."""

    @pytest.fixture(scope="module")
    def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
        with scripted_stack(name, paths, **env) as st:
            yield st

    return gw


def frame(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(
    text: str | None, finish: str | None = None, index: int = 0, *, ident: str, model: str
) -> dict[str, object]:
    delta = {} if text is None else {"content": text}
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return {"id": ident, "object": "chat.completion.chunk", "model": model, "choices": [choice]}


def delta_frame(delta: dict[str, Any], finish: str | None = None, *, ident: str, model: str) -> bytes:
    """One SSE ``data:`` frame of a Chat Completions chunk of one choice (index 0) with ``delta`` and ``finish`` and
    no ``object`` key, as LiteLLM and relays write them; compact JSON (orjson)."""
    obj = {"id": ident, "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def chat_answer(
    content: str, *, ident: str, model: str, usage: tuple[int, int], finish: str = "stop"
) -> dict[str, Any]:
    """A whole Chat Completions answer (``chat.completion``) of one assistant message ``content``, finish ``finish``;
    ``usage``: (prompt, completion) tokens."""
    message = {"role": "assistant", "content": content}
    tokens = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}
    return {
        "id": ident,
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": tokens,
    }


def messages_answer(
    text: str, *, ident: str, usage: tuple[int, int], model: str = "claude-sonnet-4-5-20250929"
) -> dict[str, Any]:
    """A whole Anthropic Messages answer (``message``) of one text block ``text``, stop reason ``end_turn``;
    ``usage``: (input, output) tokens."""
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def chat_streamed(
    gw: Stack, rid: str, model: str, *, include_usage: bool = False
) -> tuple[str, Exception | None]:
    """A streamed chat request (the openai SDK, ``HI``, ``x-request-id`` ``rid``; ``include_usage``: with
    ``stream_options.include_usage``) to ``gw``: the text it got, and the error its stream ended with (None: it
    ended well)."""
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    text = ""
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        try:
            for part in client.chat.completions.create(
                model=model,
                messages=HI,  # type: ignore[arg-type]
                stream=True,
                extra_headers={"x-request-id": rid},
                **extra,
            ):
                if part.choices and part.choices[0].delta.content:
                    text += part.choices[0].delta.content
        except openai.APIError as exc:
            return text, exc
    return text, None


def messages_stream_kinds(url: str, body: dict[str, Any], request_id: str) -> list[str]:
    """What a client streaming ``body`` from the gateway at ``url``'s ``/v1/messages`` (raw SSE, ``x-request-id``
    ``request_id``) hears, in order: ``text:<text>`` for each text delta, the event's name for the others (pings
    included); the answer's status must be 200."""
    headers = {"anthropic-version": "2023-06-01", "x-request-id": request_id}
    decoder = SSEDecoder()
    kinds: list[str] = []
    with httpx2.stream("POST", url + "/v1/messages", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            for ev in decoder.feed(piece):
                if ev.event == "content_block_delta":
                    kinds.append("text:" + json.loads(ev.data)["delta"]["text"])
                elif ev.event is not None:
                    kinds.append(ev.event)
    return kinds


def chat_stream(text: str, *, ident: str, model: str, usage: dict[str, int] | None = None) -> list[bytes]:
    """A whole chat stream's frames (``chunk``s): ``text``, the finish (stop), a usage chunk when ``usage`` is given
    (no choices, as ``stream_options.include_usage`` has it), ``[DONE]``."""
    frames = [
        frame(chunk(text, ident=ident, model=model)),
        frame(chunk(None, "stop", ident=ident, model=model)),
    ]
    if usage is not None:
        head = {"id": ident, "object": "chat.completion.chunk", "model": model}
        frames.append(frame({**head, "choices": [], "usage": usage}))
    return [*frames, b"data: [DONE]\n\n"]


def unended_chat_stream(
    head: dict[str, Any], usage: dict[str, int], *, usage_apart: bool, two_lines: bool = False
) -> list[bytes]:
    """bug32b's body (variants 13vD/13vO/13vT): role and text chunks ("Hello", " there!"), the finish chunk (stop)
    with ``usage``, or the usage in a chunk of its own after it (``usage_apart``), no ``[DONE]``, and no line break
    after the last line: the server (or a proxy trimming trailing whitespace) closed the body right after the last
    JSON text. ``two_lines``: the last chunk's JSON over two data lines (bugcase 18's framing). ``head``: the
    chunks' ``id``, ``object``, ``created``, ``model``; compact JSON (orjson), ``logprobs: null`` as OpenAI writes."""

    def one(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**head, "choices": [choice], **extra}) + b"\n\n"

    frames = [one({"role": "assistant", "content": "Hello"}), one({"content": " there!"})]
    if usage_apart:
        frames += [
            one({}, "stop"),
            b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n",
        ]
    else:
        frames.append(one({}, "stop", usage=usage))
    frames[-1] = frames[-1][:-2]
    if two_lines:
        frames[-1] = frames[-1].replace(b',"usage":', b',\ndata: "usage":')
    return frames


def in_pieces(obj: Any, status: int, pause_s: float = 0.05, **kw: Any) -> Answer:
    """A JSON error answer written as two pieces ``pause_s`` apart (chunked: no content-length): ``{"error":`` and
    the rest, as a relay flushes it (bug31b: a body read with one ``read(n)`` was cut at the first piece)."""
    raw = orjson.dumps(obj)
    return Answer(body=[raw[:10], Pause(pause_s), raw[10:]], status=status, **kw)


def above_8192_refused(frames: list[bytes], pause_s: float = 0.05) -> tuple[Answer, Answer]:
    """A route's answers by the request's ``max_tokens``: above 8192, DeepSeek's refusal (400, ``in_pieces``
    ``pause_s`` apart) stating its limit; within it, the stream ``frames``."""
    return (
        in_pieces(REFUSED_ABOVE_8192, 400, pause_s, when=lambda body: body.get("max_tokens", 0) > 8192),
        sse(frames, when=lambda body: body.get("max_tokens", 0) <= 8192),
    )


def ok_stream() -> list[bytes]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1775000000, "model": "m"}
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}},
    ]
    return [*(frame({**head, **c}) for c in chunks), b"data: [DONE]\n\n"]


def provider(name: str, *models: str, price: tuple[float, float] | None = None, extra: str = "") -> str:
    """One catalog ``[[providers]]`` entry served at ``{url}/<name>/v1`` of the scripted upstream (the text keeps
    ``{url}`` for ``catalog_stack``'s ``str.format``; ``extra``: more TOML lines, braces doubled), ``price`` in USD
    per million tokens (input, output)."""
    listed = ", ".join(f'"{m}"' for m in models)
    lines = ["[[providers]]", f'name = "{name}"', f'base_url = "{{url}}/{name}/v1"', f"models = [{listed}]"]
    if extra:
        lines.append(extra)
    if price is not None:
        lines.append(f"price = {{{{ input = {price[0]}, output = {price[1]} }}}}")
    return "\n".join(lines) + "\n"


def catalog(*providers: str) -> str:
    """A catalog file of ``provider`` entries, in order."""
    return "\n" + "\n".join(providers)


def cheap_and_dear(model: str, *cheap_only: str) -> tuple[str, str]:
    """A fallback pair serving ``model`` (``provider`` entries for ``catalog``): "cheap" (0.1 / 0.1 USD per million
    tokens; it also serves ``cheap_only``) is tried first, "dear" (1.0 / 1.0) next; at ``CHEAP`` and ``DEAR``."""
    return provider("cheap", model, *cheap_only, price=(0.1, 0.1)), provider("dear", model, price=(1.0, 1.0))


def tool_ids(body: dict[str, Any]) -> list[str]:
    """An Anthropic Messages body's ``tool_use`` ids and ``tool_result`` ``tool_use_id``s, in order."""
    return [
        b.get("id") or b.get("tool_use_id")
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b["type"] in ("tool_use", "tool_result")
    ]


def responses_frame(kind: str, seq: int, body: dict[str, Any]) -> bytes:
    """One Responses stream event as ``ResponsesStreamEncoder._frame`` writes it, from its object: ``event:`` line,
    ``data:`` of ``{"type", "sequence_number", **body}`` (orjson)."""
    return (
        b"event: "
        + kind.encode()
        + b"\ndata: "
        + orjson.dumps({"type": kind, "sequence_number": seq, **body})
        + b"\n\n"
    )


def output_text(text: str) -> dict[str, Any]:
    """A Responses ``output_text`` content part of ``text`` (no annotations, no logprobs)."""
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def raw_frames(body: bytes) -> list[bytes]:
    """An SSE body's events, each its raw bytes (``SSEDecoder``)."""
    return [ev.raw or b"" for ev in SSEDecoder().feed(body)]


# any usage the IR carries (hypothesis)
IR_USAGES = st.builds(
    ir.Usage,
    input_tokens=st.integers(0, 10**7),
    output_tokens=st.integers(0, 10**7),
    cache_read_tokens=st.integers(0, 10**6),
    cache_write_tokens=st.integers(0, 10**6),
    reasoning_tokens=st.integers(0, 10**6),
)
