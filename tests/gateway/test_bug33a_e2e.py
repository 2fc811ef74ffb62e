"""Session 33 (bug33a) variants, end to end: the official openai and anthropic SDKs, the gateway and the recorder as
processes, OpenAI and Anthropic replaced by a scripted upstream.

Kind 10 in bug32b's framing: a 200 stream whose only event is the upstream's refusal, an error (OpenAI's in-band
``context_length_exceeded`` chunk, Anthropic's ``error`` event, a ``response.failed``), its data line whole but never
ended: the body closed right after the JSON text. The gateway judged the stream at the body's end before reading that
event, so every client got a 502/529 "stream ended before its first token" and the ledger an ``empty_stream``: Claude
Code never read "prompt is too long" (no compaction), Codex and the openai SDK never ``context_length_exceeded``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import anthropic
import openai
import orjson
import pytest

from tests.e2e_builders import UNENDED_CHAT_OVERFLOW as CHAT_ERROR
from tests.e2e_builders import UNENDED_CLAUDE_TOO_LONG as CLAUDE_ERROR
from tests.e2e_builders import catalog_gw
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

CHAT = "/openai/v1/chat/completions"
RESPONSES = "/openai/v1/responses"
MESSAGES = "/anthropic/v1/messages"
_BASE = {
    "id": "resp_33a",
    "object": "response",
    "created_at": 1775000000,
    "model": "gpt-4o-mini",
    "output": [],
}
RESPONSE_FAILED = [
    b"event: response.created\ndata: "
    + orjson.dumps(
        {"type": "response.created", "sequence_number": 0, "response": {**_BASE, "status": "in_progress"}}
    )
    + b"\n\n",
    b"event: response.failed\ndata: "
    + orjson.dumps(
        {
            "type": "response.failed",
            "sequence_number": 1,
            "response": {
                **_BASE,
                "status": "failed",
                "usage": None,
                "error": {
                    "code": "context_length_exceeded",
                    "message": "Your input exceeds the context window of this model. Please adjust your input "
                    "and try again.",
                },
            },
        }
    ),
]

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("bug33a", {"openai": "/openai/v1", "anthropic": "/anthropic"}) as st:
        yield st


def _refused(gw: Stack, rid: str) -> None:
    """The ledger has the refusal (a 4xx), not a 502 empty stream."""
    row = gw.row_for(rid)
    assert row["status"] == 400 and row["error_type"] != "empty_stream", row


def test_claude_code_reads_an_unended_in_band_overflow(gw: Stack, up: ScriptedUpstream) -> None:
    """10v33inband-unended-claude: Claude Code on gpt-4o-mini (translated) gets 400 "prompt is too long"."""
    up.script(CHAT, sse([CHAT_ERROR]))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as err:
        with claude.messages.stream(
            model="gpt-4o-mini",
            max_tokens=32000,
            messages=[{"role": "user", "content": "<a long conversation>"}],
            extra_headers={"x-request-id": "b33a-10-inband-claude"},
        ) as stream:
            stream.get_final_message()
    assert "prompt is too long" in str(err.value).lower()
    _refused(gw, "b33a-10-inband-claude")


def test_chat_client_reads_an_unended_in_band_overflow(gw: Stack, up: ScriptedUpstream) -> None:
    """10v33ibchat-inband-unended: the openai SDK (same format) gets 400 ``context_length_exceeded``."""
    up.script(CHAT, sse([CHAT_ERROR]))
    chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        for _ in chat.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "<a long conversation>"}],
            stream=True,
            extra_headers={"x-request-id": "b33a-10-inband-chat"},
        ):
            pass
    assert err.value.code == "context_length_exceeded"
    _refused(gw, "b33a-10-inband-chat")


@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_an_unended_claude_error_event_is_read(gw: Stack, up: ScriptedUpstream, client: str) -> None:
    """10v33anthropic-error-event-unended(-chat): Claude's error event "prompt is too long", unended, reaches Claude
    Code (passthrough) as itself and a chat client (translated) as ``context_length_exceeded``."""
    rid = f"b33a-10-claude-event-{client}"
    up.script(MESSAGES, sse([CLAUDE_ERROR]))
    messages = [{"role": "user", "content": "<a long conversation>"}]
    if client == "anthropic":
        claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
        with pytest.raises(anthropic.BadRequestError) as err:
            with claude.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=1024,
                messages=messages,
                extra_headers={"x-request-id": rid},
            ) as stream:
                stream.get_final_message()
        assert "prompt is too long" in str(err.value).lower()
    else:
        chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
        with pytest.raises(openai.BadRequestError) as oerr:
            for _ in chat.chat.completions.create(
                model="claude-sonnet-4-5", messages=messages, stream=True, extra_headers={"x-request-id": rid}
            ):
                pass
        assert oerr.value.code == "context_length_exceeded"
    _refused(gw, rid)


def test_codex_reads_an_unended_failed_response(gw: Stack, up: ScriptedUpstream) -> None:
    """10v33resp-failed-unended: a Responses stream (passthrough) whose last event, ``response.failed`` with
    ``context_length_exceeded``, is unended: the openai SDK's Responses client gets that code."""
    up.script(RESPONSES, sse(list(RESPONSE_FAILED)))
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        for _ in client.responses.create(
            model="gpt-4o-mini",
            input="<a long conversation>",
            stream=True,
            extra_headers={"x-request-id": "b33a-10-response-failed"},
        ):
            pass
    assert err.value.code == "context_length_exceeded"
    _refused(gw, "b33a-10-response-failed")


# ---- the same reader, kinds 13 and 17: a finish, or a refusal stating the limit, unended before any token ----
HEAD = {
    "id": "chatcmpl-33a",
    "object": "chat.completion.chunk",
    "created": 1775000000,
    "model": "gpt-4o-mini",
}
EMPTY_ANSWER = b"data: " + orjson.dumps(
    {
        **HEAD,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 0, "total_tokens": 12},
    }
)


def test_an_unended_empty_answer_is_a_success(gw: Stack, up: ScriptedUpstream) -> None:
    """13v33only-finish-unended: the only chunk, an empty answer's finish with its usage, unended: the openai SDK (same
    format) and Claude Code (translated) each get a normal end, the ledger two 200s (was 502 empty_stream)."""
    up.script(CHAT, sse([EMPTY_ANSWER]), sse([EMPTY_ANSWER]))
    chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    finish = None
    for part in chat.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say nothing."}],
        stream=True,
        extra_headers={"x-request-id": "b33a-13-empty-chat"},
    ):
        for choice in part.choices:
            finish = choice.finish_reason or finish
    assert finish == "stop"
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with claude.messages.stream(
        model="gpt-4o-mini",
        max_tokens=100,
        messages=[{"role": "user", "content": "Say nothing."}],
        extra_headers={"x-request-id": "b33a-13-empty-claude"},
    ) as stream:
        events = [event.type for event in stream]
    assert events.count("message_stop") == 1 and "error" not in events
    for rid in ("b33a-13-empty-chat", "b33a-13-empty-claude"):
        row = gw.row_for(rid)
        assert (row["status"], row["error_type"], row["input_tokens"]) == (200, None, 12)


DEEPSEEK = "/deepseek/v1/chat/completions"
CATALOG = """
[[providers]]
name = "deepseek"
base_url = "{url}/deepseek/v1"
models = ["deepseek-chat"]
price = {{ input = 0.27, output = 1.10 }}
"""


cat = catalog_gw("bug33a-cat", CATALOG)


def test_an_unended_in_band_refusal_is_retried_within_its_limit(cat: Stack, up: ScriptedUpstream) -> None:
    """17v33inband-refusal-unended: DeepSeek's refusal of max_tokens 32000 as a 200 stream's only event, unended:
    the gateway reads the stated limit and asks again within 8192 (was a 529 to Claude Code, no retry)."""
    refusal = b"data: " + orjson.dumps(
        {
            "error": {
                "message": "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        }
    )
    ok = [
        b"data: "
        + orjson.dumps(
            {
                **HEAD,
                "model": "deepseek-chat",
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": "Ready."}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32},
            }
        )
        + b"\n\n",
        b"data: [DONE]\n\n",
    ]
    up.script(DEEPSEEK, sse([refusal]), sse(ok))
    claude = anthropic.Anthropic(base_url=cat.gateway_url, api_key="sk-ant-client", max_retries=0)
    with claude.messages.stream(
        model="deepseek-chat",
        max_tokens=32000,
        messages=[{"role": "user", "content": "Warmup"}],
        extra_headers={"x-request-id": "b33a-17-inband-unended"},
    ) as stream:
        message = stream.get_final_message()
    assert [b.text for b in message.content if b.type == "text"] == ["Ready."]
    sent = [seen.json["max_tokens"] for seen in up.seen(DEEPSEEK)]
    assert sent == [32000, 8192]
