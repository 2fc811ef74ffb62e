"""Which clients get a translated route's rate limit told in their stream (``_retry_words.waits_only_in_stream``):
every product that runs codex-rs, by the ``originator`` it sends (codex-rs ``default_client.rs``: ``codex_cli_rs``,
``codex-tui``, ``codex_vscode``, "Codex " and a product's name for the desktop app, ``codex_exec`` in the recorded
turn) or by the per-turn ``x-codex-turn-metadata`` header codex-rs's core sends whatever the originator; no other.

Review33: ``startswith("codex")`` missed "Codex Desktop" (the desktop app's originator) and an app-server client
whose ``client_name`` is its originator: their turns ended on an HTTP 429.
"""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from services.gateway.dialects import registry
from services.gateway.dialects._retry_words import waits_only_in_stream

CODEX = ["codex_exec", "codex_cli_rs", "codex-tui", "codex_vscode", "codex_sdk_ts", "Codex Desktop", "codex"]
OTHERS = ["", "opencode", "pi", "codexify", "my-codex_tool", "openai-python"]


@pytest.mark.parametrize("originator", CODEX)
def test_every_codex_product_is_known_by_its_originator(originator: str) -> None:
    assert waits_only_in_stream(CIMultiDict({"Originator": originator}))


@pytest.mark.parametrize("originator", OTHERS)
def test_no_other_originator_is_taken_for_codex(originator: str) -> None:
    assert not waits_only_in_stream(
        CIMultiDict({"originator": originator, "user-agent": "OpenAI/Python 3.60"})
    )


def test_an_app_server_client_is_known_by_codex_turn_header() -> None:
    headers = CIMultiDict({"originator": "acme_ide", "X-Codex-Turn-Metadata": '{"turn_id":"t1"}'})
    assert waits_only_in_stream(headers)
    assert not waits_only_in_stream(CIMultiDict({"originator": "acme_ide"}))


def test_only_the_responses_client_asks() -> None:
    headers = CIMultiDict({"originator": "Codex Desktop"})
    assert registry.client("openai_responses").waits_only_in_stream(headers)
    assert not registry.client("openai_chat").waits_only_in_stream(headers)
    assert not registry.client("anthropic").waits_only_in_stream(headers)
