"""A whole (non-streamed) chat answer whose finish reason says the server cut it (``CUT_FINISH``: DeepSeek's
``insufficient_system_resource``, Z.ai's ``network_error``, vLLM's ``abort``) is a failure to a translated client,
as the same finish reason in a stream is since bug25b (review25: the non-streamed path still answered Claude Code
``end_turn`` and Codex ``completed``, a cut answer as a whole one). Real gateway, recorder and scripted upstream;
the official anthropic and openai SDKs as clients.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

CATALOG = """
[[providers]]
name = "deepseek"
base_url = "{up}/deepseek/v1"
models = ["deepseek-chat"]
price = {{ input = 0.27, output = 1.10 }}

[[providers]]
name = "zai"
base_url = "{up}/zai/v1"
models = ["glm-4.6"]
price = {{ input = 0.6, output = 2.2 }}
"""
DEEPSEEK = "/deepseek/v1/chat/completions"
ZAI = "/zai/v1/chat/completions"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("cut-whole-review25")
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(up=up.url))
    with stack(tmp, {}, CATALOG_PATH=str(catalog), BREAKER_FAILURES="1000") as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


def _cut(model: str, reason: str) -> dict[str, object]:
    choice = {"index": 0, "message": {"role": "assistant", "content": "Hel"}, "finish_reason": reason}
    return {"id": "c1", "object": "chat.completion", "model": model, "choices": [choice], "usage": USAGE}


def test_claude_code_is_told_a_whole_deepseek_answer_was_cut(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(DEEPSEEK, json_answer(_cut("deepseek-chat", "insufficient_system_resource")))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as failed:
        claude.messages.create(
            model="deepseek-chat",
            max_tokens=100,
            messages=[{"role": "user", "content": "Say hello."}],
            extra_headers={"x-request-id": "review25-cut-deepseek"},
        )
    assert failed.value.status_code == 529  # overloaded_error: how Anthropic says 503
    assert "insufficient_system_resource" in str(failed.value)
    assert gw.row_for("review25-cut-deepseek")["status"] >= 500  # not the 200 of a whole answer


def test_codex_is_told_a_whole_zai_answer_was_cut(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(ZAI, json_answer(_cut("glm-4.6", "network_error")))
    codex = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIStatusError) as failed:
        codex.responses.create(
            model="glm-4.6", input="Say hello.", extra_headers={"x-request-id": "review25-cut-zai"}
        )
    assert failed.value.status_code >= 500
    assert "network_error" in str(failed.value)
    assert gw.row_for("review25-cut-zai")["status"] >= 500
