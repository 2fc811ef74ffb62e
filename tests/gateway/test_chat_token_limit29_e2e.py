"""A chat client's output-token limit below 1 to a Claude model (translated), through the real gateway and the
official openai SDK: OpenAI's own 400 naming the field, streamed or not, and nothing sent to Anthropic.

Before session 29 the translator read ``max_tokens: 0`` or ``-1`` as "not set" and Claude got the gateway's
default 8192 (bug29b variant 17-chat-max-tokens-negative-claude-stream-vD; OpenAI's API reference: both fields
are integers >= 1). The unit side is tests/unit/dialects/test_chat_token_limit29.py.
"""

from __future__ import annotations

import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack

MSG = [{"role": "user", "content": "Hi"}]


@pytest.fixture()
def oai(claude_gw: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=claude_gw.gateway_url + "/v1", api_key="k", max_retries=0)


@pytest.mark.parametrize(
    ("field", "value"), [("max_tokens", 0), ("max_tokens", -1), ("max_completion_tokens", -1)]
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_limit_below_one_is_a_400_in_openais_words_and_never_reaches_claude(
    oai: openai.OpenAI, claude_fakes: dict[str, FakeProvider], field: str, value: int, stream: bool
) -> None:
    claude_fakes["anthropic"].reset()
    served = oai.chat.completions.create(model="claude-haiku-4-5", messages=MSG, max_tokens=5)  # type: ignore[arg-type]
    assert served.choices[0].message.content  # the route translates, and serves a valid limit
    assert claude_fakes["anthropic"].last_request.json["max_tokens"] == 5
    claude_fakes["anthropic"].reset()
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model="claude-haiku-4-5",
            messages=MSG,  # type: ignore[arg-type]
            stream=stream,
            **{field: value},  # type: ignore[arg-type]
        )
    err = info.value.body
    assert isinstance(err, dict), err
    assert err["type"] == "invalid_request_error" and err["param"] == field, err
    assert err["message"] == (
        f"Invalid '{field}': integer below minimum value. Expected a value >= 1, but got {value} instead."
    )
    assert claude_fakes["anthropic"].requests == []
