"""A passthrough relay with a frame filter (``registry.PassFrames``) still lets the quiet frames the filter
leaves untouched by undecoded (``WireSpec.quiet_events``): a Responses client that declares tools (Codex)
gets the same bytes, its blank function-call arguments made "{}", and the relay reports the same facts as
the event-by-event reference that decodes every such frame through the filter. Seeded: a failure
reproduces."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.dialects.openai_responses import passes_unchanged, passthrough_frame
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from shared.sse import SSEDecoder, SSEEvent
from tests.unit.test_passthrough_scan import _cut, _facts, _frames, _odd, _same_ids, _splits, _texts, sized
from tests.unit.test_passthrough_tap import Recording, _sse, responses_stream

TOOLS = View(model="m", tools=True)


def _responses_tools(texts: list[str], rng: random.Random) -> bytes:
    """A Responses stream with text (and its closing frames), then function calls whose final arguments
    are blank ("", spaces, an escaped line break) or whole, announced by ``output_item.added`` or not (a
    done without its added)."""
    frames = _frames(responses_stream(len(texts)))
    for i, text in enumerate(texts):
        frames = [f.replace(orjson.dumps(f"w{i} "), orjson.dumps(text), 1) for f in frames]
    completed = orjson.loads(frames.pop().split(b"data: ", 1)[1])
    joined = "".join(texts)
    closing = [
        ("response.output_text.done", {"output_index": 0, "content_index": 0, "text": joined}),
        ("response.content_part.done", {"output_index": 0, "part": {"type": "output_text", "text": joined}}),
        ("response.output_item.done", {"output_index": 0, "item": {"type": "message", "id": "m1"}}),
    ]
    frames += [_sse(kind, {"type": kind, **fields}) for kind, fields in closing]
    outputs: list[dict[str, Any]] = []
    for n in range(rng.randrange(1, 3)):
        args = rng.choice(["", " ", "\n", '{"a":1}'])
        item = {"type": "function_call", "id": f"fc_{n}", "call_id": f"c{n}", "name": "f", "arguments": args}
        idx = n + 1
        steps: list[tuple[str, dict[str, Any]]] = []
        if rng.random() < 0.8:
            steps.append(
                ("response.output_item.added", {"output_index": idx, "item": {**item, "arguments": ""}})
            )
        if args.strip():
            steps.append(("response.function_call_arguments.delta", {"output_index": idx, "delta": args}))
        steps.append(("response.function_call_arguments.done", {"output_index": idx, "arguments": args}))
        steps.append(("response.output_item.done", {"output_index": idx, "item": item}))
        frames += [_sse(kind, {"type": kind, **fields}) for kind, fields in steps]
        outputs.append(item)
    completed["response"]["output"] = outputs
    return b"".join(frames) + _sse("response.completed", completed)


def _compare(body: bytes, reads: list[bytes], min_frames: int) -> None:
    pair = pairing("openai_responses", "openai_responses")
    scan, ref = sized(min_frames)(pair, TOOLS), EventPassthrough(pair, TOOLS)
    for n, read in enumerate(reads):
        assert scan.feed(read) == ref.feed(read), (n, body)
        assert _facts(scan) == _facts(ref), (n, body)
    assert _same_ids(scan.finish()) == _same_ids(ref.finish()), body
    assert _facts(scan) == _facts(ref), body


def test_responses_streams_with_function_calls_at_random_splits() -> None:
    rng = random.Random(2026120111)
    for trial in range(200):
        body = _responses_tools(_texts(rng, rng.randrange(1, 12)), rng)
        odd = trial % 4 == 3
        if odd:
            body = _cut(_odd(body, rng, "openai_responses"), rng)
        # (one read per frame only for a whole stream: ``_frames`` would end a cut-off frame)
        for reads in (_splits(body, rng), [body]) if odd else (_splits(body, rng), _frames(body), [body]):
            for min_frames in (2, Passthrough.min_frames):
                _compare(body, reads, min_frames)


def _final_arguments(raw: bytes) -> list[str]:
    out: list[str] = []
    for ev in SSEDecoder().feed(raw):
        obj = orjson.loads(ev.data)
        if ev.event == "response.function_call_arguments.done":
            out.append(obj["arguments"])
        elif ev.event == "response.output_item.done" and obj["item"]["type"] == "function_call":
            out.append(obj["item"]["arguments"])
        elif ev.event == "response.completed":
            out += [item["arguments"] for item in obj["response"]["output"]]
    return out


def test_blank_final_arguments_are_mended_however_the_stream_is_read() -> None:
    rng = random.Random(5)
    for _ in range(100):
        body = _responses_tools(_texts(rng, 3), rng)
        relay = Passthrough(pairing("openai_responses", "openai_responses"), TOOLS)
        out = b"".join(relay.feed(r) for r in _splits(body, rng)) + relay.finish()
        finals = _final_arguments(out)
        assert finals and all(a.strip() for a in finals), body


def test_quiet_frames_skip_the_decoder_through_the_filter() -> None:
    """A Codex-style client declares tools: its text's closing frames pass undecoded, the frames that
    carry a call's final arguments are decoded (the filter may mend them)."""
    body = _responses_tools(["a", "b", "c"], random.Random(3))
    relay = Passthrough(pairing("openai_responses", "openai_responses"), TOOLS)
    relay.decoder = Recording(relay.decoder)  # type: ignore[assignment]
    assert relay.feed(body) + relay.finish() != body  # a blank call was mended (seed 3)
    seen = relay.decoder.seen  # type: ignore[attr-defined]
    assert relay._filter is not None and relay.complete
    assert "response.output_text.done" not in seen and "response.content_part.done" not in seen
    assert "response.function_call_arguments.done" in seen


@pytest.mark.parametrize(
    ("event", "data", "untouched"),
    [
        ("response.output_text.done", '{"text":"\\"arguments\\":\\"\\""}', True),
        ("response.output_item.done", '{"item":{"type":"message"}}', True),
        ("response.output_item.done", '{"item":{"type":"function_call","arguments":"{}"}}', True),
        ("response.output_item.done", '{"item":{"type":"function_call","arguments":""}}', False),
        ("response.function_call_arguments.done", '{"arguments": " "}', False),
        ("response.function_call_arguments.done", '{"arguments":"\\n"}', False),
    ],
)
def test_which_frames_the_filter_leaves_untouched(event: str, data: str, untouched: bool) -> None:
    assert passes_unchanged(SSEEvent(event, data)) is untouched


# Every character ``str.strip`` removes (``str.isspace``), as a blank call's arguments may hold them
_SPACES = "".join(chr(c) for c in range(0x3000 + 1) if chr(c).isspace())


@given(
    blank=st.text(alphabet=_SPACES, max_size=6),
    ascii_only=st.booleans(),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (",", " : "), (",", "\t:\n")]),
    event=st.sampled_from(["response.function_call_arguments.done", "response.output_item.done"]),
)
def test_any_spelling_of_blank_arguments_is_mended(
    blank: str, ascii_only: bool, separators: tuple[str, str], event: str
) -> None:
    """Blank arguments (``str.strip`` leaves nothing) are mended to "{}" however the JSON spells them:
    escaped or raw, with any spacing around the colon (RFC 8259 sections 2 and 7)."""
    obj: dict[str, Any] = (
        {"type": event, "item_id": "fc_1", "arguments": blank}
        if event == "response.function_call_arguments.done"
        else {"type": event, "item": {"type": "function_call", "call_id": "c", "arguments": blank}}
    )
    data = json.dumps(obj, ensure_ascii=ascii_only, separators=separators)
    ev = SSEEvent(event, data)
    assert not passes_unchanged(ev)
    out = json.loads(SSEDecoder().feed(passthrough_frame(ev, [], TOOLS, None))[0].data)
    assert (out.get("arguments") if "arguments" in out else out["item"]["arguments"]) == "{}"
