"""A non-streamed request that an OpenAI-compatible server answers with an event stream anyway, whose connection
drops after the finish chunk (no usage chunk, no ``[DONE]``, no chunked end): the answer is whole (bugcase 13's
kind: a finish reason says the answer is complete, not the sentinel or a clean close; bug28a variant 13-vO).
Before the fix the broken body was a 502 ``broken_response`` ("response broke off") for every client; a streamed
request with the same bytes was a 200 already. Cut before the finish, it stays a failure. Real processes:
recorder and gateway; the scripted upstream stands for the server (a catalog provider); the official SDKs are the
clients.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog_gw
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

LOCAL = "/local/v1/chat/completions"
MODEL = "local-llama"
CATALOG = """
[[providers]]
name = "local"
base_url = "{url}/local/v1"
models = ["local-llama"]
price = {{ input = 0, output = 0 }}
"""

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("nonstream-sse-cut", CATALOG)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    obj = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    obj["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


TEXT = [_chunk({"role": "assistant", "content": "Hello"}), _chunk({"content": " there"})]


def test_a_streamed_answer_cut_after_its_finish_reaches_a_chat_client_whole(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(LOCAL, sse([*TEXT, _chunk({}, "stop")], abort=True))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "cut28-chat"},
    )
    answer = raw.parse()
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == ("Hello there", "stop")
    assert gw.row_for("cut28-chat")["status"] == 200


def test_a_streamed_answer_cut_after_its_finish_reaches_claude_code_whole(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(LOCAL, sse([*TEXT, _chunk({}, "stop")], abort=True))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    message = client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert [b.text for b in message.content if b.type == "text"] == ["Hello there"]
    assert message.stop_reason == "end_turn"


def test_a_streamed_answer_cut_before_its_finish_is_an_error(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LOCAL, sse(TEXT, abort=True))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": "cut28-early"},
        )
    assert caught.value.status_code >= 500
    row = gw.row_for("cut28-early")
    assert row["status"] >= 500 and row["error_type"]
