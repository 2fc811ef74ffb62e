"""s8 variant 01-n: a passed-through Responses function call whose arguments are "" reaches a client that
declared tools with "{}" in the events and the answer that carry its final arguments."""

from typing import Any

import orjson
import pytest

from services.gateway.dialects.openai_responses import repair_blank_arguments
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Passthrough
from shared.sse import SSEDecoder
from tests.unit.test_passthrough_scan import sized

R0 = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-4o-mini", "output": []}
CALL = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_1",
    "name": "now",
    "arguments": "",
    "status": "completed",
}
USAGE = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
DONE = {**R0, "status": "completed", "output": [CALL], "usage": USAGE}


def _event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps({"type": kind, **fields}) + b"\n\n"


FRAMES = [
    _event("response.created", response=R0),
    _event("response.output_item.added", output_index=0, item={**CALL, "status": "in_progress"}),
    _event("response.function_call_arguments.done", output_index=0, item_id="fc_1", arguments=""),
    _event("response.output_item.done", output_index=0, item=CALL),
    _event("response.completed", response=DONE),
]


def _final_arguments(raw: bytes) -> dict[str, Any]:
    got: dict[str, Any] = {}
    for ev in SSEDecoder().feed(raw):
        obj = orjson.loads(ev.data)
        if ev.event == "response.output_item.added":
            got["added"] = obj["item"]["arguments"]
        elif ev.event == "response.function_call_arguments.done":
            got["done"] = obj["arguments"]
        elif ev.event == "response.output_item.done":
            got["item"] = obj["item"]["arguments"]
        elif ev.event == "response.completed":
            got["completed"] = obj["response"]["output"][0]["arguments"]
    return got


@pytest.mark.parametrize("min_frames", [2, Passthrough.min_frames])
def test_a_relayed_blank_function_call_ends_with_an_empty_object(min_frames: int) -> None:
    for reads in ([b"".join(FRAMES)], FRAMES):
        relay = sized(min_frames)(
            pairing("openai_responses", "openai_responses"), View(model="m", tools=True)
        )
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        # the item's start keeps "" (its argument deltas follow it); every final form is "{}"
        assert _final_arguments(out) == {"added": "", "done": "{}", "item": "{}", "completed": "{}"}
        assert relay.complete and relay.usage is not None


def test_without_tools_or_with_arguments_the_bytes_go_as_they_came() -> None:
    body = b"".join(FRAMES)
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    assert relay.feed(body) + relay.finish() == body
    full = body.replace(b'"arguments":""', b'"arguments":"{\\"tz\\":\\"UTC\\"}"')
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m", tools=True))
    assert relay.feed(full) + relay.finish() == full


def test_a_whole_answer_gets_an_empty_object_too() -> None:
    raw = orjson.dumps(DONE)
    assert orjson.loads(repair_blank_arguments(raw, orjson.loads(raw)))["output"][0]["arguments"] == "{}"
    whole = orjson.dumps({**DONE, "output": [{**CALL, "arguments": '{"a":1}'}]})
    assert repair_blank_arguments(whole, orjson.loads(whole)) is whole


def test_whitespace_only_arguments_are_blank_in_a_stream_as_in_a_whole_answer() -> None:
    """The stream's quick test finds what ``repair_blank_arguments`` calls blank: spaces, tabs, escaped
    newlines."""
    for blank in (" ", "\n", " \t\r\n"):
        encoded = orjson.dumps(blank)
        body = b"".join(FRAMES).replace(b'"arguments":""', b'"arguments":' + encoded)
        relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m", tools=True))
        out = relay.feed(body) + relay.finish()
        assert _final_arguments(out) == {"added": blank, "done": "{}", "item": "{}", "completed": "{}"}
