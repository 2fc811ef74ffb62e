"""An upstream error body written as an event stream, through the real processes (s24 variant 18-multi-vF).

Some servers answer a streamed request they refuse with a 4xx/5xx whose body is SSE: ``data: {"error": …}``
(on one line or several, which the WHATWG rules join with LF) and a blank line. The error is the event's data
(``errors.unframed_error_body``): an OpenAI chat client (same format) gets that JSON error object, whose message
its SDK reads; an Anthropic client (translated) gets the meaning in its words (an overflow as "prompt is too
long"). Before, the chat client got the ``data:`` lines as they came (the openai SDK's message was the raw text),
and the Anthropic client's message quoted them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import anthropic
import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CHAT = "/openai/v1/chat/completions"
SAID = "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens."
# the error object on two data lines, an ``event:`` line before them, a comment line first
FRAMED = (
    b": refused\n"
    b"event: error\n"
    b'data: {"error": {"message": "' + SAID.encode() + b'",\n'
    b'data: "type": "invalid_request_error", "param": null, "code": "context_length_exceeded"}}\n\n'
)


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("sse_error_body", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


def test_a_chat_client_gets_the_error_object_an_event_stream_body_holds(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHAT, sse([FRAMED], status=400))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
    assert refused.value.body == {
        "message": SAID,
        "type": "invalid_request_error",
        "param": None,
        "code": "context_length_exceeded",
    }


def test_an_anthropic_client_gets_its_words_for_an_event_stream_error_body(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHAT, sse([FRAMED], status=400))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.create(
                model="gpt-4o-mini",
                max_tokens=100,
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
    error = refused.value.body["error"]  # type: ignore[index,call-overload]
    assert error["type"] == "invalid_request_error", error
    assert error["message"].startswith("prompt is too long"), error


def test_an_anthropic_client_gets_the_message_of_an_event_stream_error_body(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Any other refusal's words reach a translated client as the provider said them, not its ``data:`` lines."""
    said = "Invalid 'tools[0].function.name': string does not match pattern."
    framed = (
        b'data: {"error": {"message": "' + said.encode() + b'",\ndata: "type": "invalid_request_error"}}\n\n'
    )
    up.script(CHAT, sse([framed], status=400))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.create(
                model="gpt-4o-mini",
                max_tokens=100,
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
    error = refused.value.body["error"]  # type: ignore[index,call-overload]
    assert (error["type"], error["message"]) == ("invalid_request_error", said), error
