"""Session 25 (bug25d) kinds 10 and 17 end to end: DS4's overflow wording, an error object streamed as a chunk of its
own, and a catalog context_window bounding the output asked (real gateway, recorder and scripted upstream; the
official SDKs as clients)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog_gateway, frame, ok_stream
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

CATALOG = """
[[providers]]
name = "ds4"
base_url = "{up}/ds4/v1"
models = ["deepseek-v4-flash"]
price = {{ input = 0.27, output = 1.10 }}

[[providers]]
name = "local"
base_url = "{up}/local/v1"
models = ["qwen2.5-coder-14b"]
context_window = 16384
price = {{ input = 0.1, output = 0.2 }}
"""
DS4 = "/ds4/v1/chat/completions"
LOCAL = "/local/v1/chat/completions"
AV = {"anthropic-version": "2023-06-01"}
DS4_ERR = {
    "error": {
        "message": "Prompt tokens (40000) exceeds context size (32768)",
        "type": "context_exceeded",
        "n_prompt_tokens": 40000,
        "n_ctx": 32768,
    }
}
VLLM_BARE = {
    "object": "error",
    "message": "The decoder prompt (length 40000) is longer than the maximum model length of 32768.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with catalog_gateway(up, tmp_path_factory, "kinds25", CATALOG) as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


def claude_stream_error(gw: Stack, model: str) -> anthropic.APIStatusError:
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as told:
        with claude.messages.stream(
            model=model, max_tokens=8000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    return told.value


def test_ds4_overflow_reaches_claude_code_and_codex_as_an_overflow(gw: Stack, up: ScriptedUpstream) -> None:
    """s25 variants 10-ds4-context-exceeded-vL, -codex-vM: antirez/ds4 PR #150's 400 went to Claude Code as it came
    (no "prompt is too long": no compaction) and to a Responses client with code ``context_exceeded``."""
    up.script(DS4, json_answer(DS4_ERR, 400))
    told = claude_stream_error(gw, "deepseek-v4-flash")
    assert told.status_code == 400 and isinstance(told.body, dict)
    assert told.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 40000 tokens > 32768 maximum",
    }
    up.script(DS4, json_answer(DS4_ERR, 400))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as failed:
        client.responses.create(model="deepseek-v4-flash", input="hi")
    assert failed.value.code == "context_length_exceeded"


def test_ds4_overflow_told_in_band_reaches_claude_code_with_its_counts(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s25 variant 10-ds4-inband-cc-vO: in-band, the overflow was read but its counts were not restated."""
    up.script(DS4, sse([frame(DS4_ERR)]))
    told = claude_stream_error(gw, "deepseek-v4-flash")
    assert isinstance(told.body, dict)
    assert told.body["error"]["message"] == "prompt is too long: 40000 tokens > 32768 maximum"


def test_a_bare_error_object_streamed_as_a_chunk_reaches_claude_code_as_an_overflow(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s25 variant 10-vllm-bare-inband-vC: the chunk ``{"object": "error", …}`` was read as a chat chunk without
    choices; Claude Code got a 200 with an empty answer ended as ``end_turn`` and never compacted."""
    up.script(DS4, sse([frame(VLLM_BARE), b"data: [DONE]\n\n"]))
    told = claude_stream_error(gw, "deepseek-v4-flash")
    assert told.status_code == 400 and isinstance(told.body, dict)
    assert told.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 40000 tokens > 32768 maximum",
    }


def test_a_bare_error_object_streamed_as_a_chunk_reaches_codex_as_an_overflow(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s25 variant 10-vllm-bare-inband-codex-vD: a Responses stream got ``response.completed`` with no output."""
    up.script(DS4, sse([frame(VLLM_BARE), b"data: [DONE]\n\n"]))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as failed:
        client.responses.create(model="deepseek-v4-flash", input="hi", stream=True)
    assert failed.value.code == "context_length_exceeded"


def too_many(body: dict[str, Any]) -> bool:
    return int(body.get("max_tokens") or 0) > 16384


REFUSAL = {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}}


def test_a_catalog_context_window_bounds_claude_codes_max_tokens(gw: Stack, up: ScriptedUpstream) -> None:
    """s25 variant 17-catalog-context-window-vD: ``context_window = 16384`` without an output limit went unread;
    Claude Code's 32000 was sent and refused (a refusal stating no number: nothing to retry within)."""
    up.script(LOCAL, json_answer(REFUSAL, 400, when=too_many), sse(ok_stream()))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(
        model="qwen2.5-coder-14b", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text() == "Hi"
    assert [r.json.get("max_tokens") for r in up.seen(LOCAL)] == [16384]


def test_a_catalog_context_window_bounds_a_chat_clients_max_tokens(gw: Stack, up: ScriptedUpstream) -> None:
    """s25 variant 17-catalog-context-window-chat-vP: the same for a chat client's body (passthrough)."""
    up.script(LOCAL, json_answer(REFUSAL, 400, when=too_many), sse(ok_stream()))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    chunks = client.chat.completions.create(
        model="qwen2.5-coder-14b", max_tokens=32000, stream=True, messages=[{"role": "user", "content": "hi"}]
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi"
    assert [r.json.get("max_tokens") for r in up.seen(LOCAL)] == [16384]
