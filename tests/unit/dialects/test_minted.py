"""What the gateway mints never reaches a provider that validates it (issue 9, kind 3; bugcase 04)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from services.gateway.dialects import registry
from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE
from services.gateway.dialects._minted import refused_signature, strip_thinking
from services.gateway.dialects._responses_opaque import encode_compaction, encode_thinking
from services.gateway.dialects.anthropic import render
from services.gateway.dialects.ir import Completion, TextBlock, ThinkingBlock
from services.gateway.dialects.view import View
from tests.thinking_refusals import text_then_tool_turn


def turn1_from_another_provider() -> list[dict[str, Any]]:
    """What an Anthropic client got when xAI's reasoning was translated: a thinking block the gateway signed."""
    c = Completion(id="x", model="grok-3-mini", content=[ThinkingBlock("6*7=42"), TextBlock("42")])
    content: list[dict[str, Any]] = render(c, View(model="grok-3-mini"))["content"]
    assert content[0]["signature"] == SYNTHETIC_SIGNATURE
    return content


def test_case04_synthetic_thinking_is_dropped_before_anthropic() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "6*7?"},
            {"role": "assistant", "content": turn1_from_another_provider()},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "real", "signature": "EqQBCkYIBx"}],
            },
            {"role": "user", "content": "and 6*8?"},
        ],
    }
    before = copy.deepcopy(body)
    sent = dict(body)
    assert registry.WIRES["anthropic"].strip_minted(sent)
    assert SYNTHETIC_SIGNATURE not in json.dumps(sent)
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "42"}]
    assert sent["messages"][2] == before["messages"][2]  # Anthropic's own signatures stay
    assert body == before  # the client's body (reused by later attempts) is untouched


def test_unsigned_thinking_is_dropped_before_anthropic_and_redacted_kept() -> None:
    """s10 variant 04-m: a history from another Anthropic-compatible provider holds thinking blocks with an
    empty or missing signature; Anthropic refuses them, so they never leave; redacted_thinking stays."""
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    body = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [redacted, {"type": "text", "text": "A"}]},
            {"role": "user", "content": "b"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": ""},
                    {"type": "thinking", "thinking": "u"},
                    {"type": "text", "text": "B"},
                ],
            },
            {"role": "user", "content": "c"},
        ]
    }
    assert registry.WIRES["anthropic"].strip_minted(body)
    assert body["messages"][1]["content"][0] == redacted
    assert body["messages"][3]["content"] == [{"type": "text", "text": "B"}]


def test_an_assistant_turn_left_empty_is_dropped() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "a"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "t", "signature": SYNTHETIC_SIGNATURE}],
            },
            {"role": "user", "content": "b"},
        ]
    }
    assert registry.WIRES["anthropic"].strip_minted(body)
    assert [m["role"] for m in body["messages"]] == ["user", "user"]


def test_nothing_minted_means_nothing_changed() -> None:
    body = {"messages": [{"role": "user", "content": "a"}]}
    for wire in registry.WIRES.values():
        assert not wire.strip_minted(dict(body))
    assert not registry.WIRES["openai_responses"].strip_minted(
        {"input": [{"type": "reasoning", "encrypted_content": "gAAAA-openai"}]}
    )


def test_gateway_tokens_never_reach_openai_responses() -> None:
    body = {
        "input": [
            {"type": "message", "role": "user", "content": "hi"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "encrypted_content": encode_thinking("t", "sig"),
            },
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAAAB-openai-own"},
            {"type": "compaction", "encrypted_content": encode_compaction("We fixed the bug in foo.py.")},
        ]
    }
    before = copy.deepcopy(body)
    sent = dict(body)
    assert registry.WIRES["openai_responses"].strip_minted(sent)
    assert "ekai." not in json.dumps(sent)
    assert sent["input"] == [
        before["input"][0],
        before["input"][2],
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "We fixed the bug in foo.py."}],
        },
    ]
    assert body == before


def test_anthropics_signature_refusal_is_recognised() -> None:
    said = "messages.1.content.0: Invalid `signature` in `thinking` block"
    assert refused_signature(400, said)
    assert not refused_signature(400, "prompt is too long: 1 tokens > 0 maximum")
    assert not refused_signature(500, said)


@pytest.mark.parametrize(
    "said",
    [
        # s12 variant 04-g: after a model switch (Claude Code sessions stuck on it)
        "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest assistant message cannot be "
        "modified. These blocks must remain as they were in the original response.",
        # s12 variant 04-h: a block another client left empty (anomalyco/opencode#11571)
        "messages.1.content.0.thinking: each thinking block must contain thinking",
    ],
)
def test_anthropics_other_refusals_of_history_thinking_are_recognised(said: str) -> None:
    assert refused_signature(400, said)
    assert not refused_signature(429, said)


def test_strip_thinking_drops_every_thinking_block_and_thinking_when_the_last_turn_lost_one() -> None:
    """The one-off retry after Anthropic refused a signature (s7 variant 04-g): no thinking block is left;
    the client's body is not changed in place."""
    blocks = [
        {"type": "redacted_thinking", "data": "x"},
        {"type": "thinking", "thinking": "t", "signature": "s"},
    ]
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [*blocks, {"type": "text", "text": "b"}]},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": blocks[1:]},  # thinking only: the turn goes
        {"role": "user", "content": "d"},
        {"role": "assistant", "content": [{"type": "text", "text": "e"}]},
        {"role": "user", "content": "f"},
    ]
    body = {"thinking": {"type": "adaptive"}, "messages": messages}
    assert strip_thinking(body)
    assert "thinking" in body  # the last assistant turn had no thinking: thinking stays on
    assert [m["content"] for m in body["messages"]][:2] == ["a", [{"type": "text", "text": "b"}]]
    assert len(body["messages"]) == 6 and messages[1]["content"][0] is blocks[0]  # the client's body intact
    tool_loop = {
        "thinking": {"type": "adaptive"},
        "messages": messages[:2] + [{"role": "user", "content": "g"}],
    }
    assert strip_thinking(tool_loop) and "thinking" not in tool_loop
    assert not strip_thinking({"messages": [{"role": "user", "content": "a"}]})


def test_a_tool_loop_that_lost_its_minted_thinking_goes_to_anthropic_without_thinking() -> None:
    """s10 variant 04-e: turn 1 (another provider's reasoning, signed by the gateway) ended in a tool call;
    the tool loop goes on with Claude. The minted block is dropped, and with it the request's thinking:
    Anthropic refuses a final assistant turn with tool_use that does not start with a thinking block while
    thinking is on (400 "Expected `thinking` or `redacted_thinking`, but found `tool_use`")."""
    use = {"type": "tool_use", "id": "call_w1", "name": "get_weather", "input": {"city": "Paris"}}
    minted = {"type": "thinking", "thinking": "Need the tool.", "signature": SYNTHETIC_SIGNATURE}
    result = {"type": "tool_result", "tool_use_id": "call_w1", "content": "sunny"}
    body = {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [minted, use]},
            {"role": "user", "content": [result]},
        ],
    }
    before = copy.deepcopy(body)
    sent = dict(body)
    assert registry.WIRES["anthropic"].strip_minted(sent)
    assert "thinking" not in sent
    assert sent["messages"][1]["content"] == [use]
    assert body == before  # the client's body (reused by later attempts) is untouched
    # a later assistant turn decides: the loop's own turn is what counts. One that kept Claude's own thinking
    # keeps thinking on; one that never had any, answered by another model (its tool ids are not Anthropic's
    # toolu_), turns it off (s13 variants 04-a, 04-b)
    own = {"type": "thinking", "thinking": "Again.", "signature": "EqQBCkgIBhAB"}
    later = {
        "thinking": {"type": "adaptive"},
        "messages": [
            *before["messages"],
            {"role": "assistant", "content": [own, use]},
            {"role": "user", "content": [result]},
        ],
    }
    assert registry.WIRES["anthropic"].strip_minted(later) and later["thinking"] == {"type": "adaptive"}
    never = {
        "thinking": {"type": "adaptive"},
        "messages": [
            *before["messages"],
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [result]},
        ],
    }
    assert registry.WIRES["anthropic"].strip_minted(never) and "thinking" not in never
    # a finished turn (text only) keeps thinking on: Anthropic does not ask for its thinking block
    plain = {
        "thinking": {"type": "adaptive"},
        "messages": [{"role": "assistant", "content": [minted, {"type": "text", "text": "x"}]}],
    }
    assert registry.WIRES["anthropic"].strip_minted(plain) and plain["thinking"] == {"type": "adaptive"}


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 2048}, {"type": "adaptive"}])
def test_a_tool_loop_answered_without_thinking_goes_to_anthropic_without_thinking(
    thinking: dict[str, Any],
) -> None:
    """s13 variants 04-a, 04-b, 04-c: the conversation's last assistant turn was answered by a model that
    returns no reasoning (grok-4, gpt-4o: [text, tool_use], no thinking block, nothing minted, its tool ids
    its own), then the tool loop goes on with Claude, thinking on. Anthropic refuses that body (400 "Expected `thinking` or
    `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must
    start with a thinking block"; extended-thinking docs, "Preserving thinking blocks"): the request's thinking
    goes, on the passthrough and count_tokens bodies as on translated ones. Nothing else changes."""
    use = {"type": "tool_use", "id": "call_77", "name": "get_weather", "input": {"city": "Rome"}}
    messages = [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me check."}, use]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_77", "content": "sunny"}]},
    ]
    body = {"model": "claude-sonnet-4-5", "thinking": thinking, "messages": messages}
    before = copy.deepcopy(body)
    sent = dict(body)
    assert registry.WIRES["anthropic"].strip_minted(sent)
    assert "thinking" not in sent and sent["messages"] == before["messages"]
    assert body == before
    # thinking already off, or the turn starts with Claude's own (redacted) thinking: nothing to change
    off = {**before, "thinking": {"type": "disabled"}}
    assert not registry.WIRES["anthropic"].strip_minted(off) and off["thinking"] == {"type": "disabled"}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgB"}
    kept = copy.deepcopy(before)
    kept["messages"][1]["content"].insert(0, redacted)
    assert not registry.WIRES["anthropic"].strip_minted(kept) and kept["thinking"] == thinking
    # a finished turn (no tool call) keeps thinking on
    done = copy.deepcopy(before)
    done["messages"] = [*messages[:1], {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]}]
    assert not registry.WIRES["anthropic"].strip_minted(done) and done["thinking"] == thinking


def test_consecutive_assistant_messages_are_one_turn_for_the_thinking_rule() -> None:
    """Anthropic combines consecutive messages of one role into one turn (Messages API reference): a client
    that sends Claude's turn as [thinking, text] then [tool_use] sends a turn that starts with its thinking, so
    thinking stays on; a string-content message before the tool call starts the turn with text."""
    own = {"type": "thinking", "thinking": "List them.", "signature": "EqQBCkgIBhAB"}
    use = {"type": "tool_use", "id": "toolu_9", "name": "Bash", "input": {"command": "ls"}}
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "a.py"}],
    }
    split = {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [own, {"type": "text", "text": "Listing."}]},
            {"role": "assistant", "content": [use]},
            result,
        ],
    }
    assert not registry.WIRES["anthropic"].strip_minted(split) and "thinking" in split
    texted = copy.deepcopy(split)
    texted["messages"][1] = {"role": "assistant", "content": "Listing."}
    assert registry.WIRES["anthropic"].strip_minted(texted) and "thinking" not in texted


def test_an_adaptive_tool_loop_without_thinking_is_sent_as_it_came_and_a_refusal_retried_without() -> None:
    """Adaptive thinking: Claude skips thinking itself at lower effort (adaptive-thinking docs: "thinking is
    optional for the model"), so a tool loop whose last turn has no thinking block and Anthropic's own tool ids
    (toolu_) is Claude Code's own body: sent untouched (its thinking setting and cached prefix kept; s13 review
    of 84af4e6). If Anthropic refuses it all the same (400 "Expected `thinking` or `redacted_thinking`, but
    found `tool_use`"), the refusal is read as the history's thinking refused and the one retry goes without
    thinking. With manual thinking (Claude's own turns always begin with thinking) it goes at once."""
    use = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    body = {
        "thinking": {"type": "adaptive"},
        "messages": [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [{"type": "text", "text": "Listing."}, use]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py"}],
            },
        ],
    }
    before = copy.deepcopy(body)
    assert not registry.WIRES["anthropic"].strip_minted(body) and body == before
    for own_id in ("toolu_vrtx_01Ab", "toolu_bdrk_01Ab"):  # Vertex AI's and Bedrock's ids are Anthropic's too
        vertex = copy.deepcopy(before)
        vertex["messages"][1]["content"][1]["id"] = own_id
        assert not registry.WIRES["anthropic"].strip_minted(vertex) and "thinking" in vertex
    manual = {**copy.deepcopy(before), "thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert registry.WIRES["anthropic"].strip_minted(manual) and "thinking" not in manual
    refusal = (
        "messages.1.content.1: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` "
        "is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set "
        "of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns."
    )
    assert refused_signature(400, refusal) and not refused_signature(500, refusal)
    assert strip_thinking(body) and "thinking" not in body and body["messages"] == before["messages"]
    # a finished turn (no tool call) and no thinking blocks: nothing to retry without
    done = {"thinking": {"type": "adaptive"}, "messages": before["messages"][:1]}
    assert not strip_thinking(done) and done["thinking"] == {"type": "adaptive"}


@pytest.mark.parametrize(
    "said",
    [
        # s14 variant 04-a/04-e: a tool turn that begins with text (n8n-io/n8n#22550, zed-industries/zed#46508)
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When `thinking` "
        "is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of "
        "`tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns.",
        # s14 variant 04-d: the same as clients quote it, without backticks
        "messages.47.content.0.type: Expected thinking or redacted_thinking, but found text. When thinking is "
        "enabled, a final assistant message must start with a thinking block",
        # whatever block the turn begins with
        "messages.3.content.0.type: Expected `thinking` or `redacted_thinking`, but found `server_tool_use`.",
        # s14 variant 04-b: thinking replayed after text (anthropics/claude-code#20705)
        "messages.51.content.0: If an assistant message contains any thinking blocks, the first block must be "
        "thinking or redacted_thinking. Found text.",
        # s14 variant 04-c: thinking off, a prefill holding thinking (tailcallhq/forgecode#1853)
        "messages.1.content.0: When thinking is disabled, an `assistant` message in the final position cannot "
        "contain `thinking`. To use thinking blocks, enable `thinking` in your request.",
        # tailcallhq/forgecode#2107
        "messages.1: The final block in an assistant message cannot be `thinking`.",
        # s14 variant 04-i: redacted data another provider made (Chevey339/kelivo#481)
        "messages.21.content.1: Invalid `data` in `redacted_thinking` block",
    ],
)
def test_anthropics_refusals_of_a_turns_thinking_order_are_recognised(said: str) -> None:
    assert refused_signature(400, said)
    assert not refused_signature(500, said)


def test_a_text_first_tool_turn_refusal_retries_without_thinking() -> None:
    """s14 variant 04-a: Claude Code's own adaptive loop ([text, tool_use toolu_…]) goes as it came; when
    Anthropic refuses it with the "found `text`" wording, the retry body has no ``thinking``."""
    said = "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`."
    body: dict[str, Any] = {
        "model": "claude-opus-4-6",
        "thinking": {"type": "adaptive"},
        "messages": text_then_tool_turn(
            ask="How many files?", said="I'll list them.", tool_id="toolu_01A", result="a.py"
        ),
    }
    assert not registry.WIRES["anthropic"].strip_minted(copy.deepcopy(body))  # sent as it came
    assert refused_signature(400, said) and strip_thinking(body)
    assert "thinking" not in body


def test_a_prefill_with_thinking_loses_it_when_thinking_is_off() -> None:
    """s14 variant 04-c: thinking off and the final assistant message (a prefill) holds a signed thinking block:
    Anthropic answers 400 "When thinking is disabled, an `assistant` message in the final position cannot contain
    `thinking`". The block goes up front; with thinking on it stays (Anthropic needs it back)."""
    prefill = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "6*7=42", "signature": "EqQBCkgIBxAB"},
            {"type": "text", "text": "The answer is"},
        ],
    }
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "6*7?"}, prefill],
    }
    before = copy.deepcopy(body)
    strip = registry.WIRES["anthropic"].strip_minted
    sent = dict(body)
    assert strip(sent)
    assert sent["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The answer is"}],
    }
    assert body == before  # the client's body is not changed in place
    disabled = {**copy.deepcopy(before), "thinking": {"type": "disabled"}}
    assert strip(disabled) and len(disabled["messages"][-1]["content"]) == 1
    enabled = {**copy.deepcopy(before), "thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert not strip(enabled) and enabled["messages"][-1] == prefill
    only = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}, {**prefill, "content": prefill["content"][:1]}],
    }
    assert strip(only) and only["messages"] == [{"role": "user", "content": "hi"}]


def test_claude_on_openrouter_gets_no_reasoning_for_a_tool_turn_it_cannot_sign() -> None:
    """s14 variant 04-f: Claude Code's tool loop (thinking on) on Claude served by OpenRouter. The translation
    carries no ``reasoning_details``, so the last tool turn has no signed thinking; asked with reasoning, Anthropic
    behind OpenRouter refuses it (400 "Provider returned error", raw "Expected `thinking` or `redacted_thinking`,
    but found `text`": zed-industries/zed#46508). Reasoning goes; it stays when the turn gives its details back,
    when the last turn calls no tool, and for other models."""
    from services.gateway.dialects._request_to_chat import anthropic_to_chat
    from services.gateway.providers.openai_compat import OpenRouterProvider

    provider = OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k")
    loop = [
        {"role": "user", "content": "How many files?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I'll list them."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "a.py"}]},
    ]
    client = {"max_tokens": 16000, "thinking": {"type": "enabled", "budget_tokens": 8000}, "messages": loop}
    model = "anthropic/claude-opus-4.6"
    body = anthropic_to_chat({"model": model, **client}, provider.target(model)).body
    assert body["reasoning"] == {"max_tokens": 8000}  # the budget itself (s29 fix29)
    assert provider.prepare(body, False, "openai_chat")
    assert "reasoning" not in body and "reasoning_effort" not in body

    answered = {"model": model, **client, "messages": loop[:1]}
    kept = anthropic_to_chat(answered, provider.target(model)).body
    provider.prepare(kept, False, "openai_chat")
    assert kept["reasoning"] == {"max_tokens": 8000}  # no tool turn yet: thinking stays

    chat = {
        "model": "~anthropic/claude-sonnet-latest",
        "reasoning_effort": "high",
        "messages": [
            {"role": "user", "content": "How many files?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_01A", "type": "function"}]},
            {"role": "tool", "tool_call_id": "toolu_01A", "content": "a.py"},
        ],
    }
    signed = copy.deepcopy(chat)
    signed["messages"][1]["reasoning_details"] = [{"type": "reasoning.text", "text": "ls", "signature": "Eq"}]
    provider.prepare(chat, False, "openai_chat")
    assert "reasoning_effort" not in chat
    provider.prepare(signed, False, "openai_chat")
    assert signed["reasoning_effort"] == "high"  # the client gives Claude's signed thinking back
    other = {**copy.deepcopy(chat), "model": "deepseek/deepseek-r1", "reasoning_effort": "high"}
    provider.prepare(other, False, "openai_chat")
    assert other["reasoning_effort"] == "high"


@pytest.mark.parametrize(
    "details",
    [
        # gpt-oss on OpenRouter: reasoning text, unsigned, format "unknown" (s17 variant 04-d)
        [
            {
                "type": "reasoning.text",
                "text": "Need the clock.",
                "signature": None,
                "format": "unknown",
                "index": 0,
            }
        ],
        # OpenAI's encrypted reasoning (o-series / gpt-5 on OpenRouter): data Claude cannot read
        [{"type": "reasoning.encrypted", "data": "gAAAAB", "format": "openai-responses-v1", "index": 0}],
        # Gemini's thought signature
        [
            {
                "type": "reasoning.text",
                "text": "t",
                "signature": "CiQB",
                "format": "google-gemini-v1",
                "index": 0,
            }
        ],
        # the gateway's own synthetic signature
        [{"type": "reasoning.text", "text": "t", "signature": "ekai-gateway-synthetic-signature"}],
        [],
    ],
    ids=["gpt-oss-unsigned", "openai-encrypted", "gemini-signed", "synthetic", "empty"],
)
def test_claude_on_openrouter_gets_no_reasoning_when_the_tool_turn_gives_back_another_models_details(
    details: list[dict[str, object]],
) -> None:
    """s17 variant 04-d: a Chat client's tool turn answered by another model on OpenRouter gives that model's
    ``reasoning_details`` back, then asks Claude with reasoning on. Those details are no thinking Claude signed:
    with thinking on, Anthropic behind OpenRouter refuses the turn (no signed thinking to begin it). Reasoning
    goes; it stays for Claude's own signed details (format anthropic-claude-v1, or no format given)."""
    from services.gateway.providers.openai_compat import OpenRouterProvider

    provider = OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k")

    def body(given: list[dict[str, object]]) -> dict[str, object]:
        return {
            "model": "anthropic/claude-sonnet-4.5",
            "reasoning": {"effort": "high"},
            "messages": [
                {"role": "user", "content": "time?"},
                {
                    "role": "assistant",
                    "content": "",
                    "reasoning_details": copy.deepcopy(given),
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
            ],
        }

    foreign = body(details)
    provider.prepare(foreign, False, "openai_chat")
    assert "reasoning" not in foreign
    for own in (
        [
            {
                "type": "reasoning.text",
                "text": "t",
                "signature": "EqQB",
                "format": "anthropic-claude-v1",
                "index": 0,
            }
        ],
        [{"type": "reasoning.encrypted", "data": "EmwK", "format": "anthropic-claude-v1", "index": 0}],
        [{"type": "reasoning.text", "text": "t", "signature": "EqQB"}],
    ):
        kept = body(own)
        provider.prepare(kept, False, "openai_chat")
        assert kept["reasoning"] == {"effort": "high"}
