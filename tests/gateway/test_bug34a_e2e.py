"""Session 34 (bug34a) variants, end to end: the official openai and anthropic SDKs, the gateway and the recorder as
processes, OpenAI replaced by a scripted upstream.

OpenAI serves some models on the Responses API only (gpt-5-codex, gpt-5-pro, o3-pro, codex-mini…) and refuses them on
chat completions with 404 "This model is only supported in v1/responses and not in v1/chat/completions." The gateway
chose the wire per provider and client format, never per model: Claude Code (Anthropic Messages) or a chat client
asking gpt-5-codex was sent to /v1/chat/completions and got that 404 on every request (variants 10i, 18n). Now a
model in ``openai_compat._RESPONSES_ONLY`` goes to /v1/responses, translated, and one the table does not know is
learned from the refusal: that request tried once more on /v1/responses, the next ones sent there at once (18o, 18p).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import anthropic
import openai
import orjson
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

CHAT = "/openai/v1/chat/completions"
RESPONSES = "/openai/v1/responses"
TEXT = "Written on the Responses wire."
REFUSAL = {
    "error": {
        "message": "This model is only supported in v1/responses and not in v1/chat/completions.",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
}

pytestmark = pytest.mark.usefixtures("fresh_up")


def _event(kind: str, **fields: object) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"


def responses_stream(model: str) -> list[bytes | object]:
    """A Responses API stream of one text message, 27 input and 9 output tokens."""
    base = {"id": "resp_34a", "object": "response", "created_at": 1775000000, "model": model}
    item = {"id": "msg_34a", "type": "message", "role": "assistant"}
    done = {
        **item,
        "status": "completed",
        "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
    }
    usage = {
        "input_tokens": 27,
        "output_tokens": 9,
        "total_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    return [
        _event(
            "response.created", sequence_number=0, response={**base, "status": "in_progress", "output": []}
        ),
        _event(
            "response.output_item.added",
            sequence_number=1,
            output_index=0,
            item={**item, "status": "in_progress", "content": []},
        ),
        _event(
            "response.output_text.delta",
            sequence_number=2,
            item_id="msg_34a",
            output_index=0,
            content_index=0,
            delta=TEXT,
        ),
        _event("response.output_item.done", sequence_number=3, output_index=0, item=done),
        _event(
            "response.completed",
            sequence_number=4,
            response={**base, "status": "completed", "output": [done], "usage": usage},
        ),
    ]


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("bug34a", {"openai": "/openai/v1"}) as st:
        yield st


def _claude_code(gw: Stack, model: str, rid: str) -> str:
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with claude.messages.stream(
        model=model,
        max_tokens=32000,
        messages=[{"role": "user", "content": "Write it."}],
        extra_headers={"x-request-id": rid},
    ) as stream:
        message = stream.get_final_message()
    return "".join(b.text for b in message.content if b.type == "text")


def _chat(gw: Stack, model: str, rid: str) -> str:
    chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    text = ""
    for chunk in chat.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Write it."}],
        stream=True,
        extra_headers={"x-request-id": rid},
    ):
        for choice in chunk.choices:
            text += choice.delta.content or ""
    return text


def test_claude_code_on_gpt_5_codex_goes_to_the_responses_api(gw: Stack, up: ScriptedUpstream) -> None:
    """Variant 18n/10i: Claude Code asking gpt-5-codex (Responses-only) is answered from /v1/responses; chat
    completions is never asked; the ledger has the answer's tokens at gpt-5-codex's price ($1.25 / $10 per MTok)."""
    up.script(RESPONSES, sse(responses_stream("gpt-5-codex")))
    up.script(CHAT, json_answer(REFUSAL, status=404))
    assert _claude_code(gw, "gpt-5-codex", "b34a-codex-claude") == TEXT
    assert not up.seen(CHAT)
    sent = up.seen(RESPONSES)
    assert len(sent) == 1 and sent[0].json["model"] == "gpt-5-codex"
    row = gw.row_for("b34a-codex-claude")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 27, 9), row
    assert row["cost_usd"] == pytest.approx((27 * 1.25 + 9 * 10) / 1e6, abs=1e-12)


@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_a_responses_only_model_is_learned_from_the_refusal(
    gw: Stack, up: ScriptedUpstream, client: str
) -> None:
    """Variants 18o, 18p: a Responses-only model no table knows. Chat completions refuses it (404); the same request
    is sent again to /v1/responses and the client gets its answer; the next request goes there at once."""
    model = f"gpt-5.9-codex-{client}"
    ask = _claude_code if client == "anthropic" else _chat
    up.script(CHAT, json_answer(REFUSAL, status=404))
    up.script(RESPONSES, sse(responses_stream(model)), sse(responses_stream(model)))
    assert ask(gw, model, f"b34a-learn-{client}-1") == TEXT
    assert ask(gw, model, f"b34a-learn-{client}-2") == TEXT
    assert len(up.seen(CHAT)) == 1 and len(up.seen(RESPONSES)) == 2
    for n in (1, 2):
        row = gw.row_for(f"b34a-learn-{client}-{n}")
        assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 27, 9), row


def test_another_404_is_not_read_as_responses_only(gw: Stack, up: ScriptedUpstream) -> None:
    """A model OpenAI does not have (404 ``model_not_found``) is not sent again to /v1/responses: the client gets
    the 404."""
    up.script(
        CHAT,
        json_answer(
            {
                "error": {
                    "message": "The model `gpt-9-nope` does not exist or you do not have access to it.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "model_not_found",
                }
            },
            status=404,
        ),
    )
    with pytest.raises(openai.NotFoundError):
        _chat(gw, "gpt-9-nope", "b34a-not-found")
    assert not up.seen(RESPONSES)
