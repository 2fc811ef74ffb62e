"""Random request bodies through the real gateway: a clear answer in the client's format, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack
from tests.unit.test_fuzz_translation import json_values

MODELS = ["gpt-4o-mini", "claude-haiku-4-5", "no-such-model", ""]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fo, fa = FakeProvider.start_in_thread(name="openai"), FakeProvider.start_in_thread(name="anthropic")
    try:
        with stack(tmp_path_factory.mktemp("fuzz"), {"openai": fo.openai_base_url, "anthropic": fa.base_url}) as s:
            yield s
    finally:
        fo.stop()
        fa.stop()


request_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(MODELS), "messages": json_values},
    optional={"max_tokens": json_values, "stream": st.booleans(), "system": json_values,
              "tools": json_values, "tool_choice": json_values, "stop": json_values, "thinking": json_values},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=request_bodies, path=st.sampled_from(["/v1/chat/completions", "/v1/messages",
                                                  "/v1/messages/count_tokens"]))
def test_random_bodies_never_get_a_500(gw: Stack, body: dict[str, Any], path: str) -> None:
    resp = httpx.post(gw.gateway_url + path, json=body, headers={"x-api-key": "k"}, timeout=30)
    assert resp.status_code < 500, resp.text
    assert resp.headers["x-request-id"]
    if resp.status_code >= 400:
        err = resp.json()
        if path.startswith("/v1/messages"):
            assert err["type"] == "error" and err["error"]["message"]
        else:
            assert err["error"]["message"]
