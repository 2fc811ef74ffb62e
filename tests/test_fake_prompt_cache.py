"""The fake provider's prompt-cache simulation: caching happens only when the request carries what the
provider requires (markers for Anthropic and OpenRouter's Claude, long enough prefixes for OpenAI)."""

from __future__ import annotations

from typing import Any

from tests.fake.prompt_cache import PromptCache, anthropic_blocks, chat_blocks, responses_blocks

LONG = "You follow the project's rules. " * 400  # about 3,200 tokens by the fake's count
MARK = {"type": "ephemeral"}


def messages_body(turns: int, marked: bool, ttl: str | None = None) -> dict[str, Any]:
    marker = {**MARK, "ttl": ttl} if ttl else MARK
    system = [{"type": "text", "text": LONG, **({"cache_control": marker} if marked else {})}]
    messages: list[dict[str, Any]] = []
    for n in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"question {n}"}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {n}"}]})
    messages.pop()
    if marked:
        messages[-1]["content"][-1]["cache_control"] = marker
    return {"system": system, "messages": messages}


def test_anthropic_caches_only_marked_prefixes() -> None:
    cache = PromptCache()
    first = cache.serve(anthropic_blocks(messages_body(1, marked=True)), "markers")
    assert first.read == 0 and first.write > 3000
    second = cache.serve(anthropic_blocks(messages_body(2, marked=True)), "markers")
    assert second.read == first.write and 0 < second.write < 100  # only the new turn is written
    unmarked = PromptCache()
    for turns in (1, 2, 3):
        out = unmarked.serve(anthropic_blocks(messages_body(turns, marked=False)), "markers")
        assert (out.read, out.write) == (0, 0)


def test_anthropic_one_hour_writes_are_reported_apart() -> None:
    out = PromptCache().serve(anthropic_blocks(messages_body(1, marked=True, ttl="1h")), "markers")
    assert out.write_1h == out.write > 0


def test_a_changed_prefix_is_not_read() -> None:
    cache = PromptCache()
    cache.serve(anthropic_blocks(messages_body(1, marked=True)), "markers")
    body = messages_body(2, marked=True)
    body["system"][0]["text"] = "Different. " + LONG
    assert cache.serve(anthropic_blocks(body), "markers").read == 0


def test_openai_caches_long_prefixes_automatically_per_key() -> None:
    def chat(turns: int, key: str | None = None) -> dict[str, Any]:
        messages = [{"role": "system", "content": LONG}]
        for n in range(turns):
            messages += [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}]
        return {"messages": messages[:-1], **({"prompt_cache_key": key} if key else {})}

    cache = PromptCache()
    assert cache.serve(chat_blocks(chat(1)), "automatic", "s1").read == 0
    second = cache.serve(chat_blocks(chat(2)), "automatic", "s1")
    assert second.read > 3000 and second.write == 0  # OpenAI reports no writes
    assert cache.serve(chat_blocks(chat(2)), "automatic", "other-key").read == 0
    short = PromptCache()
    short.serve(chat_blocks({"messages": [{"role": "user", "content": "hi"}]}), "automatic")
    assert short.serve(chat_blocks({"messages": [{"role": "user", "content": "hi"}]}), "automatic").read == 0


def test_openrouter_claude_reads_markers_on_content_parts() -> None:
    def body(turns: int, marked: bool) -> dict[str, Any]:
        part = {"type": "text", "text": LONG, **({"cache_control": MARK} if marked else {})}
        messages: list[dict[str, Any]] = [{"role": "system", "content": [part]}]
        for n in range(turns):
            messages += [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": f"q{n}", **({"cache_control": MARK} if marked else {})}
                    ],
                },
                {"role": "assistant", "content": f"a{n}"},
            ]
        return {"messages": messages[:-1]}

    cache = PromptCache()
    cache.serve(chat_blocks(body(1, True)), "markers")
    assert cache.serve(chat_blocks(body(2, True)), "markers").read > 3000
    plain = PromptCache()
    plain.serve(chat_blocks(body(1, False)), "markers")
    assert plain.serve(chat_blocks(body(2, False)), "markers").read == 0


def test_responses_prefixes() -> None:
    cache = PromptCache()
    body = {"instructions": LONG, "input": [{"type": "message", "role": "user", "content": "one"}]}
    cache.serve(responses_blocks(body), "automatic", "t")
    body["input"].append({"type": "message", "role": "user", "content": "two"})
    assert cache.serve(responses_blocks(body), "automatic", "t").read > 3000
