"""OpenAI's refusal of a history reasoning item it cannot decrypt, and the Responses wire's one-off retry without it
(bug34b variants 04v34k..04v34m; pure: ``_minted.refused_encrypted_content``, ``strip_refused_for_responses``).

A stateless Codex conversation (``store: false``) sends every earlier reasoning item back with its
``encrypted_content``; one made for another organization or Responses server is refused with 400
``invalid_encrypted_content`` on every later turn (openai/codex#8132, #35334). The Anthropic wire retries once
without the thinking it refuses (``strip_thinking``); the Responses wire had no such retry.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.gateway.dialects import registry
from services.gateway.dialects._minted import refused_encrypted_content, strip_refused_for_responses

VERIFIED = "The encrypted content gAAA...DQ== could not be verified."
DECRYPTED = (
    "The encrypted content for item rs_foreign1 could not be verified. "
    "Reason: Encrypted content could not be decrypted or parsed."
)
FOREIGN = {"id": "rs_foreign1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAABpForeign=="}
HISTORY: list[Any] = [
    {"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]},
    FOREIGN,
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Paris"}]},
    {"type": "compaction", "encrypted_content": "cmp-blob"},
    {"id": "rs_kept", "type": "reasoning", "summary": [{"type": "summary_text", "text": "no blob"}]},
    {"role": "user", "content": [{"type": "input_text", "text": "And Italy?"}]},
]


@pytest.mark.parametrize("said", [VERIFIED, DECRYPTED], ids=["verified", "decrypted-or-parsed"])
def test_openais_refusal_of_an_encrypted_content_is_recognised(said: str) -> None:
    assert refused_encrypted_content(400, said)
    assert not refused_encrypted_content(500, said)
    assert not refused_encrypted_content(400, "Invalid 'input[1].id': string too long.")


@pytest.mark.parametrize("said", [VERIFIED, DECRYPTED], ids=["verified", "decrypted-or-parsed"])
def test_the_retry_goes_without_the_encrypted_reasoning_items_only(said: str) -> None:
    body = {"model": "gpt-5", "store": False, "input": copy.deepcopy(HISTORY)}
    before = copy.deepcopy(body)
    original = body["input"]
    assert strip_refused_for_responses(400, said, body)
    # the compaction item and the reasoning item without a blob stay
    assert body["input"] == [item for item in HISTORY if item is not FOREIGN]
    assert original == before["input"]  # the list the client sent is not changed in place (a copy)


def test_nothing_to_drop_or_another_refusal_means_no_retry() -> None:
    plain = {"input": [item for item in HISTORY if item is not FOREIGN]}
    assert not strip_refused_for_responses(400, VERIFIED, plain)
    body = {"input": copy.deepcopy(HISTORY)}
    assert not strip_refused_for_responses(400, "Unsupported parameter: 'temperature'", body)
    assert body["input"] == HISTORY
    assert not strip_refused_for_responses(400, VERIFIED, {"input": "a string input"})


def test_the_responses_wire_retries_such_a_refusal() -> None:
    strip = registry.WIRES["openai_responses"].strip_refused
    assert strip is not None
    body = {"input": copy.deepcopy(HISTORY)}
    assert strip(400, VERIFIED, body) and FOREIGN not in body["input"]


def test_openrouter_relaying_the_refusal_gets_a_retry_without_encrypted_reasoning_details() -> None:
    """bug34b 04v34n: OpenRouter serves ``openai/gpt-5`` from more than one upstream and relays OpenAI's refusal of
    another one's encrypted reasoning; the chat wire's retry goes without the ``reasoning.encrypted`` entries."""
    summary = {"type": "reasoning.summary", "summary": "Paris.", "format": "openai-responses-v1", "index": 0}
    encrypted = {
        "type": "reasoning.encrypted",
        "data": "gAAAAABp==",
        "format": "openai-responses-v1",
        "index": 1,
    }
    assistant = {"role": "assistant", "content": "Paris", "reasoning_details": [summary, encrypted]}
    body: dict[str, Any] = {
        "model": "openai/gpt-5",
        "messages": [{"role": "user", "content": "hi"}, assistant],
    }
    strip = registry.WIRES["openai_chat"].strip_refused
    assert strip is not None
    assert not strip(400, "Provider returned error", copy.deepcopy(body))  # no refusal named: no retry
    assert strip(400, VERIFIED, body)
    assert body["messages"][1] == {"role": "assistant", "content": "Paris", "reasoning_details": [summary]}
    assert assistant["reasoning_details"] == [
        summary,
        encrypted,
    ]  # the client's message is not changed in place
    assert not strip(400, VERIFIED, body)  # nothing left to drop: no second retry
