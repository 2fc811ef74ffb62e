"""Session 32 (review32), end to end: missed siblings of session 31's fixes. The official SDKs, the gateway and a
scripted upstream, over real sockets.

A streamed Responses answer that fails with a context overflow's code (``response.failed``, ``error.code``
``context_length_exceeded`` or ``model_context_window_exceeded``) in words that do not say it: the client's 400
``context_length_exceeded``, as the whole answer's twin (fix31, ``test_fix31_e2e``) and a chat stream's in-band error
(``stream_error_from_openai``) are. Before: the stream's reader kept the words alone (``stream_error_from_responses``),
so the overflow was a server fault: the client got a 500 (Codex retries it instead of compacting), the ledger 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import openai
import orjson
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

RESPONSES = "/openai/v1/responses"
OPENED = {
    "id": "resp_32",
    "object": "response",
    "created_at": 1,
    "status": "in_progress",
    "model": "gpt-5",
    "output": [],
    "error": None,
}


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **obj}) + b"\n\n"


@pytest.fixture()
def oai(
    up: ScriptedUpstream, scripted_stack: Callable[..., AbstractContextManager[Stack]]
) -> Iterator[Stack]:
    up.reset()
    with scripted_stack("review32-oai", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


@pytest.mark.parametrize("code", ["context_length_exceeded", "model_context_window_exceeded"])
def test_a_streamed_response_failed_with_an_overflow_code_is_the_clients_400(
    oai: Stack, up: ScriptedUpstream, code: str
) -> None:
    failed = {
        **OPENED,
        "status": "failed",
        "error": {"code": code, "message": "The request could not be completed."},
    }
    up.script(
        RESPONSES,
        sse(
            [
                _event("response.created", {"response": OPENED, "sequence_number": 0}),
                _event("response.failed", {"response": failed, "sequence_number": 1}),
            ]
        ),
    )
    client = openai.OpenAI(base_url=oai.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30)
    rid = f"review32-stream-{code}"
    with pytest.raises(openai.BadRequestError) as caught:
        with client.responses.create(
            model="gpt-5", input="hi", stream=True, extra_headers={"x-request-id": rid}
        ) as s:
            for _ in s:
                pass
    assert caught.value.code == "context_length_exceeded"  # (before: InternalServerError, 500)
    assert "The request could not be completed." in caught.value.message
    assert oai.row_for(rid)["status"] == 400
    assert len(up.seen(RESPONSES)) == 1  # the client's to mend: no retry
