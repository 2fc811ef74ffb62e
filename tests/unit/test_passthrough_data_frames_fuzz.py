"""``Passthrough._feed_data_frames`` (filtered chat reads of whole unnamed frames split as bytes) against the
event-by-event reference (``EventPassthrough``), for chat streams built frame by frame by hypothesis: text
chunks with unicode and ``\\u`` escapes, padded (``obfuscation``) chunks, refusals, reasoning, tool calls,
another model, errors mid-stream, usage and finish chunks, ``[DONE]``, frames after the finish, and frames
of other shapes (CR or CRLF line ends, ``id:``/``retry:`` lines, comments, several data lines, a name,
``data:`` without its space, empty data, a byte order mark); read at frame ends (the reads
``_feed_data_frames`` takes) or anywhere. (``test_passthrough_frames_fuzz`` does the same for the named
wires' ``_feed_frames``.) The client's bytes and the relay's facts are the same after every
read and after ``finish`` (``test_passthrough_scan._compare``)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_passthrough_scan import _compare

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOM = "\ufeff".encode()
BASE: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}
TEXTS = [
    "w",
    " ",
    "é 漢字 🙂",
    "}",
    "\\",
    '"',
    '"usage":{"prompt_tokens":1}',
    "\u2028",
    "\x1c",
    "data: x\n\n",
]


def _chunk(delta: dict[str, Any], finish: str | None = None, padded: bool = False, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    body = {**BASE, "choices": [choice], "usage": None, **extra}
    if padded:
        body["obfuscation"] = "h8Xa1"
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _text(text: str, how: int, padded: bool) -> bytes:
    frame = _chunk({"content": text}, padded=padded)
    if how == 1:  # \u escapes (json.dumps' ensure_ascii)
        return frame.replace(orjson.dumps(text), json.dumps(text).encode())
    return frame


def _tool(i: int, args: str, first: bool) -> bytes:
    call: dict[str, Any] = {"index": i, "function": {"arguments": args}}
    if first:
        call.update(id=f"call_{i}", type="function")
        call["function"]["name"] = "f"
    return _chunk({"tool_calls": [call]})


EXTRAS = [
    _chunk({"refusal": "no"}),
    _chunk({"reasoning_content": "hmm"}),
    _chunk({"content": "m "}, model="other-model"),
    _chunk({"content": ""}),
    _chunk({"content": "x"}, "length"),
    _tool(0, "", True),
    _tool(0, '{"a":', False),
    _tool(0, "1}", False),
    b'data: {"error":{"message":"busy","type":"server_error"}}\n\n',
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
    b'data: {"broken"\n\n',
    b"data: \n\n",
    b"data:\n\n",
    b"data: [DONE]\n\n",
    b": keep-alive\n\n",
    b": keep-alive\n",
    b"id: 7\n\n",
    b"retry: 10\n\n",
    b"event: x\n\n",
    b"\n",
]


def _reshape(frame: bytes, how: int) -> bytes:
    data = frame.removesuffix(b"\n\n")
    if how == 1:
        return frame.replace(b"\n", b"\r\n")
    if how == 2:
        return frame.replace(b"\n", b"\r")
    if how == 3:
        return b"id: 7\n" + frame
    if how == 4:
        return data + b"\nretry: 1500\n\n"
    if how == 5:
        return b"data:" + data[6:] + b"\n\n"
    if how == 6 and b"," in data:
        a, _, b = data.partition(b",")
        return a + b",\ndata: " + b + b"\n\n"
    if how == 7:
        return b": keep-alive\n" + frame
    if how == 8:
        return b"event: message\n" + frame
    if how == 9:
        return frame + b"\n"
    if how == 10:
        return data + b"  \n\n"
    return frame


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    padded = draw(st.booleans())
    frames = [_chunk({"role": "assistant", "content": "", "refusal": None}, padded=padded)]
    for _ in range(draw(st.integers(0, 8))):
        frames.append(_text(draw(st.sampled_from(TEXTS)), draw(st.integers(0, 3)), padded))
    if draw(st.booleans()):  # a tool call whose arguments stay blank: the relay adds "{}" (bugcase 01-k)
        frames += [
            _tool(0, "", True),
            *[_tool(0, a, False) for a in draw(st.lists(st.sampled_from(["", " "])))],
        ]
    frames.append(_chunk({}, draw(st.sampled_from(["stop", "tool_calls", "length"])), padded=padded))
    usage = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}
    frames.append(b"data: " + orjson.dumps({**BASE, "choices": [], "usage": usage}) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    for _ in range(draw(st.integers(0, 4))):
        frames.insert(draw(st.integers(0, len(frames))), draw(st.sampled_from(EXTRAS)))
    frames = [_reshape(f, draw(st.integers(0, 10)) if draw(st.integers(0, 5)) == 0 else 0) for f in frames]
    if draw(st.integers(0, 5)) == 0:
        frames.insert(0, BOM)
    body = b"".join(frames)
    if draw(st.integers(0, 5)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    ends = sorted({m.end() for m in re.finditer(rb"\n\n|\r\r|\r\n\r\n", body)} | {len(body)})
    picks = draw(st.lists(st.sampled_from(ends), max_size=10)) if ends else []
    if body and draw(st.booleans()):
        picks += draw(st.lists(st.integers(1, len(body)), max_size=3))
    edges = sorted({0, *picks, len(body)})
    reads = [body[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]
    return body, reads


@FUZZ
@given(streams(), st.booleans())
def test_chat_frame_reads_match_the_event_by_event_reference(
    case: tuple[bytes, list[bytes]], usage: bool
) -> None:
    body, reads = case
    _compare("openai_chat", body, reads, include_usage=usage)
