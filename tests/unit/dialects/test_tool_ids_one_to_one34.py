"""review34: tool call ids reach Anthropic one to one.

``anthropic_tool_id`` turns each character outside ``^[a-zA-Z0-9_-]+$`` into ``_``: two ids can become one
(``functions.weather:0`` and ``functions.weather.0``), and a host that numbers a model's calls per answer gives Kimi
K2's ``functions.weather:0`` on every turn. Anthropic refuses a history holding one ``tool_use`` id twice: 400
"messages.1.content.1: `tool_use` ids must be unique" (anomalyco/opencode#1279, a loop moved from Kimi K2 to
Claude). Every path to Anthropic (the passthrough's ``strip_for_anthropic``, the chat and Responses translators,
Claude on OpenRouter's chat wire) gives each call its own id, each result its call's.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from services.gateway.dialects._anthropic_wire import ToolIds, tool_ids_one_to_one
from services.gateway.dialects._minted import strip_for_anthropic
from services.gateway.dialects.translate_request import Target, chat_to_anthropic, responses_to_anthropic
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.openai_compat import claude_tool_ids
from services.gateway.routing.config import ProviderSpec

PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000)
ASK = {"role": "user", "content": "Weather in Paris and Rome?"}


def _turns(*turns: list[str]) -> list[dict[str, Any]]:
    """Anthropic messages: for each turn, an assistant message calling each id, a user message answering each."""
    out: list[dict[str, Any]] = [ASK]
    for ids in turns:
        uses = [
            {"type": "tool_use", "id": i, "name": "weather", "input": {"n": n}} for n, i in enumerate(ids)
        ]
        results = [{"type": "tool_result", "tool_use_id": i, "content": f"r{n}"} for n, i in enumerate(ids)]
        out += [{"role": "assistant", "content": uses}, {"role": "user", "content": results}]
    return out


def _pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(tool_use id, the id of the result with the same content number) per turn, in order."""
    pairs = []
    for use_msg, result_msg in zip(messages[1::2], messages[2::2], strict=True):
        uses = [b["id"] for b in use_msg["content"] if b["type"] == "tool_use"]
        results = [b["tool_use_id"] for b in result_msg["content"] if b["type"] == "tool_result"]
        pairs += list(zip(uses, results, strict=True))
    return pairs


def _one_to_one(pairs: list[tuple[str, str]], calls: int) -> None:
    uses = [u for u, _ in pairs]
    assert len(uses) == calls and len(set(uses)) == calls, uses  # Anthropic: "`tool_use` ids must be unique"
    assert all(u == r for u, r in pairs), pairs  # each result answers its own call
    assert all(PATTERN.match(u) for u in uses), uses


def test_kimi_ids_given_on_every_turn_are_made_unique_on_the_passthrough() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": _turns(["functions.weather:0"] * 1, ["functions.weather:0"]),
    }
    sent = copy.deepcopy(body)
    assert strip_for_anthropic(body) is True
    _one_to_one(_pairs(body["messages"]), 2)
    assert [u for u, _ in _pairs(body["messages"])] == ["functions_weather_0", "functions_weather_0_2"]
    assert sent["messages"] == _turns(
        ["functions.weather:0"], ["functions.weather:0"]
    )  # the client's, as sent


def test_two_ids_made_the_same_stay_two_on_the_passthrough() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": _turns(["functions.weather:0", "functions.weather.0"]),
    }
    assert strip_for_anthropic(body) is True
    _one_to_one(_pairs(body["messages"]), 2)


def test_a_made_id_does_not_take_an_id_the_history_holds_as_it_is() -> None:
    """``call.1`` made ``call_1`` would be the id of another call the client named ``call_1`` itself."""
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": _turns(["call_1"], ["call.1"])}
    assert strip_for_anthropic(body) is True
    _one_to_one(_pairs(body["messages"]), 2)
    assert _pairs(body["messages"])[0] == ("call_1", "call_1")  # the id in the pattern, first, kept


def test_an_earlier_turn_keeps_its_ids_when_the_history_grows() -> None:
    """Prefix-stable: turn 1's ids are the same on turn 2's request and on turn 3's (its cache prefix holds)."""
    two = {"messages": _turns(["functions.weather:0"], ["functions.weather:0"])}
    three = {"messages": _turns(["functions.weather:0"], ["functions.weather:0"], ["functions.weather:0"])}
    strip_for_anthropic(two)
    strip_for_anthropic(three)
    assert three["messages"][:5] == two["messages"]
    _one_to_one(_pairs(three["messages"]), 3)


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


def test_the_chat_translator_gives_each_call_its_own_id() -> None:
    for turns in (
        (["functions.weather:0"], ["functions.weather:0"]),
        (["functions.weather:0", "functions.weather.0"],),
    ):
        out = chat_to_anthropic({"model": "claude-sonnet-4-5", "messages": _chat(*turns)}, SONNET).body
        _one_to_one(_pairs(out["messages"]), sum(map(len, turns)))


def test_the_translator_and_the_passthrough_agree() -> None:
    turns = (["functions.weather:0", "functions.weather.0"], ["functions.weather:0"])
    translated = chat_to_anthropic({"model": "claude-sonnet-4-5", "messages": _chat(*turns)}, SONNET).body
    passthrough = {"messages": _turns(*turns)}
    strip_for_anthropic(passthrough)
    assert _pairs(translated["messages"]) == _pairs(passthrough["messages"])


def test_the_responses_translator_gives_each_call_its_own_id() -> None:
    items: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    # a Codex history begun on Kimi K2: one call id on two turns (``_unique_ids`` already told those apart), and an
    # id of its own that ``anthropic_tool_id`` makes the same
    for n, call_id in enumerate(("functions.weather:0", "functions.weather:0", "functions.weather.0")):
        items += [
            {
                "type": "function_call",
                "call_id": call_id,
                "name": "weather",
                "arguments": f'{{"n":{n}}}',
            },
            {"type": "function_call_output", "call_id": call_id, "output": f"r{n}"},
        ]
    tools = [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}}]
    out = responses_to_anthropic({"model": "claude-sonnet-4-5", "input": items, "tools": tools}, SONNET).body
    _one_to_one(_pairs(out["messages"]), 3)


def test_claude_on_openrouter_gets_each_call_its_own_id() -> None:
    for turns in (
        (["functions.weather:0"], ["functions.weather:0"]),
        (["functions.weather:0", "functions.weather.0"],),
    ):
        body = {"model": "anthropic/claude-sonnet-4.5", "messages": _chat(*turns)}
        assert claude_tool_ids(body) is True
        sent = body["messages"]
        pairs = []
        k = 1
        for ids in turns:
            calls = [c["id"] for c in sent[k]["tool_calls"]]
            results = [m["tool_call_id"] for m in sent[k + 1 : k + 1 + len(ids)]]
            pairs += list(zip(calls, results, strict=True))
            k += 1 + len(ids)
        _one_to_one(pairs, sum(map(len, turns)))
        assert body["messages"][0] is sent[0]


def test_tool_ids() -> None:
    ids = ToolIds()
    assert [ids.call(i) for i in ("a.b", "a:b", "a_b", "", "")] == ["a_b", "a_b_2", "a_b_3", "call", "call_2"]
    # (review35: the two empty ids of one turn are answered in order, the first result the first call)
    assert ids.result("a:b") == "a_b_2" and ids.result("") == "call" and ids.result("x.y") == "x_y"
    assert ids.result("") == "call_2"
    same = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}]
    assert tool_ids_one_to_one(same) is same


def test_claude_behind_a_configured_relay_gets_each_call_its_own_id() -> None:
    """A catalog provider serving Claude (LiteLLM, a company relay: ``claude_by_name``) hands the ids to Anthropic
    as they came (LiteLLM until BerriAI/litellm#21964; maximhq/bifrost#5097): OpenRouter's rule applies."""
    spec = ProviderSpec(
        name="litellm", base_url="http://127.0.0.1:1/v1", models=("anthropic/claude-sonnet-4-5", "kimi-k2")
    )
    provider = ConfiguredProvider(spec, None)
    turns = (["functions.weather:0"], ["functions.weather:0"])
    body = {"model": "anthropic/claude-sonnet-4-5", "messages": _chat(*turns)}
    assert provider.prepare(body, False, "openai_chat") is True
    sent = body["messages"]
    pairs = [
        (sent[1]["tool_calls"][0]["id"], sent[2]["tool_call_id"]),
        (sent[3]["tool_calls"][0]["id"], sent[4]["tool_call_id"]),
    ]
    _one_to_one(pairs, 2)
    other = {"model": "kimi-k2", "messages": _chat(*turns)}
    provider.prepare(other, False, "openai_chat")
    assert other["messages"] == _chat(*turns)  # Kimi's own ids, back to Kimi, as they came
