"""``usage_from_openai`` builds its ``Usage`` with every field by position (session 27: no keyword dict in the type
call): each field must still hold what its name says. A usage whose every count differs from the others (and an
answer's tier) gives each field its own value, so a count put in another field's place fails here."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects._openai_wire import usage_from_openai
from services.gateway.dialects.ir import Usage


def _own(
    prompt: int, output: int, read: int, write: int, audio_in: int, reasoning: int, audio_out: int
) -> dict:
    total = prompt + output + reasoning + 1
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": total,
        "prompt_tokens_details": {
            "cached_tokens": read,
            "cache_write_tokens": write,
            "audio_tokens": audio_in,
        },
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": audio_out},
    }


def test_each_field_holds_its_own_count() -> None:
    got = usage_from_openai(_own(1000, 300, 100, 20, 7, 40, 3), "flex")
    assert dataclasses.asdict(got) == dataclasses.asdict(
        Usage(
            input_tokens=880,
            output_tokens=300,
            cache_read_tokens=100,
            cache_write_tokens=20,
            reasoning_tokens=40,
            provider_cost_usd=None,
            cache_write_1h_tokens=0,
            web_search_requests=0,
            iterations=(),
            reported_total_tokens=1341,
            cache_write_split=False,
            inference_geo=None,
            speed=None,
            service_tier="flex",
            audio_input_tokens=7,
            audio_output_tokens=3,
            file_search_calls=0,
            counts_beside_stated=True,
        )
    )


def test_the_other_servers_fields_by_position() -> None:
    """A usage read past OpenAI's own keys (a cost, searches, a TTL split, writes at the top): the same fields."""
    u = {
        "prompt_tokens": 500,
        "completion_tokens": 60,
        "total_tokens": 560,
        "cache_creation_input_tokens": 30,
        "cache_creation": {"ephemeral_5m_input_tokens": 21, "ephemeral_1h_input_tokens": 9},
        "server_tool_use": {"web_search_requests": 2},
        "cost": 0.25,
        "prompt_tokens_details": {"cached_tokens": 40},
    }
    got = usage_from_openai(u, None)
    assert (got.input_tokens, got.output_tokens, got.cache_read_tokens, got.cache_write_tokens) == (
        430,
        60,
        40,
        30,
    )
    assert (got.cache_write_1h_tokens, got.web_search_requests, got.provider_cost_usd) == (9, 2, 0.25)
    assert (got.cache_write_split, got.reported_total_tokens, got.service_tier) == (True, 560, None)
    assert (got.iterations, got.inference_geo, got.speed, got.file_search_calls) == ((), None, None, 0)
    assert (got.counts_beside_stated, got.billed_once_as) == (False, None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=7, max_size=7), st.sampled_from((None, "default", 3)))
def test_the_audio_parts_are_never_more_than_their_counts(counts: list[int], tier: object) -> None:
    """``min`` spelled as a test: the audio parts are the smaller of the part and its count, as before."""
    got = usage_from_openai(_own(*counts), tier)
    assert got.audio_input_tokens == min(max(counts[4], 0), got.input_tokens)
    assert got.audio_output_tokens == min(counts[6], got.output_tokens)
    assert got.service_tier == (tier if type(tier) is str else None)
