"""A 429 that says ``retry-after: 0`` on the only route: backed off, and never the breaker's business.

Before: the gateway sent its ``MAX_ATTEMPTS`` back to back (``x-ekai-attempts: 4`` within milliseconds), and
five such 429s opened the provider's breaker, so the next requests got a 503 with ``retry-after: 30`` from a
provider that had said "now". Now (``routing/health.py``, docs/catalog.md "Fallback"): a 429 that states its
wait rests the provider for that wait and does not count towards the breaker; a stated 0 rests it the openai
and anthropic SDKs' backoff (0.5 s, doubled per such 429 in a row, at most 8 s). Real gateway and recorder
processes, the scripted upstream speaking OpenAI's chat wire, the official openai SDK. Nothing here measures
time: the attempts a request makes within ``RETRY_AFTER_MAX_WAIT`` and the statuses are what is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

CHAT = "/openai/chat/completions"
LIMITED = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
pytestmark = pytest.mark.usefixtures("fresh_up")


def now_429() -> object:
    return json_answer(LIMITED, 429, headers={"retry-after": "0"})


def client(st: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=st.gateway_url + "/v1", api_key="k", max_retries=0)


def ask(st: Stack) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        client(st).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    return caught.value


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    # one second of waiting per request: room for the first backoff (0.5 s), not for the second (1 s more)
    with stack(tmp_path, {"openai": f"{up.url}/openai"}, RETRY_AFTER_MAX_WAIT="1") as st:
        yield st


def test_a_retry_now_429_is_backed_off_not_resent_at_once(gw: Stack, up: ScriptedUpstream) -> None:
    for _ in range(4):
        up.script(CHAT, now_429())
    refused = ask(gw)
    assert refused.status_code == 429
    # 0.5 s of rest fit in the second of waiting, the next 1 s did not: two attempts, not four back to back
    assert refused.response.headers["x-ekai-attempts"] == "2"
    assert len(up.seen(CHAT)) == 2


def test_retry_now_429s_never_open_the_breaker(up: ScriptedUpstream, tmp_path: Path) -> None:
    for _ in range(8):
        up.script(CHAT, now_429())
    # ten seconds of waiting: the first request rests 0.5 + 1 + 2 s between its four attempts, the second
    # 4 s before its one (the fifth 429 in a row: BREAKER_FAILURES), then 8 s would be too long
    with stack(tmp_path, {"openai": f"{up.url}/openai"}, RETRY_AFTER_MAX_WAIT="10") as st:
        first, second = ask(st), ask(st)
        assert first.response.headers["x-ekai-attempts"] == "4"
        assert len(up.seen(CHAT)) == 5
        assert first.status_code == second.status_code == 429
        last = ask(st)  # the provider rests on its rate limit, its breaker closed: no 503 for 30 s
        assert last.status_code == 429, last.body
        assert (
            int(last.response.headers["retry-after"]) <= 8
        )  # the backoff's bound, not BREAKER_COOLDOWN's 30
        provider = st.health()["providers"]["openai"]
    assert provider["consecutive_failures"] == 0 and provider.get("reason") == "retry_after", provider
