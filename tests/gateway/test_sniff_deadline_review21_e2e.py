"""Review of session 21's sniff of a chunked ``application/json`` answer to a streamed request
(``Proxy._sniffed``): the wait for its first byte that is not white space is bounded by one first-byte deadline
for the whole wait. An upstream that trickles white space (a non-streaming proxy's keep-alive) more often than
the timeout used to restart it with every piece: the client waited, with no keep-alive, as long as the
upstream pleased. Now the attempt fails at the deadline (a 502 "stream broke before its first token" in the client's format and in the ledger).

Real processes: recorder and gateway; the scripted upstream (white space every 0.3 s for 9 s, then a whole
chat answer, against a 1.5 s first-byte timeout); the official OpenAI SDK as the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream

XAI = "/xai/v1/chat/completions"
WHOLE = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "grok-3-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack(
        "sniff-deadline", {"xai": "/xai/v1"}, BREAKER_FAILURES="1000", UPSTREAM_FIRST_BYTE_TIMEOUT="1.5"
    ) as st:
        yield st


def test_white_space_trickled_past_the_first_byte_deadline_is_a_timeout(
    gw: Stack, up: ScriptedUpstream
) -> None:
    pieces: list[bytes | Pause] = [p for _ in range(30) for p in (b" ", Pause(0.3))]
    up.script(XAI, Answer(body=[*pieces, json.dumps(WHOLE).encode()]))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0, timeout=60.0)
    ask = [{"role": "user", "content": "Say hello."}]
    with pytest.raises(openai.APIStatusError) as failed:
        list(client.chat.completions.create(model="grok-3-mini", messages=ask, stream=True))
    assert failed.value.status_code == 502 and "before its first token" in failed.value.message
    row = gw.row_for(failed.value.response.headers["x-request-id"])
    assert row["status"] == 502
