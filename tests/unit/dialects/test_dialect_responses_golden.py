"""Golden replays for the Responses dialect: upstream transcript → decoder → encoder, byte for byte.

Encoder cases start from every upstream kind (chat, Anthropic, OpenRouter); decoder cases replay real-shaped
OpenAI ``/v1/responses`` streams (``fixtures/responses/openai_responses_*.sse``) to a Responses client and
to an Anthropic client. Regenerate after an intended change with
``EKAI_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/dialects/test_dialect_responses_golden.py`` and review
the diff of ``tests/fixtures/responses/expected/``.
"""

from __future__ import annotations

import os
import random

import pytest
from dialect_helpers import decode
from responses_helpers import (
    CASES,
    RESPONSES_FIXTURES,
    RESPONSES_GOLDEN,
    Case,
    decoder_for,
    deltas_of,
    raw_fixture,
)


def test_every_golden_file_belongs_to_a_case() -> None:
    assert {p.name for p in RESPONSES_GOLDEN.glob("*.sse")} == {c.golden().name for c in CASES}
    assert len(RESPONSES_FIXTURES) >= 6
    assert {c.fixture for c in CASES} >= set(RESPONSES_FIXTURES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_replay_matches_golden(case: Case) -> None:
    out = case.run()
    if os.environ.get("EKAI_UPDATE_GOLDEN") == "1" and out.decode() != case.golden().read_text():
        case.golden().write_bytes(out)
        pytest.fail(f"{case.golden()} rewritten: review its diff, then run again without EKAI_UPDATE_GOLDEN")
    assert out.decode() == case.golden().read_text()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 61])
def test_chunk_size_does_not_matter(case: Case, size: int) -> None:
    assert case.run(chunk_size=size) == case.golden().read_bytes()


@pytest.mark.parametrize("fixture", RESPONSES_FIXTURES)
def test_every_split_point_gives_the_same_deltas(fixture: str) -> None:
    """The upstream body cut in two at every byte position (inside lines, JSON, UTF-8 sequences)."""
    raw = raw_fixture(fixture)
    expected = deltas_of(fixture)
    for cut in range(1, len(raw)):
        assert decode([raw[:cut], raw[cut:]], decoder_for(fixture)) == expected, cut


@pytest.mark.parametrize("fixture", RESPONSES_FIXTURES)
def test_random_splits_and_crlf_give_the_same_deltas(fixture: str) -> None:
    raw = raw_fixture(fixture)
    expected = deltas_of(fixture)
    rng = random.Random(fixture)
    for variant in (raw, raw.replace(b"\n", b"\r\n")):
        cuts = sorted(rng.sample(range(1, len(variant)), 60))
        chunks = [variant[a:b] for a, b in zip([0, *cuts], [*cuts, len(variant)], strict=True)]
        assert decode(chunks, decoder_for(fixture)) == expected
