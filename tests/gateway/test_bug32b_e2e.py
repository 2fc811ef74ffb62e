"""Session 32 (bug32b) variants, end to end: the official openai and anthropic SDKs, the gateway and the recorder as
processes, a catalog route (chat wire) replaced by a scripted upstream.

- 13vD / 13vL / 13vO: a stream without ``data: [DONE]`` whose last line never ended: the server (or a proxy trimming
  the body's trailing whitespace) closed the body right after the last chunk's JSON text, no line break. The finish
  chunk (13vD, 13vL) or the usage chunk after it (13vO) was dropped as half a line: the chat client got an error
  frame after the complete answer and the ledger a 502 broken_stream (Claude Code: an error event, no message_stop),
  or the answer ended but the ledger had 0 tokens.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.e2e_builders import USAGE, catalog, catalog_gw, provider, unended_chat_stream
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

LOCAL = "/local/v1/chat/completions"
MODEL = "local-llama"
HEAD = {"id": "chatcmpl-32b", "object": "chat.completion.chunk", "created": 1775000000, "model": MODEL}

pytestmark = pytest.mark.usefixtures("fresh_up")
gw = catalog_gw("bug32b", catalog(provider("local", MODEL, price=(1, 2))))


def _billed(gw: Stack, rid: str) -> None:
    row = gw.row_for(rid)
    assert (row["status"], row["error_type"], row["input_tokens"], row["output_tokens"]) == (200, None, 12, 3)
    assert row["cost_usd"] == pytest.approx((12 * 1 + 3 * 2) / 1e6)


@pytest.mark.parametrize(
    ("usage_apart", "two_lines"),
    [(False, False), (True, False), (True, True)],
    ids=["13vD-finish-unended", "13vO-usage-unended", "13vT-usage-two-lines-unended"],
)
def test_chat_client_stream_whose_last_line_never_ended(
    gw: Stack, up: ScriptedUpstream, usage_apart: bool, two_lines: bool
) -> None:
    """The openai SDK (same format) reads the whole answer with its finish reason and no error; the ledger row is a
    200 with the 12 / 3 tokens at the route's price."""
    rid = f"b32b-13-chat-{usage_apart}-{two_lines}"
    up.script(LOCAL, sse(unended_chat_stream(HEAD, USAGE, usage_apart=usage_apart, two_lines=two_lines)))
    chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    stream = chat.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say hello."}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-request-id": rid},
    )
    text, finish, usage = "", None, None
    for part in stream:  # an error frame raises openai.APIError here
        for choice in part.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        usage = part.usage or usage
    assert (text, finish) == ("Hello there!", "stop")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (12, 3)
    _billed(gw, rid)


def test_claude_code_stream_whose_last_line_never_ended(gw: Stack, up: ScriptedUpstream) -> None:
    """13vL: the anthropic SDK (translated) gets the text, end_turn and message_stop, no error event; ledger 200."""
    up.script(LOCAL, sse(unended_chat_stream(HEAD, USAGE, usage_apart=False)))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with claude.messages.stream(
        model=MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": "Say hello."}],
        extra_headers={"x-request-id": "b32b-13vL"},
    ) as stream:
        message = stream.get_final_message()  # an error event raises here
    assert [b.text for b in message.content if b.type == "text"] == ["Hello there!"]
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 3
    _billed(gw, "b32b-13vL")
