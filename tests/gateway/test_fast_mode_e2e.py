"""Anthropic fast mode through the real gateway and recorder processes: the request's ``speed`` and its
beta header reach Anthropic untouched, the answer's ``usage.speed`` prices the ledger row at the model's
fast rates to the micro-dollar (streamed and not), a fallback to standard at standard, and an Anthropic
request routed to an OpenAI-format server does not carry ``speed`` there (``anthropic_to_chat`` keeps
only fields it maps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.types.beta import BetaMessage

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

ANTHROPIC = "/anthropic/v1/messages"
OPENAI = "/openai/v1/chat/completions"
BETA = "fast-mode-2026-02-01"
USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 30_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 400,
}
# Opus 4.6 standard: input 5, 5-minute cache write 6.25, cache read 0.50, output 25 per MTok → 43,500 µ$;
# fast mode is 6× every category (fast-mode docs: $30 / $150, caching on top of the fast base rates).
STANDARD = (1200 * 5 + 2000 * 6.25 + 30_000 * 0.5 + 400 * 25) / 1e6
FAST = 6 * STANDARD  # 0.261


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    providers = {"anthropic": f"{up.url}/anthropic", "openai": f"{up.url}/openai/v1"}
    with stack(tmp_path_factory.mktemp("fast"), providers) as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


@pytest.fixture()
def ant(gw: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.gateway_url, api_key="client", max_retries=0)


def message(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_fast",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": [{"type": "text", "text": "Done."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def stream(start_usage: dict[str, Any], delta_usage: dict[str, Any]) -> list[bytes]:
    start = message({**start_usage})
    start["content"], start["stop_reason"] = [], None
    events = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done."}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": delta_usage,
        },
        {"type": "message_stop"},
    ]
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


def header(seen: dict[str, str], name: str) -> str:
    return next((v for k, v in seen.items() if k.lower() == name), "")


def ask(ant: anthropic.Anthropic, rid: str, model: str = "claude-opus-4-6") -> str:
    reply = ant.beta.messages.create(
        model=model,
        max_tokens=1024,
        speed="fast",
        betas=[BETA],
        messages=[{"role": "user", "content": "Refactor this module."}],
        extra_headers={"x-request-id": rid},
    )
    return "".join(b.text for b in reply.content if b.type == "text")


def ask_streamed(ant: anthropic.Anthropic, rid: str) -> BetaMessage:
    """The same request as ``ask``, streamed: the final message the SDK assembles."""
    with ant.beta.messages.stream(
        model="claude-opus-4-6",
        max_tokens=1024,
        speed="fast",
        betas=[BETA],
        messages=[{"role": "user", "content": "Refactor this module."}],
        extra_headers={"x-request-id": rid},
    ) as s:
        return s.get_final_message()


def test_fast_answer_is_priced_fast_and_the_request_reaches_anthropic_untouched(
    gw: Stack, up: ScriptedUpstream, ant: anthropic.Anthropic
) -> None:
    up.script(ANTHROPIC, json_answer(message({**USAGE, "speed": "fast"})))
    assert ask(ant, "fast-plain") == "Done."
    seen = up.seen(ANTHROPIC)[-1]
    assert seen.json["speed"] == "fast"
    assert BETA in header(seen.headers, "anthropic-beta")
    row = gw.row_for("fast-plain")
    assert row["cost_usd"] == pytest.approx(FAST, abs=1e-9)  # was 0.0435: the standard price


def test_fast_stream_is_priced_fast_from_its_message_start(
    gw: Stack, up: ScriptedUpstream, ant: anthropic.Anthropic
) -> None:
    """``usage.speed`` comes in ``message_start``'s usage; ``message_delta`` repeats only the counts."""
    start = {**USAGE, "output_tokens": 1, "speed": "fast"}
    up.script(ANTHROPIC, sse(stream(start, {"output_tokens": 400})))
    final = ask_streamed(ant, "fast-stream")
    assert final.usage.speed == "fast" and final.usage.output_tokens == 400
    seen = up.seen(ANTHROPIC)[-1]
    assert seen.json["speed"] == "fast" and seen.json["stream"] is True
    assert BETA in header(seen.headers, "anthropic-beta")
    assert gw.row_for("fast-stream")["cost_usd"] == pytest.approx(FAST, abs=1e-9)


def test_a_fast_request_served_at_standard_speed_is_billed_at_standard(
    gw: Stack, up: ScriptedUpstream, ant: anthropic.Anthropic
) -> None:
    up.script(
        ANTHROPIC, sse(stream({**USAGE, "output_tokens": 1, "speed": "standard"}, {"output_tokens": 400}))
    )
    ask_streamed(ant, "fast-fell-back")
    assert gw.row_for("fast-fell-back")["cost_usd"] == pytest.approx(STANDARD, abs=1e-9)


def test_speed_is_not_sent_to_an_openai_format_server(
    gw: Stack, up: ScriptedUpstream, ant: anthropic.Anthropic
) -> None:
    """Claude Code with /fast on, its model mapped to gpt-4o: OpenAI would refuse an unknown ``speed``
    (400 "Unrecognized request argument"); the translated request carries only the fields it maps."""
    up.script(
        OPENAI,
        json_answer(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1775000000,
                "model": "gpt-4o",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Done."},
                    }
                ],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
            }
        ),
    )
    assert ask(ant, "fast-translated", model="gpt-4o") == "Done."
    sent = up.seen(OPENAI)[-1].json
    assert "speed" not in sent and sent["model"] == "gpt-4o"
    assert gw.row_for("fast-translated")["cost_usd"] == pytest.approx(
        (1000 * 2.5 + 100 * 10) / 1e6, abs=1e-12
    )
