"""Session 32 (fix32): decisions left from session 31, end to end.

Item 1, output limits on a passthrough: a chat client's ``max_tokens`` above the model's documented limit (the family
table, ``limits.max_output_tokens``) reaches a provider of the same format untouched; only a limit the provider
stated (a refusal, then remembered) or the catalog gives is applied to it (``Provider.known_output_limit``). The
same model translated (Claude Code's format) is clamped to the documented limit, as before.

Item 2, a llama.cpp context overflow told to a chat client (same format): said again with OpenAI's
``code: context_length_exceeded`` and words (the original in parentheses), and the server's own error fields kept
(``type: exceed_context_size_error``, ``n_prompt_tokens``, ``n_ctx``: ``_error_meaning.said_keeping_fields``).

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, chunk, frame, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CATALOG = catalog(
    provider("hosted", "gpt-4o", price=(2.5, 10.0)), provider("llama", "local-qwen", price=(0.0, 0.0))
)
HOSTED = "/hosted/v1/chat/completions"
LLAMA = "/llama/v1/chat/completions"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def gw(catalog_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with catalog_stack("fix32", CATALOG, BREAKER_FAILURES="1000") as st:
        yield st


def _whole(text: str) -> dict[str, object]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return {"id": "c32", "object": "chat.completion", "model": "gpt-4o", "choices": [choice], "usage": USAGE}


def test_a_passthrough_max_tokens_above_the_documented_limit_goes_untouched(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """gpt-4o's documented 16384 is not applied to a chat client's 32000 on a chat provider that takes it (a
    deployment with a higher cap, a newer snapshot under the old name): the body goes as the client wrote it."""
    up.script(HOSTED, json_answer(_whole("Hello.")))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        answer = client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=32000)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hello."
    assert [seen.json.get("max_tokens") for seen in up.seen(HOSTED)] == [32000]


def test_the_same_model_translated_is_clamped_to_the_documented_limit(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The contrast: Claude Code's format on the chat wire is the gateway's own body, within the documented limit."""
    up.script(
        HOSTED,
        sse(
            [
                frame(chunk("Hello.", ident="c32", model="gpt-4o")),
                frame(chunk(None, "stop", ident="c32", model="gpt-4o")),
                b"data: [DONE]\n\n",
            ]
        ),
    )
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(model="gpt-4o", max_tokens=32000, messages=HI) as stream:  # type: ignore[arg-type]
        assert stream.get_final_text() == "Hello."
    sent = up.seen(HOSTED)[0].json
    assert (sent.get("max_tokens") or sent.get("max_completion_tokens")) == 16384


LLAMACPP_OVERFLOW = {
    "error": {
        "code": 400,
        "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 40000,
        "n_ctx": 32768,
    }
}


def test_a_llamacpp_overflow_to_a_chat_client_keeps_its_fields(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LLAMA, json_answer(LLAMACPP_OVERFLOW, 400))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="local-qwen",
                messages=HI,
                extra_headers={"x-request-id": "fix32-llamacpp"},  # type: ignore[arg-type]
            )
    said = refused.value.body
    assert isinstance(said, dict)
    assert refused.value.code == "context_length_exceeded"  # what OpenAI's clients act on
    assert "maximum context length is 32768 tokens" in refused.value.message
    assert "exceeds the available context size" in refused.value.message  # the server's own words, kept
    # before fix32: type invalid_request_error, no counts' fields (only their text in the message)
    assert (said["type"], said["n_prompt_tokens"], said["n_ctx"]) == (
        "exceed_context_size_error",
        40000,
        32768,
    )
    assert gw.row_for("fix32-llamacpp")["status"] == 400
