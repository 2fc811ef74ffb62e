"""Session 25 (issue 13): the translated relays of an Anthropic upstream (the frame tap by one regex, the run's
bodies, the Responses run kept as one text) through the real gateway and recorder, with the official openai
SDK, chat and Responses, streamed: the text of the fake provider's answer, and the usage the SDK reads equal
to the ledger's row (cache reads and writes too)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack

ASK = "stream to me please " * 20


@pytest.fixture()
def client(claude_gw: Stack, claude_fakes: dict[str, FakeProvider]) -> Iterator[openai.OpenAI]:
    claude_fakes["anthropic"].set_fault("cache-read:20,cache-write:7")
    yield openai.OpenAI(base_url=claude_gw.gateway_url + "/v1", api_key="k", max_retries=0)
    claude_fakes["anthropic"].clear_fault()


def test_chat_stream_from_claude_text_and_usage_as_the_ledger(
    claude_gw: Stack, client: openai.OpenAI
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": ASK}],
        max_tokens=100,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream to me" in text
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    row = claude_gw.row_for(raw.headers["x-request-id"])
    assert row["streamed"] == 1 and row["translated"] == 1
    assert row["cache_read_tokens"] == 20 and row["cache_write_tokens"] == 7
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 20
    assert row["input_tokens"] + 20 + 7 == usage.prompt_tokens
    assert row["output_tokens"] == usage.completion_tokens


def test_responses_stream_from_claude_text_and_usage_as_the_ledger(
    claude_gw: Stack, client: openai.OpenAI
) -> None:
    raw = client.responses.with_raw_response.create(model="claude-haiku-4-5", input=ASK, stream=True)
    events = list(raw.parse())
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = events[-1]
    assert done.type == "response.completed"
    assert "stream to me" in deltas
    assert done.response.output_text == deltas
    usage = done.response.usage
    assert usage is not None and usage.output_tokens > 0
    row = claude_gw.row_for(raw.headers["x-request-id"])
    assert row["streamed"] == 1 and row["translated"] == 1
    assert row["cache_read_tokens"] == usage.input_tokens_details.cached_tokens == 20
    assert row["cache_write_tokens"] == 7
    assert row["input_tokens"] + 20 + 7 == usage.input_tokens
    assert row["output_tokens"] == usage.output_tokens
