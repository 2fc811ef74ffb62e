"""Builders the gateway's end-to-end files share: a catalog gateway over the scripted upstream, and chat stream frames.

``catalog_gateway(up, tmp_path_factory, name, catalog)``: recorder + gateway whose only providers are ``catalog``
(TOML with ``{up}`` for the scripted upstream's URL, so literal braces are doubled), in a fresh temporary folder.
``frame(obj)``: one SSE ``data:`` frame of a JSON object; ``chunk(text, finish, index, ident, model)``: a Chat
Completions chunk of one choice; ``ok_stream()``: a whole short chat stream ("Hi", stop, usage, ``[DONE]``);
``catalog(provider(name, *models, price=…), …)``: a catalog file's text for ``catalog_stack`` (``{url}``). Session 29
(fix29): these were written again in each e2e file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

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
