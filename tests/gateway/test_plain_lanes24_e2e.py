"""Session 24 (issue 13): the plain translation lanes through the real gateway and recorder processes, with the
official SDKs, against fake providers: the openai SDK's text-only chat request to a Claude model
(``_request_to_anthropic._plain_to_anthropic``) and the anthropic SDK's text-only request to a GPT model
(``_request_to_chat._plain_to_chat``). The provider gets the body the general translation makes (what
``chat_to_anthropic`` / ``anthropic_to_chat`` wrote before the lanes: turns merged, system joined, the cache
breakpoints on the system block and the last two user turns, usage asked for), and the SDK reads the answer."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.fake_provider import FakeProvider, ThreadedFakeProvider, provider_urls, running
from tests.procs import Stack, stack

MARK = {"type": "ephemeral"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, ThreadedFakeProvider]]:
    with running("anthropic", "openai") as fps:
        yield fps


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("stack"), provider_urls(fakes)) as st:
        yield st


def test_openai_sdk_plain_chat_to_claude(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(
        model="claude-haiku-4-5",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Plain text only."},
            {"role": "user", "content": "one"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "three"},
            {"role": "user", "content": "four"},
        ],
        max_tokens=50,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    sent = fakes["anthropic"].requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.json == {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "one"},
                    {"type": "text", "text": "two", "cache_control": MARK},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "three"}]},
            {"role": "user", "content": [{"type": "text", "text": "four", "cache_control": MARK}]},
        ],
        "system": [{"type": "text", "text": "Be brief.\nPlain text only.", "cache_control": MARK}],
        "stream": True,
    }


def test_anthropic_sdk_plain_messages_to_gpt(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with client.messages.stream(
        model="gpt-4o-mini",
        max_tokens=64,
        system="Be brief.",
        messages=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text
    assert final.usage.output_tokens > 0
    sent = fakes["openai"].requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
        "max_completion_tokens": 64,  # (OpenAI's current field)
        "stream": True,
        "stream_options": {"include_usage": True},
    }
