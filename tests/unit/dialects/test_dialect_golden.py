"""Golden replays: upstream SSE transcript → decoder → the other format's encoder, compared byte for byte.

Regenerate after an intended change with ``EKAI_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/dialects``
and review the diff of ``tests/fixtures/sse/expected/``.
"""

from __future__ import annotations

import os
import random

import pytest
from dialect_helpers import GOLDEN_DIR, SSE_DIR, decode, decoder_for, sse_fixture, translate

FIXTURES = sorted(p.stem for p in SSE_DIR.glob("*.sse"))


def golden_path(fixture: str) -> str:
    target = "openai" if fixture.startswith("anthropic") else "anthropic"
    return str(GOLDEN_DIR / f"{fixture}.to_{target}.sse")


def test_every_transcript_is_covered() -> None:
    assert len(FIXTURES) >= 8
    assert {p.name for p in GOLDEN_DIR.glob("*.sse")} == {os.path.basename(golden_path(f)) for f in FIXTURES}


@pytest.mark.parametrize("fixture", FIXTURES)
def test_translation_matches_golden(fixture: str) -> None:
    out = translate(fixture)
    path = golden_path(fixture)
    with open(path, "rb") as f:
        pinned = f.read().decode()
    if os.environ.get("EKAI_UPDATE_GOLDEN") == "1" and out.decode() != pinned:
        with open(path, "wb") as f:
            f.write(out)
        pytest.fail(f"{path} rewritten: review its diff, then run again without EKAI_UPDATE_GOLDEN")
    assert out.decode() == pinned


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 61])
def test_chunk_boundaries_do_not_matter(fixture: str, size: int) -> None:
    assert translate(fixture, chunk_size=size) == translate(fixture)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_random_splits_and_crlf_give_the_same_deltas(fixture: str) -> None:
    raw = sse_fixture(fixture)
    expected = decode([raw], decoder_for(fixture))
    rng = random.Random(fixture)
    for variant in (raw, raw.replace(b"\n", b"\r\n")):
        cuts = sorted(rng.sample(range(1, len(variant)), 40))
        chunks = [variant[a:b] for a, b in zip([0, *cuts], [*cuts, len(variant)], strict=True)]
        assert decode(chunks, decoder_for(fixture)) == expected
