"""Session 35 (bill35): a model served on the Responses API only, behind a configured OpenAI-compatible server.

Azure OpenAI (a deployment of gpt-5-codex), or a LiteLLM proxy in front of OpenAI, refuses such a model on chat
completions as OpenAI does: 404 "This model is only supported in v1/responses and not in v1/chat/completions."
bug34a taught only OpenAI's own provider to send it to /v1/responses. Now the refusal is read by the chat wire
(``WireSpec.served_only_on``) for any provider that speaks the Responses wire too: a catalog provider with
``responses = true`` (docs/catalog.md). One without it speaks chat only: the refusal stays the client's 404.

Real gateway and recorder processes, the scripted upstream speaking OpenAI's wires, the official openai SDK.
"""

from __future__ import annotations

import openai
import pytest

from tests.e2e_builders import catalog, catalog_gw, provider
from tests.gateway.test_bug34a_e2e import REFUSAL, TEXT, responses_stream
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")

CATALOG = catalog(
    provider("azure", "codex-deploy", "codex-deploy-2", price=(1.25, 10.0), extra="responses = true"),
    provider("chatonly", "codex-elsewhere", price=(1.25, 10.0)),
)
gw = catalog_gw("responses-relay35", CATALOG, BREAKER_FAILURES="1000")
AZURE_CHAT = "/azure/v1/chat/completions"
AZURE_RESPONSES = "/azure/v1/responses"


def _chat(gw: Stack, model: str, rid: str) -> str:
    text = ""
    with openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="k", max_retries=0, timeout=30) as chat:
        for chunk in chat.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Write it."}],
            stream=True,
            extra_headers={"x-request-id": rid},
        ):
            for choice in chunk.choices:
                text += choice.delta.content or ""
    return text


def test_a_relays_responses_only_model_is_learned_from_its_refusal(gw: Stack, up: ScriptedUpstream) -> None:
    """The relay refuses the deployment on chat completions (404); the request is sent again to its /v1/responses
    and the client gets the answer; the next request goes there at once. Before: the client's 404, every time."""
    up.script(AZURE_CHAT, json_answer(REFUSAL, status=404))
    up.script(AZURE_RESPONSES, sse(responses_stream("codex-deploy")), sse(responses_stream("codex-deploy")))
    assert _chat(gw, "codex-deploy", "r35-learn-1") == TEXT
    assert _chat(gw, "codex-deploy", "r35-learn-2") == TEXT
    assert len(up.seen(AZURE_CHAT)) == 1 and len(up.seen(AZURE_RESPONSES)) == 2
    first, second = gw.row_for("r35-learn-1"), gw.row_for("r35-learn-2")
    assert (first["status"], first["attempts"], first["provider_format"]) == (200, 2, "openai_responses")
    assert (second["status"], second["attempts"], second["provider_format"]) == (200, 1, "openai_responses")
    for row in (first, second):
        assert (row["provider"], row["input_tokens"], row["output_tokens"]) == ("azure", 27, 9), row
        assert row["cost_usd"] == pytest.approx((27 * 1.25 + 9 * 10) / 1e6, abs=1e-12)


def test_a_responses_client_passes_through_to_a_relay_that_speaks_it(gw: Stack, up: ScriptedUpstream) -> None:
    """A Responses client's request goes to the relay's /v1/responses untranslated (not to its chat completions)."""
    up.script(AZURE_RESPONSES, sse(responses_stream("codex-deploy-2")))
    with openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="k", max_retries=0, timeout=30) as client:
        kinds = [
            event.type
            for event in client.responses.create(
                model="codex-deploy-2",
                input="Write it.",
                stream=True,
                extra_headers={"x-request-id": "r35-pass"},
            )
        ]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    assert not up.seen(AZURE_CHAT) and len(up.seen(AZURE_RESPONSES)) == 1
    row = gw.row_for("r35-pass")
    assert (row["status"], row["translated"], row["provider_format"]) == (200, 0, "openai_responses")
    assert (row["provider"], row["input_tokens"], row["output_tokens"]) == ("azure", 27, 9)


def test_a_chat_only_server_keeps_the_refusal(gw: Stack, up: ScriptedUpstream) -> None:
    """A configured server without ``responses = true`` speaks chat only: no wire of its serves the model, the
    client gets the 404 and nothing is sent to a /v1/responses it may not have."""
    up.script("/chatonly/v1/chat/completions", json_answer(REFUSAL, status=404))
    with pytest.raises(openai.NotFoundError):
        _chat(gw, "codex-elsewhere", "r35-chat-only")
    assert not up.seen("/chatonly/v1/responses")
    assert gw.row_for("r35-chat-only")["status"] == 404
