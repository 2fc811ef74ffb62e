"""Session 27 (fix27) end to end: the review leads session 26 left.

- A streamed request's in-stream error (before its first token) says when to retry as an HTTP error would: the
  stream's rate-limit headers; before, only the error object was read.

Real gateway and recorder processes, the scripted upstream, the official SDKs as clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CATALOG = """
[[providers]]
name = "cheap"
base_url = "{url}/cheap/v1"
models = ["m27", "solo27"]
price = {{ input = 0.1, output = 0.1 }}

[[providers]]
name = "dear"
base_url = "{url}/dear/v1"
models = ["m27"]
price = {{ input = 1.0, output = 1.0 }}

[[providers]]
name = "resting"
base_url = "{url}/resting/v1"
models = ["rest27"]
"""
CHEAP = "/cheap/v1/chat/completions"
DEAR = "/dear/v1/chat/completions"
RESTING = "/resting/v1/chat/completions"  # rests after its 429: no other test asks it
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def gw(catalog_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with catalog_stack("fix27", CATALOG, BREAKER_FAILURES="1000") as st:
        yield st


def _frame(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def test_an_error_event_before_the_first_token_carries_the_retry_hint_of_its_headers(
    gw: Stack, up: ScriptedUpstream
) -> None:
    error = {"error": {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}}
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
    up.script(RESTING, sse([_frame(error)], headers=headers))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as failed:
            client.chat.completions.create(
                model="rest27",
                messages=HI,  # type: ignore[arg-type]
                stream=True,
                extra_headers={"x-request-id": "fix27-retry-stream"},
            )
    assert failed.value.response.headers.get("retry-after") == "20"
