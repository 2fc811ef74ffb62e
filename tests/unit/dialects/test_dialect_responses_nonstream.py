"""Whole (non-streamed) Responses objects, usage, errors and the gateway-made opaque tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from openai.types.responses import CompactedResponse, Response, ResponseUsage
from responses_helpers import CLIENT_MODEL, assert_no_extra, events, raw_fixture

from services.gateway.dialects.ir import Completion, TextBlock, ThinkingBlock, ToolUseBlock, Usage
from services.gateway.dialects.openai_responses import (
    compact_from_completion,
    completion_from_responses,
    decode_compaction,
    decode_thinking,
    encode_compaction,
    encode_thinking,
    error_body,
    responses_from_completion,
    usage_from_responses,
    usage_to_responses,
)
from services.gateway.dialects.view import View

USAGE = Usage(input_tokens=1172, output_tokens=412, cache_read_tokens=8704, reasoning_tokens=256)


def strict_response(obj: dict[str, Any]) -> Response:
    """``obj`` parsed by the SDK's ``Response``, with no unknown field and nothing lost."""
    model = Response.model_validate(obj)
    assert_no_extra(model)
    assert model.model_dump(mode="json", exclude_unset=True) == obj
    return model


def final_response(fixture: str) -> dict[str, Any]:
    from dialect_helpers import frames

    payloads = [json.loads(f.data) for f in frames(raw_fixture(fixture)) if not f.comment]
    response: dict[str, Any] = payloads[-1]["response"]
    return response


# ---- usage -------------------------------------------------------------------------------------------


def test_usage_from_responses_splits_cache_reads_out_of_the_input() -> None:
    usage = {
        "input_tokens": 9876,
        "input_tokens_details": {"cached_tokens": 8704},
        "output_tokens": 412,
        "output_tokens_details": {"reasoning_tokens": 256},
        "total_tokens": 10288,
    }
    assert usage_from_responses(usage) == USAGE


def test_usage_from_responses_reads_cache_writes_when_present() -> None:
    usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 50}}
    assert usage_from_responses(usage) == Usage(input_tokens=20, cache_read_tokens=30, cache_write_tokens=50)


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        [],
        "12",
        {"input_tokens": "12", "output_tokens": None},
        {"input_tokens": True, "output_tokens": -3, "input_tokens_details": [], "output_tokens_details": 7},
        {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 9}},  # more cached than input
    ],
)
def test_usage_from_responses_tolerates_garbage(garbage: Any) -> None:
    u = usage_from_responses(garbage)
    assert min(u.input_tokens, u.output_tokens, u.cache_read_tokens, u.reasoning_tokens) >= 0
    assert u.output_tokens == 0 and u.reasoning_tokens == 0


def test_usage_to_responses_is_a_complete_sdk_usage() -> None:
    u = Usage(
        input_tokens=20, output_tokens=7, cache_read_tokens=30, cache_write_tokens=50, reasoning_tokens=3
    )
    out = usage_to_responses(u)
    model = ResponseUsage.model_validate(out)
    assert_no_extra(model)
    assert (model.input_tokens, model.output_tokens, model.total_tokens) == (100, 7, 107)
    assert model.input_tokens_details.cached_tokens == 30
    assert model.input_tokens_details.cache_write_tokens == 50
    assert model.output_tokens_details.reasoning_tokens == 3
    assert usage_from_responses(out) == u


def test_error_body_is_openai_shaped() -> None:
    assert error_body(400, "bad input", code="invalid_value", param="input[3]") == {
        "error": {
            "message": "bad input",
            "type": "invalid_request_error",
            "param": "input[3]",
            "code": "invalid_value",
        }
    }
    assert error_body(429, "slow down")["error"]["type"] == "rate_limit_error"
    assert error_body(503, "down")["error"]["type"] == "server_error"


# ---- opaque tokens ---------------------------------------------------------------------------------


def _payload(token: str, prefix: str) -> bytes:
    assert token.startswith(prefix) and "=" not in token
    raw = token[len(prefix) :]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))


def test_thinking_token_format_is_pinned() -> None:
    """The format the request translator reads back (``/work/notes/reasoning-encrypted.md``)."""
    token = encode_thinking("Let me think — ✓", "EqQBsig==")
    assert token == (
        "ekai.t1.eyJla2FpIjoidGhpbmtpbmciLCJ0aGlua2luZyI6IkxldCBtZSB0aGluayDigJQg4pyTIiwic2lnbmF0dXJlIjoiRXFRQnNpZz09In0"
    )
    assert (
        _payload(token, "ekai.t1.")
        == '{"ekai":"thinking","thinking":"Let me think — ✓","signature":"EqQBsig=="}'.encode()
    )
    assert decode_thinking(token) == {
        "type": "thinking",
        "thinking": "Let me think — ✓",
        "signature": "EqQBsig==",
    }


def test_compaction_token_format_is_pinned() -> None:
    token = encode_compaction("Summary: done.")
    assert token == "ekai.c1.eyJla2FpIjoiY29tcGFjdGlvbiIsInN1bW1hcnkiOiJTdW1tYXJ5OiBkb25lLiJ9"
    assert _payload(token, "ekai.c1.") == b'{"ekai":"compaction","summary":"Summary: done."}'
    assert decode_compaction(token) == "Summary: done."


@pytest.mark.parametrize(
    "token", ["", "gAAAAABpK3x9Qv1b", "ekai.t1.%%%", "ekai.c1.bm90IGpzb24", "ekai.t1.WzFd"]
)
def test_foreign_tokens_are_not_ours(token: str) -> None:
    assert decode_thinking(token) is None and decode_compaction(token) is None
    assert (
        decode_thinking(encode_compaction("x")) is None
        and decode_compaction(encode_thinking("x", "s")) is None
    )


# ---- upstream Response → IR ------------------------------------------------------------------------


def test_completion_from_responses_reads_every_item_kind() -> None:
    c = completion_from_responses(final_response("openai_responses_reasoning_text_tools"))
    assert c.id == "resp_0a1b2c3d4e5f60718293a4b5c6d7e8f9" and c.model == "gpt-5.1-codex-2025-11-13"
    assert c.content == [
        ThinkingBlock(
            thinking="**Planning the listing**\n\nThe user wants the files listed.\n\n"
            "**Reading the README**\n\nThen read it — ✓."
        ),
        TextBlock(text="I'll list the files and read the README — ✓."),
        ToolUseBlock(
            id="call_Qm2Zp8TnW4rYb1LxK7v", name="exec_command", input={"cmd": "ls -la", "workdir": "/work"}
        ),
        ToolUseBlock(id="call_B4nT8sWc1dQe6uHjR2m", name="exec_command", input={"cmd": "cat README.md"}),
    ]
    assert c.stop_reason == "tool_use" and c.usage == USAGE


def test_completion_from_responses_custom_tool_and_incomplete() -> None:
    c = completion_from_responses(final_response("openai_responses_apply_patch"))
    patch = '*** Begin Patch\n*** Add File: hello.txt\n+Hello, wörld "quoted"\n*** End Patch'
    assert c.content[-1] == ToolUseBlock(
        id="call_Vd3kR8pL2xQw9nZb", name="apply_patch", input={"input": patch}
    )
    assert c.stop_reason == "tool_use"
    c = completion_from_responses(final_response("openai_responses_incomplete"))
    assert c.content == [TextBlock(text="Once upon a time, in a land far")] and c.stop_reason == "max_tokens"
    assert c.usage == Usage(input_tokens=42, output_tokens=16)


def test_completion_from_responses_tolerates_garbage() -> None:
    body = {"output": [None, 3, {"type": "function_call", "arguments": '{"cut'}, {"type": "web_search_call"}]}
    c = completion_from_responses(body)
    assert len(c.content) == 1 and isinstance(c.content[0], ToolUseBlock) and c.content[0].input == {}
    # the web_search_call item is one billed search even though the answer carries no usage
    assert c.id.startswith("resp_") and c.usage == Usage(web_search_requests=1)


# ---- IR → client Response ---------------------------------------------------------------------------


def _completion(**kwargs: Any) -> Completion:
    content = [
        ThinkingBlock(thinking="Plan: list, then read.", signature="EqQBsig"),
        TextBlock(text="I'll list the files."),
        ToolUseBlock(id="toolu_01", name="exec_command", input={"cmd": "ls"}),
        ToolUseBlock(id="toolu_02", name="apply_patch", input={"input": "*** Begin Patch\n*** End Patch"}),
    ]
    return Completion(id="msg_01XYZ", model="claude-sonnet-4-5", content=content, usage=USAGE, **kwargs)


def test_responses_from_completion_exact_items() -> None:
    view = View(model=CLIENT_MODEL, custom_tools=frozenset({"apply_patch"}))
    out = responses_from_completion(_completion(stop_reason="tool_use"), view)
    r = strict_response(out)
    assert r.id == "resp_msg01XYZ" and r.model == CLIENT_MODEL and r.status == "completed"
    rid = "msg01XYZ"
    assert out["output"] == [
        {
            "id": f"rs_{rid}00",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Plan: list, then read."}],
            "encrypted_content": encode_thinking("Plan: list, then read.", "EqQBsig"),
        },
        {
            "id": f"msg_{rid}01",
            "type": "message",
            "status": "completed",
            "content": [
                {"type": "output_text", "annotations": [], "logprobs": [], "text": "I'll list the files."}
            ],
            "role": "assistant",
        },
        {
            "id": f"fc_{rid}02",
            "type": "function_call",
            "status": "completed",
            "arguments": '{"cmd":"ls"}',
            "call_id": "toolu_01",
            "name": "exec_command",
        },
        {
            "id": f"ctc_{rid}03",
            "type": "custom_tool_call",
            "call_id": "toolu_02",
            "input": "*** Begin Patch\n*** End Patch",
            "name": "apply_patch",
        },
    ]
    assert out["usage"] == usage_to_responses(USAGE)
    assert r.output_text == "I'll list the files."


def test_responses_from_completion_equals_what_the_stream_would_end_with() -> None:
    """The same IR answer, rendered whole and streamed, gives the same output items and usage."""
    from services.gateway.dialects.openai_responses import ResponsesStreamEncoder
    from services.gateway.dialects.openai_responses import completion_deltas as deltas_of_completion

    view = View(model=CLIENT_MODEL, custom_tools=frozenset({"apply_patch"}))
    c = _completion(stop_reason="tool_use")
    enc = ResponsesStreamEncoder(view, response_id="resp_msg01XYZ")
    body = b"".join(enc.feed(d) for d in deltas_of_completion(c)) + enc.finish()
    streamed = events(body)[-1]["response"]
    whole = responses_from_completion(c, view)
    assert whole["output"] == streamed["output"] and whole["usage"] == streamed["usage"]
    quiet = ResponsesStreamEncoder(view, response_id="resp_msg01XYZ", frames=False)  # what it renders with
    assert b"".join(quiet.feed(d) for d in deltas_of_completion(c)) + quiet.finish() == b""
    assert quiet.final == {**streamed, "created_at": quiet.created_at}


def test_responses_from_completion_maps_names_and_namespaces() -> None:
    c = Completion(
        id="resp_abc",
        model="m",
        content=[
            ToolUseBlock(id="c1", name="mcp__srv__tool", input={}),
            ToolUseBlock(id="c2", name="multi_agent_v1__spawn", input={"task": "x"}),
            ToolUseBlock(id="c3", name="patch_tool", input={"patch": "raw"}),
        ],
    )
    view = View(
        model=CLIENT_MODEL,
        tool_names={
            "mcp__srv__tool": "mcp.srv.tool",
            "multi_agent_v1__spawn": "multi_agent_v1:spawn",
            "patch_tool": "apply_patch",
        },
        custom_tools=frozenset({"apply_patch"}),
    )
    out = responses_from_completion(c, view)
    strict_response(out)
    assert out["id"] == "resp_abc"
    first, second, third = out["output"]
    assert (first["name"], first["arguments"], "namespace" in first) == ("mcp.srv.tool", "{}", False)
    assert (second["namespace"], second["name"], second["arguments"]) == (
        "multi_agent_v1",
        "spawn",
        '{"task":"x"}',
    )
    assert (third["type"], third["name"], third["input"]) == ("custom_tool_call", "apply_patch", "raw")
    assert out["status"] == "completed"


def test_responses_from_completion_without_reasoning_and_at_max_tokens() -> None:
    c = _completion(stop_reason="max_tokens")
    out = responses_from_completion(c, View(model=CLIENT_MODEL, reasoning=False))
    r = strict_response(out)
    assert [i["type"] for i in out["output"]] == ["message", "function_call", "function_call"]
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"


def test_unsigned_or_synthetic_thinking_has_no_encrypted_content() -> None:
    from services.gateway.dialects.anthropic import SYNTHETIC_SIGNATURE

    for signature in ("", SYNTHETIC_SIGNATURE):
        c = Completion(id="x", model="m", content=[ThinkingBlock(thinking="hmm", signature=signature)])
        (item,) = responses_from_completion(c, View(model=CLIENT_MODEL))["output"]
        assert item == {
            "id": item["id"],
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "hmm"}],
        }


def test_compaction_answer_is_one_compaction_item() -> None:
    c = Completion(
        id="msg_9", model="m", content=[ThinkingBlock("t"), TextBlock("Summary: "), TextBlock("done.")]
    )
    out = responses_from_completion(c, View(model=CLIENT_MODEL, compaction=True))
    strict_response(out)
    (item,) = out["output"]
    assert item["type"] == "compaction" and item["id"].startswith("cmp_")
    assert decode_compaction(item["encrypted_content"]) == "Summary: done."


def test_compact_endpoint_answer() -> None:
    keep = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    c = Completion(id="msg_9", model="m", content=[TextBlock("Summary: done.")], usage=USAGE)
    out = compact_from_completion(c, View(model=CLIENT_MODEL, compaction=True), keep)
    model = CompactedResponse.model_validate(
        {**out, "output": out["output"][-1:]}
    )  # the SDK types no user items
    assert_no_extra(model.usage)
    assert out["object"] == "response.compaction" and out["id"].startswith("resp_")
    assert out["output"][:-1] == keep
    last = out["output"][-1]
    assert set(last) == {"id", "type", "encrypted_content"} and last["type"] == "compaction"
    assert decode_compaction(last["encrypted_content"]) == "Summary: done."
    assert out["usage"] == usage_to_responses(USAGE)


@pytest.mark.parametrize(
    ("code", "status", "etype"),
    [
        ("rate_limit_exceeded", 429, "rate_limit_error"),
        ("insufficient_quota", 429, "rate_limit_error"),
        ("server_error", 500, "api_error"),
        ("context_length_exceeded", 500, "api_error"),
        ("service_unavailable", 503, "overloaded_error"),
        (529, 529, "overloaded_error"),
        (None, 500, "api_error"),
        (True, 500, "api_error"),
    ],
)
def test_in_stream_error_codes_map_to_statuses(code: Any, status: int, etype: str) -> None:
    from services.gateway.dialects._responses_wire import stream_error_from_responses

    err = stream_error_from_responses({"code": code, "message": "m"}, "default")
    named = " (context_length_exceeded)" if code == "context_length_exceeded" else ""  # (review32: below)
    assert (err.status, err.type, err.message) == (status, etype, "m" + named)
    assert stream_error_from_responses("garbage", "default").message == "default"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ({"code": "context_length_exceeded", "message": "Failed."}, "Failed. (context_length_exceeded)"),
        ({"code": "model_context_window_exceeded"}, "default (model_context_window_exceeded)"),
        # the words say it already: as they came
        (
            {
                "code": "context_length_exceeded",
                "message": "Your input exceeds the context window of this model.",
            },
            "Your input exceeds the context window of this model.",
        ),
        ({"code": "server_error", "message": "Failed."}, "Failed."),
    ],
)
def test_review32_an_overflow_code_is_named_in_the_words_the_meaning_is_read_from(
    error: dict[str, str], message: str
) -> None:
    """A streamed failure's overflow code reaches its readers, which get the words alone
    (``stream_error_meaning``), as ``stream_error_from_openai`` names it for chat (review32: a 500 server fault)."""
    from services.gateway.dialects._error_meaning import stream_error_meaning
    from services.gateway.dialects._responses_wire import stream_error_from_responses

    err = stream_error_from_responses(error, "default")
    assert err.message == message
    overflow = error["code"] != "server_error"
    assert (stream_error_meaning(err.status, err.message) == "context_overflow") is overflow
