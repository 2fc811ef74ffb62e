"""The Anthropic decoder's ``text_run`` reads a run's text bodies with a short pattern (``_TEXT_BODIES``:
``"text":"`` to the closing ``"}}`` LF LF) where it matched each whole frame again (``_TEXT_FRAME.findall``,
session 20): on every run ``_TEXT_RUN`` finds, the two give the same bodies (session 25, issue 13)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _anthropic_stream as stream
from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
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
