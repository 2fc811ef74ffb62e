"""The Anthropic decoder's ``text_run`` reads a run's text bodies with a short pattern (``_TEXT_BODIES``:
``"text":"`` to the closing ``"}}`` LF LF) where it matched each whole frame again (``_TEXT_FRAME.findall``,
session 20): on every run ``_TEXT_RUN`` finds, the two give the same bodies (session 25, issue 13)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _anthropic_stream as stream
from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from tests.text_lanes import END, START, run, run_relays
from tests.unit.dialects.test_text_run import frame, text_frames

# Texts near the pattern's edges: quotes, braces and the pattern's own bytes inside a text
EDGES = ('"}}', '"text":"', "}}\n\n", "text", '":"', "}", "a", "é", "\\")


@st.composite
def runs(draw: Any) -> bytes:
    frames = draw(st.lists(text_frames(), max_size=8))
    edges = draw(st.lists(st.sampled_from(EDGES), max_size=4))
    frames += [frame(text, raw=draw(st.booleans())) for text in edges]
    return b"".join(draw(st.permutations(frames)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_a_runs_bodies_are_its_frames_group(buf: bytes) -> None:
    decoder = MessagesStreamDecoder()
    pos = 0
    while pos < len(buf):
        found = decoder.text_run(buf, pos)
        if found is None:
            pos = buf.find(b"\n\n", pos) + 2 or len(buf)
            continue
        bodies, end = found
        assert bodies == stream._TEXT_FRAME.findall(buf, pos, end)
        assert len(bodies) == buf.count(b"\n\n", pos, end)
        pos = end


def test_the_usual_run_reads_each_text() -> None:
    texts = ["Hello ", "a", "x}}", "text:", "}} ", "bench"]
    buf = b"".join(frame(t, raw=True) for t in texts)
    assert MessagesStreamDecoder().text_run(buf, 0) == ([t.encode() for t in texts], len(buf))


USUAL = st.text(
    st.characters(blacklist_characters='"\\', blacklist_categories=("Cs",), min_codepoint=0x20),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(USUAL, min_size=1, max_size=12), st.lists(st.integers(0, 4000), max_size=4), st.booleans())
def test_runs_of_usual_frames_give_the_general_paths_bytes(
    texts: list[str], cuts: list[int], rest: bool
) -> None:
    """Runs of several usual text frames (the lane's case; ``test_text_run``'s frames are mostly odd): the
    same bytes (the Responses client's closing frames hold the whole text: ``text_frames`` keeps it) and
    facts as the general path, both clients, cut anywhere."""
    body = START + b"".join(frame(t) for t in texts) + END
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = [body[a:b] for a, b in pairwise(points)]
    for client in ("openai_chat", "openai_responses"):
        fast, general = run_relays(client, "anthropic", True)
        assert run(fast, chunks, rest) == run(general, chunks, rest)
