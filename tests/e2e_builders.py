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
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import orjson
import pytest

from shared.sse import SSEDecoder
from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream


@contextmanager
def catalog_gateway(
    up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory, name: str, catalog: str
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(name)
    path = tmp / "catalog.toml"
    path.write_text(catalog.format(up=up.url))
    with stack(tmp, {}, CATALOG_PATH=str(path)) as st:
        yield st


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


def chat_answer(content: str, *, ident: str, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """A whole Chat Completions answer (``chat.completion``) of one assistant message ``content``, finish "stop";
    ``usage``: (prompt, completion) tokens."""
    message = {"role": "assistant", "content": content}
    tokens = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}
    return {
        "id": ident,
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
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
