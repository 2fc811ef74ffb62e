"""review35: tool call ids reach Claude one to one on every path, also when they are in Anthropic's pattern.

Session 34 (review34) made each call's id its own on the chat and Responses translators, but the Anthropic passthrough
(``strip_for_anthropic``, also ``count_tokens``') and Claude behind a chat relay (``claude_tool_ids``) walked the ids
only when one was outside ``^[a-zA-Z0-9_-]+$``. A server that numbers a model's calls per answer in the pattern
(``call_0``, as ``_request_from_responses._unique_ids`` names it) gives one id on two turns, and Anthropic refuses the
history: 400 "`tool_use` ids must be unique" (anomalyco/opencode#1279). And a server that gives every call of one answer
the same id (Xinference: ``call_<the completion's id>`` for each, xorbitsai/inference#4237) had both results answer the
second call (``ToolIds.result``: "the last tool_use that had its id"), leaving the first unanswered (Anthropic: 400
"`tool_use` ids were found without `tool_result` blocks immediately after").
"""

from __future__ import annotations

import copy
import re
from typing import Any

from services.gateway.dialects._anthropic_wire import ToolIds, tool_ids_one_to_one
from services.gateway.dialects._minted import strip_for_anthropic
from services.gateway.dialects.translate_request import Target, chat_to_anthropic
from services.gateway.providers.openai_compat import claude_tool_ids
from tests.unit.dialects.test_tool_ids_one_to_one34 import ASK, _turns

PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000)
XINFERENCE_ID = (
    "call_f0de99f4-6fe1-4235-b4d9-1fcb010fa197"  # (xorbitsai/inference#4237: every call of the answer)
)


def _anthropic_pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(tool_use id, the id of the result whose content answers that call: ``r<n>`` for call ``n``) per turn."""
    pairs = []
    for use_msg, result_msg in zip(messages[1::2], messages[2::2], strict=True):
        uses = [b["id"] for b in use_msg["content"] if b["type"] == "tool_use"]
        results = {
            b["content"]: b["tool_use_id"] for b in result_msg["content"] if b["type"] == "tool_result"
        }
        pairs += [(u, results[f"r{n}"]) for n, u in enumerate(uses)]
    return pairs


def _chat(*turns: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [ASK]
    for ids in turns:
        calls = [
            {"id": i, "type": "function", "function": {"name": "weather", "arguments": f'{{"n":{n}}}'}}
            for n, i in enumerate(ids)
        ]
        out.append({"role": "assistant", "content": None, "tool_calls": calls})
        out += [{"role": "tool", "tool_call_id": i, "content": f"r{n}"} for n, i in enumerate(ids)]
    return out


def _chat_pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for k, msg in enumerate(messages):
        if msg.get("tool_calls"):
            calls = [c["id"] for c in msg["tool_calls"]]
            results = messages[k + 1 : k + 1 + len(calls)]
            pairs += list(zip(calls, [r["tool_call_id"] for r in results], strict=True))
    return pairs


def _one_to_one(pairs: list[tuple[str, str]], calls: int) -> None:
    uses = [u for u, _ in pairs]
    assert len(uses) == calls and len(set(uses)) == calls, uses  # Anthropic: "`tool_use` ids must be unique"
    assert all(u == r for u, r in pairs), pairs  # each result answers its own call
    assert all(PATTERN.match(u) for u in uses), uses


# the histories: one id in the pattern on two turns (a per-answer count), and one answer's two calls with one id
ACROSS_TURNS = (["call_0"], ["call_0", "call_1"])
IN_ONE_TURN = ([XINFERENCE_ID, XINFERENCE_ID],)


def test_the_passthrough_gives_an_id_in_the_pattern_on_two_turns_one_per_call() -> None:
    for turns in (ACROSS_TURNS, IN_ONE_TURN):
        messages = _turns(*turns)
        body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": messages}
        sent = copy.deepcopy(messages)
        assert strip_for_anthropic(body) is True
        _one_to_one(_anthropic_pairs(body["messages"]), sum(map(len, turns)))
        assert messages == sent  # the client's, as sent: copies where changed
        assert body["messages"][0] is messages[0]


def test_the_passthrough_leaves_another_models_ids_alone_when_each_is_once() -> None:
    """Ids in the pattern, each once (OpenAI's ``call_…``): nothing to change, the client's body goes as it came."""
    messages = _turns(["call_a1", "call_b2"], ["call_c3"])
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": messages}
    assert strip_for_anthropic(body) is False
    assert body["messages"] is messages


def test_claude_behind_a_chat_relay_gets_an_id_in_the_pattern_on_two_turns_one_per_call() -> None:
    for turns in (ACROSS_TURNS, IN_ONE_TURN):
        body = {"model": "anthropic/claude-sonnet-4.5", "messages": _chat(*turns)}
        assert claude_tool_ids(body) is True
        _one_to_one(_chat_pairs(body["messages"]), sum(map(len, turns)))
    unique = {"model": "anthropic/claude-sonnet-4.5", "messages": _chat(["call_a1"], ["call_b2"])}
    assert claude_tool_ids(unique) is False


def test_the_chat_translator_answers_each_of_one_answers_calls_with_one_id() -> None:
    out = chat_to_anthropic({"model": "claude-sonnet-4-5", "messages": _chat(*IN_ONE_TURN)}, SONNET).body
    _one_to_one(_anthropic_pairs(out["messages"]), 2)


def test_tool_ids_answer_the_oldest_unanswered_call_of_the_turn() -> None:
    ids = ToolIds()
    assert [ids.call("x"), ids.call("x")] == ["x", "x_2"]
    assert [ids.result("x"), ids.result("x")] == ["x", "x_2"]
    # the next turn: its call is the one answered, not a stale one
    assert ids.call("x") == "x_3" and ids.result("x") == "x_3"
    # a result without a call of its own waiting: the last call's id (as before), else the id in the pattern
    assert ids.result("x") == "x_3" and ids.result("y.z") == "y_z"
    assert tool_ids_one_to_one(_turns(["x"], ["x"]))[3]["content"][0]["id"] == "x_2"
