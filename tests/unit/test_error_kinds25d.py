"""Session 25 (bug25d): kinds 10 (a context overflow said so the client acts on it) and 17 (output limits of
configured providers), pure parts.

DS4's "Prompt tokens (N) exceeds context size (M)" (type ``context_exceeded``); an error object streamed as a chat
chunk of its own (no ``error`` wrapper, no ``choices``); a catalog ``context_window`` bounding the output asked."""

from __future__ import annotations

import json

import pytest

from services.gateway.dialects import _error_meaning as em
from services.gateway.dialects._openai_stream import ChatStreamDecoder
from services.gateway.dialects.ir import StreamError
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.routing.config import parse_catalog
from shared.sse import SSEEvent

DS4 = "Prompt tokens (40000) exceeds context size (32768)"
CTRANSFORMERS = "Number of tokens (2662) exceeded maximum context length (512)."


@pytest.mark.parametrize("status", [400, 500])
def test_ds4_context_exceeded_is_an_overflow_with_its_counts(status: int) -> None:
    """s25 variants 10-ds4-*: antirez/ds4 PR #150's 400 went to Claude Code as it came (no "prompt is too long",
    no compaction) and to Codex with code ``context_exceeded``."""
    raw = json.dumps(
        {"error": {"message": DS4, "type": "context_exceeded", "n_prompt_tokens": 40000, "n_ctx": 32768}}
    ).encode()
    meaning = em.meaning_from_openai(status, raw)
    assert meaning == "context_overflow"
    assert em.words_for_anthropic(meaning, status, DS4, 8000) == (
        400,
        "prompt is too long: 40000 tokens > 32768 maximum",
        None,
    )
    new_status, said, code = em.words_for_openai(meaning, status, DS4, 8000)
    assert (new_status, code) == (400, "context_length_exceeded")
    assert "maximum context length is 32768 tokens" in said and "resulted in 40000 tokens" in said


def test_the_type_context_exceeded_alone_names_an_overflow() -> None:
    raw = json.dumps({"error": {"message": "request rejected", "type": "context_exceeded"}}).encode()
    assert em.meaning_from_openai(400, raw) == "context_overflow"


def test_counts_in_parentheses_around_exceeded_context_length_are_restated() -> None:
    """s25 variant 10-ctransformers-counts-vH: the overflow was read, its counts were not (Claude Code could not
    tell how far over it was)."""
    raw = json.dumps({"error": {"message": CTRANSFORMERS, "type": "invalid_request_error"}}).encode()
    meaning = em.meaning_from_openai(400, raw)
    assert em.words_for_anthropic(meaning, 400, CTRANSFORMERS, 400)[1] == (
        "prompt is too long: 2662 tokens > 512 maximum"
    )


def test_counts_within_the_window_are_not_restated_as_an_overflow() -> None:
    assert em._numbers("Prompt tokens (100) exceeds context size (32768)") is None


VLLM_BARE = {
    "object": "error",
    "message": "The decoder prompt (length 40000) is longer than the maximum model length of 32768.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


def test_a_bare_error_object_streamed_as_a_chunk_is_the_error_it_tells() -> None:
    """s25 variants 10-vllm-bare-inband-*: the chunk was read as a chat chunk without choices, the stream ended
    as an empty answer (end_turn, no content) and the overflow was lost."""
    dec = ChatStreamDecoder()
    out = dec.feed(SSEEvent(event=None, data=json.dumps(VLLM_BARE)))
    failed = [d for d in out if isinstance(d, StreamError)]
    assert len(failed) == 1 and out[-1] is failed[0]
    assert (failed[0].status, failed[0].message) == (400, VLLM_BARE["message"])
    assert dec.feed(SSEEvent(event=None, data="[DONE]")) == []
    assert em.stream_words_for_anthropic(400, "invalid_request_error", VLLM_BARE["message"]) == (
        "invalid_request_error",
        "prompt is too long: 40000 tokens > 32768 maximum",
    )


def test_a_chunk_with_choices_that_says_object_error_is_still_a_chunk() -> None:
    dec = ChatStreamDecoder()
    chunk = {"object": "error", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    out = dec.feed(SSEEvent(event=None, data=json.dumps(chunk)))
    assert not any(isinstance(d, StreamError) for d in out)


def provider(extra: dict[str, object]) -> ConfiguredProvider:
    item = {"name": "local", "base_url": "http://127.0.0.1:1/v1", "models": ["m", "n"], **extra}
    return ConfiguredProvider(parse_catalog({"providers": [item]}).providers[0], None)


@pytest.mark.parametrize(
    ("extra", "want_m", "want_n"),
    [
        ({"context_window": 16384}, 16384, 16384),
        ({"context_window": 16384, "max_output_tokens": 8192}, 8192, 8192),
        ({"context_window": 4096, "max_output_tokens": 8192}, 4096, 4096),
        ({"limits": {"m": {"context_window": 16384}}}, 16384, None),
        ({"max_output_tokens": 8192, "limits": {"m": {"context_window": 4096}}}, 4096, 8192),
        ({}, None, None),
    ],
    ids=["window", "output-under-window", "window-under-output", "per-model-window", "mixed", "none"],
)
def test_a_catalog_context_window_bounds_the_output_limit(
    extra: dict[str, object], want_m: int | None, want_n: int | None
) -> None:
    """s25 variants 17-catalog-context-window-*: a window given without an output limit went unread, Claude
    Code's 32000 was sent to a 16384-token server."""
    p = provider(extra)
    assert (p.known_output_limit("m"), p.known_output_limit("n")) == (want_m, want_n)
