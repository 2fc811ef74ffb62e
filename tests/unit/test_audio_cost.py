"""Audio tokens in the ledger's cost (pure; s17 variant 28-a): OpenAI reports the audio parts of a chat answer's
counts in ``prompt_tokens_details.audio_tokens`` and ``completion_tokens_details.audio_tokens``, billed at the
model's audio rates (gpt-audio: $2.5 / $10 per MTok of text in / out, $32 / $64 of audio; genai-prices'
``input_audio_mtok`` / ``output_audio_mtok``), not at the text ones. A model without audio rates, and an answer
without audio, keep the text price."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.gateway.calls import Attempt, Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects._openai_wire import usage_from_openai
from services.gateway.dialects.ir import Usage
from services.gateway.providers.base import Route
from shared.pricing import Pricer


def cost(usage: Usage, model: str) -> float | None:
    call = Call(registry.ENDPOINTS["/v1/chat/completions"], "req", {}, time.monotonic(), time.time())
    call.model = model
    call.attempts.append(
        Attempt(Route("openai", model), "openai", False, answered=True, status=200, usage=usage)
    )
    call.answer(200)
    return event_for(call, Pricer(), time.time(), 1.0).cost_usd


def usage(audio_in: Any, audio_out: Any) -> Usage:
    return usage_from_openai(
        {
            "prompt_tokens": 50,
            "completion_tokens": 200,
            "total_tokens": 250,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": audio_in, "text_tokens": 50},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": audio_out,
                "text_tokens": 20,
            },
        }
    )


def test_audio_output_tokens_are_priced_at_the_audio_rate() -> None:
    u = usage(0, 180)
    assert (u.input_tokens, u.output_tokens, u.audio_input_tokens, u.audio_output_tokens) == (50, 200, 0, 180)
    # 50 text in at 2.5, 20 text out at 10, 180 audio out at 64 (the text-only price was 0.002125)
    assert cost(u, "gpt-audio") == pytest.approx((50 * 2.5 + 20 * 10 + 180 * 64) / 1e6, abs=1e-12)


def test_audio_input_tokens_are_priced_at_the_audio_rate() -> None:
    assert cost(usage(40, 0), "gpt-audio") == pytest.approx((10 * 2.5 + 40 * 32 + 200 * 10) / 1e6, abs=1e-12)


@pytest.mark.parametrize(("audio_in", "audio_out"), [(0, 0), (None, None), ("40", True), (-5, -1)])
def test_no_audio_count_keeps_the_text_price(audio_in: Any, audio_out: Any) -> None:
    u = usage(audio_in, audio_out)
    assert (u.audio_input_tokens, u.audio_output_tokens) == (0, 0)
    assert cost(u, "gpt-audio") == pytest.approx((50 * 2.5 + 200 * 10) / 1e6, abs=1e-12)


def test_a_model_without_audio_rates_prices_audio_as_text() -> None:
    # gpt-4o-mini lists no audio rate: its counts at its text rates (0.15 / 0.6)
    assert cost(usage(10, 180), "gpt-4o-mini") == pytest.approx((50 * 0.15 + 200 * 0.6) / 1e6, abs=1e-12)


def test_audio_counts_never_exceed_their_totals() -> None:
    u = usage_from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "prompt_tokens_details": {"audio_tokens": 99},
            "completion_tokens_details": {"audio_tokens": 99},
        }
    )
    assert (u.audio_input_tokens, u.audio_output_tokens) == (10, 5)
