"""Session 31 (bug31b): an upstream error body written in more than one piece, end to end (the official anthropic
SDK, the gateway and the recorder as processes, the providers replaced by a scripted upstream that flushes the
body as a relay does: ``{"error":`` first, the rest 50 ms later).

``Upstream.error_from`` read the body with one ``StreamReader.read(n)``, which returns what has arrived as soon as
anything has: the refusal's words were cut at the first piece and every rule that reads them failed at once
(bug31b variants 04l, 10p, 11p, 17o): no retry within the output limit the refusal states (kind 17), no "prompt is
too long" for Claude Code (kind 10), no ``x-should-retry: false`` for a spent quota (kind 11), no retry without the
history's thinking after Anthropic's signature refusal (kind 04); the client was told ``{"error":``.
"""

from __future__ import annotations

import anthropic
import orjson
import pytest

from tests.e2e_builders import (
    QUOTA_SPENT,
    above_8192_refused,
    catalog,
    catalog_gw,
    chat_stream,
    in_pieces,
    messages_answer,
    provider,
)
from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream

OPENAI = "/openai/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
HOSTED = "/hosted/v1/chat/completions"
CATALOG = catalog(provider("hosted", "acme-coder-7b", price=(0.2, 0.6)))

pytestmark = pytest.mark.usefixtures("fresh_up")
gw = catalog_gw("bug31b", CATALOG, paths={"openai": "/openai/v1", "anthropic": "/anthropic"})


def client(gw: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)


def test_a_refusal_in_pieces_still_states_the_output_limit(gw: Stack, up: ScriptedUpstream) -> None:
    """Kind 17: DeepSeek's words, "the valid range of max_tokens is [1, 8192]", read whole: one retry within it."""
    up.script(HOSTED, *above_8192_refused(chat_stream("Ready.", ident="c31", model="acme-coder-7b")))
    with client(gw).messages.stream(
        model="acme-coder-7b", max_tokens=32000, messages=[{"role": "user", "content": "Warmup"}]
    ) as stream:
        text = stream.get_final_text()
    assert text == "Ready."
    assert [seen.json["max_tokens"] for seen in up.seen(HOSTED)] == [32000, 8192]


def test_an_overflow_in_pieces_reads_as_prompt_is_too_long(gw: Stack, up: ScriptedUpstream) -> None:
    """Kind 10: OpenAI's ``context_length_exceeded`` told to Claude Code in the words it compacts on."""
    overflow = {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            "131072 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    up.script(OPENAI, in_pieces(overflow, 400))
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(
            model="gpt-4o-mini",
            max_tokens=1024,
            messages=[{"role": "user", "content": "<a long conversation>"}],
        )
    assert caught.value.status_code == 400
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "prompt is too long: 131072 tokens > 128000 maximum" in caught.value.body["error"]["message"]  # type: ignore[index]


def test_a_spent_quota_in_pieces_still_says_do_not_retry(gw: Stack, up: ScriptedUpstream) -> None:
    """Kind 11: OpenAI's ``insufficient_quota`` 429 (no Retry-After) keeps its words and ``x-should-retry: false``."""
    up.script(OPENAI, in_pieces(QUOTA_SPENT, 429))
    with pytest.raises(anthropic.RateLimitError) as caught:
        client(gw).messages.create(
            model="gpt-4o-mini", max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.response.headers.get("x-should-retry") == "false"
    assert "exceeded your current quota" in caught.value.body["error"]["message"]  # type: ignore[index]
    assert len(up.seen(OPENAI)) == 1


def test_a_signature_refusal_in_pieces_still_gets_the_retry_without_thinking(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Kind 04: Anthropic's "Invalid `signature` in `thinking` block" read whole: one retry without the history's
    thinking, and the client gets its answer."""
    refusal = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "messages.1.content.0: Invalid `signature` in `thinking` block",
        },
    }
    answer = messages_answer("Rome", ident="msg_31", usage=(20, 2))
    up.script(ANTHROPIC, in_pieces(refusal, 400), Answer(body=orjson.dumps(answer)))
    message = client(gw).messages.create(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[
            {"role": "user", "content": "Capital of France?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Paris.", "signature": "Zm9yZWlnbi1zaWduYXR1cmU="},
                    {"type": "text", "text": "Paris"},
                ],
            },
            {"role": "user", "content": "And Italy?"},
        ],
    )
    assert [b.text for b in message.content if b.type == "text"] == ["Rome"]
    sent = up.seen(ANTHROPIC)
    assert len(sent) == 2
    assert "thinking" not in orjson.dumps(sent[1].json["messages"]).decode()
