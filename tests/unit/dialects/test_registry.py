"""The format registry is complete: every client format, every wire and every pair has its entry, and the
gateway's core modules never compare format names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.gateway.dialects import registry
from services.gateway.dialects._prompt_cache import NO_SESSION
from services.gateway.dialects.formats import CLIENT_FORMATS, WIRES
from services.gateway.dialects.ir import Completion, TextBlock, TextDelta
from services.gateway.dialects.view import View
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.openai_compat import OpenAIProvider, XAIProvider

ROOT = Path(__file__).resolve().parents[3]
CODEX = ROOT / "tests" / "fixtures" / "requests" / "codex_say_hi.json"
CORE = ["proxy.py", "relay.py", "handlers.py", "app.py", "serve.py", "upstream.py", "calls.py"]


def test_every_client_format_and_wire_is_registered() -> None:
    assert set(registry.CLIENTS) == set(CLIENT_FORMATS) and set(registry.WIRES) == set(WIRES)
    for fmt, spec in registry.CLIENTS.items():
        assert spec.name == fmt and spec.wire in WIRES
    for wire, wspec in registry.WIRES.items():
        assert wspec.name == wire


@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
@pytest.mark.parametrize("wire", WIRES)
def test_every_pair_has_a_translator_or_passthrough(fmt: str, wire: str) -> None:
    assert (fmt, wire) in registry.PAIRS
    pair = registry.pairing(fmt, wire)  # type: ignore[arg-type]
    # Passthrough exactly when the client's own API is the wire.
    assert pair.translated == (registry.CLIENTS[fmt].wire != wire)  # type: ignore[index]


@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
def test_each_client_format_answers_and_errs_in_its_own_shape(fmt: str) -> None:
    spec = registry.CLIENTS[fmt]  # type: ignore[index]
    view = View(model="client-model")
    rendered = spec.render(Completion(id="x", model="up", content=[TextBlock("hello")]), view)
    assert rendered["model"] == "client-model" and b"hello" in repr(rendered).encode()
    encoder = spec.encoder(view)
    streamed = encoder.feed(TextDelta("hello")) + encoder.finish()
    assert b"hello" in streamed
    body = spec.error_body(400, "bad thing", "some_code", "model", "req_1")
    assert "bad thing" in repr(body)
    assert spec.stream_error(500, "broke").startswith((b"data:", b"event:"))


def test_endpoints_map_paths_to_formats() -> None:
    assert registry.format_for_path("/v1/messages/count_tokens") == "anthropic"
    assert registry.format_for_path("/v1/responses/compact") == "openai_responses"
    assert registry.format_for_path("/v1/nothing") == registry.DEFAULT_FORMAT
    for path, endpoint in registry.ENDPOINTS.items():
        assert endpoint.path == path and endpoint.format in CLIENT_FORMATS


def test_providers_choose_the_passthrough_wire_when_they_speak_it() -> None:
    openai, anthropic, xai = (
        OpenAIProvider("o", "u", "k"),
        AnthropicProvider("a", "u", "k"),
        XAIProvider("x", "u", "k"),
    )
    assert registry.choose_wire("openai_responses", openai.wires) == "openai_responses"
    assert registry.choose_wire("openai_chat", openai.wires) == "openai_chat"
    assert registry.choose_wire("anthropic", openai.wires) == "openai_chat"
    assert registry.choose_wire("openai_responses", anthropic.wires) == "anthropic"
    assert registry.choose_wire("openai_responses", xai.wires) == "openai_chat"


@pytest.mark.parametrize("module", CORE)
def test_core_modules_compare_no_format_names(module: str) -> None:
    source = (ROOT / "services" / "gateway" / module).read_text()
    names = "|".join(re.escape(f'"{n}"') for n in {*CLIENT_FORMATS, *WIRES})
    assert not re.search(names, source), f"{module} names a format; look it up in dialects.registry instead"


RESPONSES_BODIES = [
    {"model": "m", "input": "hello", "stream": True},
    {
        "model": "m",
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": '{"cmd": "ls"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        ],
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}],
        "reasoning": {"effort": "high"},
        "max_output_tokens": 2000,
    },
]


@pytest.mark.parametrize("wire", ["anthropic", "openai_chat"])
@pytest.mark.parametrize("body", RESPONSES_BODIES + [orjson.loads(CODEX.read_bytes())["body"]])
def test_registered_responses_translators_skip_only_the_repeated_validation(
    wire: str, body: dict[str, Any]
) -> None:
    """The registry's Responses translators take bodies the format's parse already validated: the same
    upstream body as the public function, which still refuses an invalid one on its own."""
    from services.gateway.dialects import translate_request as tr
    from services.gateway.dialects._request_common import Target, TranslationError

    public = tr.responses_to_anthropic if wire == "anthropic" else tr.responses_to_chat
    target = Target(model="up", max_tokens_field="max_tokens", reasoning="anthropic_budget")
    registry.CLIENTS["openai_responses"].parse(body)  # type: ignore[misc]
    registered = registry.pairing("openai_responses", wire).translate  # type: ignore[arg-type]
    assert registered is not None
    assert registered(body, target, NO_SESSION) == public(body, target, NO_SESSION)
    with pytest.raises(TranslationError):
        public({**body, "input": 5}, target, NO_SESSION)
