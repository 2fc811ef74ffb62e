"""Cache markers survive translation, per target (client-protocols.md, "Prompt caching across formats";
api-conformance.md §6.1, corrected `cache_control` row; bug case 08)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from services.gateway.dialects._prompt_cache import (
    MAX_BREAKPOINTS,
    Session,
    body_has_markers,
    drop_non_markers,
    has_markers,
    keep_breakpoints,
    keep_chat_breakpoints,
    place_anthropic_breakpoints,
    session_from,
)
from services.gateway.dialects.translate_request import (
    Target,
    anthropic_to_chat,
    anthropic_to_responses,
    chat_to_anthropic,
    responses_to_anthropic,
    responses_to_chat,
)
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.openai_compat import OpenAIProvider, OpenRouterProvider, XAIProvider
from services.gateway.routing.config import CatalogError, parse_catalog

ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}
EPHEMERAL = {"type": "ephemeral"}
# Bug case 08's request: Claude Code's system blocks and its last user block carry markers.
CASE_08 = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2048,
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1; cch=abc"},
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": "<about 15,000 tokens of tool instructions>", "cache_control": ONE_HOUR},
    ],
    "tools": [
        {"name": "Read", "input_schema": {"type": "object"}},
        {"name": "Bash", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL},
    ],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "List the failing tests."}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Running them.", "cache_control": EPHEMERAL},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"c": "pytest"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": "2 failed",
                    "cache_control": EPHEMERAL,
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "text", "text": "fix the first one", "cache_control": EPHEMERAL}],
        },
    ],
}


def openrouter(model: str = "anthropic/claude-sonnet-4.5") -> OpenRouterProvider:
    return OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k")


def test_openrouter_claude_keeps_every_marker_case_08() -> None:
    target = openrouter().target("anthropic/claude-sonnet-4.5")
    assert target.cache_markers
    body = anthropic_to_chat(CASE_08, target).body
    system, user1, assistant, tool, user2 = body["messages"]
    # system blocks stay content parts, the marker (with its 1-hour TTL) on its block; the billing header goes
    assert system == {
        "role": "system",
        "content": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": "<about 15,000 tokens of tool instructions>", "cache_control": ONE_HOUR},
        ],
    }
    assert user1 == {"role": "user", "content": "List the failing tests."}  # unmarked: as before
    assert assistant["content"] == [{"type": "text", "text": "Running them.", "cache_control": EPHEMERAL}]
    assert tool["content"] == [{"type": "text", "text": "2 failed", "cache_control": EPHEMERAL}]
    assert user2["content"] == [{"type": "text", "text": "fix the first one", "cache_control": EPHEMERAL}]
    assert [t.get("cache_control") for t in body["tools"]] == [None, EPHEMERAL]
    assert "prompt_cache_key" not in body


def test_markers_are_never_more_than_the_client_sent() -> None:
    def count(value: Any) -> int:
        if isinstance(value, dict):
            return ("cache_control" in value) + sum(count(v) for v in value.values())
        return sum(count(v) for v in value) if isinstance(value, list) else 0

    body = anthropic_to_chat(CASE_08, openrouter().target("anthropic/claude-sonnet-4.5")).body
    assert count(body) == count(CASE_08)


def test_top_level_automatic_caching_is_kept_for_openrouter_claude() -> None:
    body = anthropic_to_chat(
        {**CASE_08, "cache_control": EPHEMERAL}, openrouter().target("anthropic/claude-sonnet-4.5")
    ).body
    assert body["cache_control"] == EPHEMERAL


@pytest.mark.parametrize("explicit", [1, 3, 4, 5])
def test_the_automatic_marker_is_one_of_the_four_for_openrouter_claude(explicit: int) -> None:
    """bug24a variant 08-fivemarks-vL: top-level automatic caching beside four block markers reached OpenRouter's
    Claude as five breakpoints (Anthropic: "A maximum of 4 blocks with cache_control may be provided. Found 5.").
    With four explicit ones (or more, cut to four) the automatic one goes; with fewer it stays as the client sent."""
    parts = [{"type": "text", "text": f"p{i}", "cache_control": dict(EPHEMERAL)} for i in range(explicit)]
    body = anthropic_to_chat(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 9,
            "cache_control": EPHEMERAL,
            "messages": [{"role": "user", "content": parts}],
        },
        openrouter().target("anthropic/claude-sonnet-4.5"),
    ).body
    body["model"] = "anthropic/claude-sonnet-4.5"
    openrouter().prepare(body, True, "openai_chat")
    count = orjson.dumps(body).count(b'"cache_control"')
    assert count == min(explicit + 1, 4)
    assert ("cache_control" in body) is (explicit < 4)


def test_the_automatic_marker_is_one_of_the_four_on_the_way_to_anthropic() -> None:
    blocks = [{"type": "text", "text": f"b{i}", "cache_control": dict(EPHEMERAL)} for i in range(5)]
    body: dict[str, Any] = {"cache_control": EPHEMERAL, "messages": [{"role": "user", "content": blocks}]}
    keep_breakpoints(body)
    assert "cache_control" not in body
    assert [b["text"] for b in blocks if "cache_control" in b] == ["b0", "b2", "b3", "b4"]
    three: dict[str, Any] = {
        "cache_control": EPHEMERAL,
        "messages": [{"role": "user", "content": blocks[:3]}],
    }
    keep_breakpoints(three)
    assert three["cache_control"] == EPHEMERAL


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def test_a_marked_image_or_document_keeps_its_marker_for_openrouter_claude() -> None:
    """bug8a variant 08-h: Claude Code marks the last block of the last user turn, a pasted screenshot
    here; the marker was dropped (the gateway then placed its own on the text BEFORE the image, leaving
    the image out of the cached prefix). OpenRouter's content parts carry cache_control on image_url and
    file parts as on text parts."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
    }
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {
                "role": "user",
                "content": [{**pdf, "cache_control": ONE_HOUR}, {"type": "text", "text": "Read it."}],
            },
            {"role": "assistant", "content": "Done."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "And this?"}, {**image, "cache_control": EPHEMERAL}],
            },
        ],
    }
    out = anthropic_to_chat(body, openrouter().target("anthropic/claude-sonnet-4.5")).body
    first, _, last = out["messages"]
    assert [p.get("cache_control") for p in first["content"]] == [ONE_HOUR, None]
    assert first["content"][0]["type"] == "file"
    assert [(p["type"], p.get("cache_control")) for p in last["content"]] == [
        ("text", None),
        ("image_url", EPHEMERAL),
    ]
    plain = anthropic_to_chat(body, OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-4o")).body
    assert not has_markers(plain)  # OpenAI refuses unknown part fields: no markers there


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}],
        [
            {"type": "text", "text": "screen:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ],
    ],
    ids=["image-only", "text-and-image"],
)
@pytest.mark.parametrize("on_block", [True, False], ids=["on-result", "on-last-item"])
def test_a_marked_tool_result_s_images_stay_in_the_cached_prefix(content: list[Any], on_block: bool) -> None:
    """s21 variants 08-v10, 08-v14: the images of a marked tool_result go to a user message after the tool
    message (OpenAI tool messages hold text only), so the marker goes on the last image part, where the result
    ends in the translated prompt; it stayed on the text (the image outside the cached prefix) or, with no text,
    was lost."""
    content = copy.deepcopy(content)
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": "toolu_1", "content": content}
    if on_block:
        result["cache_control"] = ONE_HOUR
    else:
        content[-1]["cache_control"] = ONE_HOUR
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "look"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "Shot", "input": {}}],
            },
            {"role": "user", "content": [result]},
        ],
    }
    out = anthropic_to_chat(body, openrouter().target("anthropic/claude-sonnet-4.5")).body
    tool, images = out["messages"][2:]
    assert tool["role"] == "tool" and not has_markers(tool)
    assert [(p["type"], p.get("cache_control")) for p in images["content"]] == [("image_url", ONE_HOUR)]


@pytest.mark.parametrize("later_has_image", [False, True], ids=["later-text-only", "later-with-image"])
def test_a_later_result_s_marker_covers_an_earlier_result_s_moved_image(later_has_image: bool) -> None:
    """s22 variant 08-w2: parallel results, the first a screenshot (unmarked), the second marked. Anthropic caches
    up to the marked block, the screenshot inside; translated, the images move after every tool message, past the
    second's marker. The marker goes on the last image moved from the marked result or one before it (a later
    result's own image, when it has one, already carries it); the count of markers is unchanged."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    second: list[Any] = [{"type": "text", "text": "a.txt"}, *([image] if later_has_image else [])]
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "look"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "Shot", "input": {}},
                    {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [image]},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": second,
                        "cache_control": ONE_HOUR,
                    },
                    {"type": "text", "text": "go on"},
                ],
            },
        ],
    }
    out = anthropic_to_chat(body, openrouter().target("anthropic/claude-sonnet-4.5")).body
    first, second_tool, moved = out["messages"][2:]
    assert not has_markers(first) and not has_markers(second_tool)
    expected = [("image_url", None)] * later_has_image + [("image_url", ONE_HOUR), ("text", None)]
    assert [(p["type"], p.get("cache_control")) for p in moved["content"]] == expected


def test_a_tool_result_s_documents_are_kept_with_its_marker() -> None:
    """s21 variant 08-v16: a tool_result holding a PDF document (a Read tool on a .pdf) and a text document: both
    were dropped, and the result's marker with them. The PDF goes as a file part after the tool message, marked
    (where the result ends), the text document's text joins the tool message's."""
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
    }
    note = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "page count: 1"},
    }
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "read it"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [note, pdf],
                        "cache_control": EPHEMERAL,
                    }
                ],
            },
        ],
    }
    out = anthropic_to_chat(body, openrouter().target("anthropic/claude-sonnet-4.5")).body
    tool, files = out["messages"][2:]
    assert tool == {"role": "tool", "tool_call_id": "toolu_1", "content": "page count: 1"}
    assert [(p["type"], p.get("cache_control")) for p in files["content"]] == [("file", EPHEMERAL)]
    assert files["content"][0]["file"]["file_data"] == "data:application/pdf;base64,JVBERi0x"


def test_a_user_turn_s_search_result_keeps_its_text_and_marker() -> None:
    """s21 variant 08-v20: a marked ``search_result`` block in a user turn (RAG, Anthropic "Search results") was
    dropped on the way to OpenRouter's Claude, marker and all; its title, source and text go as a text part."""
    found = {
        "type": "search_result",
        "source": "kb://doc7",
        "title": "Doc 7",
        "content": [{"type": "text", "text": "beta"}, {"type": "text", "text": "gamma"}],
        "cache_control": EPHEMERAL,
    }
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [found, {"type": "text", "text": "summarise"}]}],
    }
    out = anthropic_to_chat(body, openrouter().target("anthropic/claude-sonnet-4.5")).body
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Doc 7\nkb://doc7\nbeta\n\ngamma", "cache_control": EPHEMERAL},
                {"type": "text", "text": "summarise"},
            ],
        }
    ]
    assert anthropic_to_chat(body, Target(model="gpt-4o")).body["messages"][0]["content"][0] == {
        "type": "text",
        "text": "Doc 7\nkb://doc7\nbeta\n\ngamma",
    }


@pytest.mark.parametrize(
    "model",
    ["openai/gpt-4o-mini", "x-ai/grok-4", "qwen/qwen3-coder", "qwen/qwen3-32b", "qwen/qwen3-235b-a22b-2507"],
)
def test_other_openrouter_models_get_no_markers(model: str) -> None:
    target = openrouter().target(model)
    assert not target.cache_markers
    assert not has_markers(anthropic_to_chat(CASE_08, target).body)


def test_claude_code_to_openai_sets_prompt_cache_key_from_the_session() -> None:
    target = OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-5")
    session = session_from({"x-claude-code-session-id": "5f0c-session"})
    body = anthropic_to_chat(CASE_08, target, session).body
    assert body["prompt_cache_key"] == "5f0c-session" and not has_markers(body)
    # the same through the Responses wire
    assert anthropic_to_responses(CASE_08, target, session).body["prompt_cache_key"] == "5f0c-session"
    # no session, no key; and a provider that does not take the field never gets it
    assert "prompt_cache_key" not in anthropic_to_chat(CASE_08, target).body
    xai = XAIProvider("xai", "http://127.0.0.1:9", "k").target("grok-4")
    assert "prompt_cache_key" not in anthropic_to_chat(CASE_08, xai, session).body


def test_session_header_lookup() -> None:
    assert session_from({}) == Session()
    assert session_from({"x-claude-code-session-id": "  "}) == Session()
    assert session_from({"x-claude-code-session-id": "abc"}).id == "abc"


# ---- the gateway places breakpoints for clients that send none -------------------------------------

CODEX = {
    "model": "gpt-5.5",
    "instructions": "You are Codex.",
    "prompt_cache_key": "thread-1",
    "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}],
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "turn one"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "answer one"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "turn two"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "answer two"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "turn three"}]},
    ],
}


def marked(body: dict[str, Any]) -> list[str]:
    out = []
    for where in ("system", "tools"):
        out += [f"{where}.{i}" for i, b in enumerate(body.get(where) or []) if "cache_control" in b]
    for i, m in enumerate(body["messages"]):
        content = m["content"] if isinstance(m.get("content"), list) else []
        out += [f"messages.{i}.{j}" for j, b in enumerate(content) if "cache_control" in b]
    return out


def test_responses_to_anthropic_places_breakpoints_within_the_limit() -> None:
    body = responses_to_anthropic(CODEX, Target(model="claude-sonnet-4-5")).body
    spots = marked(body)
    assert len(spots) <= MAX_BREAKPOINTS
    assert spots[:2] == ["system.0", "tools.0"]
    users = [i for i, m in enumerate(body["messages"]) if m["role"] == "user"]
    assert spots[2:] == [f"messages.{users[-2]}.0", f"messages.{users[-1]}.0"]


def test_responses_to_chat_for_openrouter_claude_places_breakpoints_on_parts() -> None:
    body = responses_to_chat(CODEX, openrouter().target("anthropic/claude-sonnet-4.5")).body
    roles = [
        m["role"]
        for m in body["messages"]
        if isinstance(m.get("content"), list) and any("cache_control" in p for p in m["content"])
    ]
    assert roles == ["system", "user", "user"] and "cache_control" in body["tools"][-1]
    assert "prompt_cache_key" not in body  # OpenRouter's Claude caches by markers, not by key


def test_responses_to_chat_for_other_models_places_none() -> None:
    body = responses_to_chat(CODEX, openrouter().target("openai/gpt-4o-mini")).body
    assert not has_markers(body)


def test_client_markers_are_not_doubled() -> None:
    body = {
        "system": [{"type": "text", "text": "s", "cache_control": EPHEMERAL}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    before = copy.deepcopy(body)
    place_anthropic_breakpoints(body)
    assert body == before


def test_openrouter_prepare_marks_an_openai_clients_body_for_claude() -> None:
    """openai SDK → Claude over OpenRouter is a passthrough: the provider hook places the breakpoints."""
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    assert openrouter().prepare(body, False, "openai_chat")
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "be brief", "cache_control": EPHEMERAL}
    ]
    assert body["messages"][1]["content"] == [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}]
    other = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    openrouter().prepare(other, False, "openai_chat")
    assert not has_markers(other)


@pytest.mark.parametrize(
    "model",
    [
        "~anthropic/claude-sonnet-latest",
        "~anthropic/claude-opus-latest",
        "~anthropic/claude-haiku-latest",
        "anthropic/claude-3.7-sonnet:thinking",
    ],
)
def test_openrouter_claude_aliases_and_variants_cache_at_markers(model: str) -> None:
    """s13 variants 08-a, 08-b, 08-e: OpenRouter's family aliases (``~anthropic/claude-sonnet-latest`` always
    redirects to the newest Sonnet) and variants are Claude: OpenRouter caches them only at markers, so an
    Anthropic client's markers are kept and an OpenAI client's body gets the gateway's."""
    target = openrouter().target(model)
    assert target.cache_markers
    assert has_markers(anthropic_to_chat(CASE_08, target).body)
    body = {
        "model": model,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    assert openrouter().prepare(body, True, "openai_chat")
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "be brief", "cache_control": EPHEMERAL}
    ]
    # an alias of another family is not Claude: no markers
    other = openrouter().target("~openai/gpt-latest")
    assert not other.cache_markers


@pytest.mark.parametrize(
    "model",
    ["qwen/qwen3-max", "qwen/qwen3-coder-plus", "qwen/qwen-plus", "qwen/qwen-plus-2025-07-28:thinking"],
)
def test_openrouter_qwen_caches_at_markers(model: str) -> None:
    """s26 variants 08-vAE..08-vAG: OpenRouter's Alibaba Qwen caches only at ``cache_control`` markers (OpenRouter
    docs, "Prompt Caching": "some (see Alibaba and Anthropic below) require you to enable it on a per-message
    basis"): Claude Code's markers were dropped and an OpenAI or Codex client got none, so nothing was cached."""
    target = openrouter().target(model)
    assert target.cache_markers
    assert has_markers(anthropic_to_chat(CASE_08 | {"model": model}, target).body)
    assert has_markers(
        responses_to_chat({"model": model, "instructions": "Be brief.", "input": "hi"}, target).body
    )
    body = {
        "model": model,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    assert openrouter().prepare(body, False, "openai_chat")
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "be brief", "cache_control": EPHEMERAL}
    ]


# An OpenAI chat client that marks parts itself (OpenRouter's extension for Claude; bugcase 08's kind, the
# other direction): its breakpoints and their TTL reach Anthropic where it put them.
CHAT_MARKED = {
    "model": "claude-sonnet-4-5",
    "messages": [
        {"role": "system", "content": [{"type": "text", "text": "<long system>", "cache_control": ONE_HOUR}]},
        {"role": "user", "content": [{"type": "text", "text": "first", "cache_control": EPHEMERAL}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ],
}


def test_chat_clients_own_markers_and_ttl_reach_anthropic() -> None:
    body = chat_to_anthropic(CHAT_MARKED, Target(model="claude-sonnet-4-5")).body
    assert body["system"] == [{"type": "text", "text": "<long system>", "cache_control": ONE_HOUR}]
    assert marked(body) == ["system.0", "messages.0.0"]  # where the client put them, none added
    assert body["messages"][0]["content"][0]["cache_control"] == EPHEMERAL


def test_chat_clients_markers_are_cut_to_anthropics_limit() -> None:
    turns: list[dict[str, Any]] = []
    for i in range(6):
        turns += [
            {"role": "user", "content": [{"type": "text", "text": f"u{i}", "cache_control": EPHEMERAL}]},
            {"role": "assistant", "content": f"a{i}"},
        ]
    request = {"model": "c", "messages": [CHAT_MARKED["messages"][0], *turns]}
    spots = marked(chat_to_anthropic(request, Target(model="claude-sonnet-4-5")).body)
    assert spots == ["system.0", "messages.6.0", "messages.8.0", "messages.10.0"]


def test_chat_clients_without_markers_get_the_gateways_as_before() -> None:
    request = {
        "model": "c",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
    }
    body = chat_to_anthropic(request, Target(model="claude-sonnet-4-5")).body
    assert body["system"] == [{"type": "text", "text": "s", "cache_control": EPHEMERAL}]
    assert marked(body) == ["system.0", "messages.0.0"]


def _nested(depth: int, leaf: Any) -> Any:
    node = leaf
    for _ in range(depth):
        node = {"content": [node]}
    return node


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, False),
        ({"text": 'the key "cache_control"'}, False),  # the key's text in a string is no marker
        ({"required": ["cache_control"]}, False),
        # s15 variants 08-a..08-c: a schema property or a tool call's input/arguments named so is data
        (
            {"tools": [{"function": {"parameters": {"properties": {"cache_control": {"type": "string"}}}}}]},
            False,
        ),
        ({"tools": [{"name": "t", "input_schema": {"properties": {"cache_control": {}}}}]}, False),
        ({"messages": [{"content": [{"type": "tool_use", "input": {"cache_control": "no-cache"}}]}]}, False),
        ({"tool_calls": [{"function": {"arguments": {"cache_control": "no-cache"}}}]}, False),
        # s15 variants 08-f, 08-g: a structured-output schema (chat, Responses, Anthropic) is data too
        ({"response_format": {"json_schema": {"schema": {"properties": {"cache_control": {}}}}}}, False),
        (
            {"text": {"format": {"type": "json_schema", "schema": {"properties": {"cache_control": {}}}}}},
            False,
        ),
        ({"output_format": {"type": "json_schema", "schema": {"properties": {"cache_control": {}}}}}, False),
        ({"tools": [{"name": "t", "cache_control": {"type": "ephemeral"}}]}, True),
        # s16 variants 08-a, 08-b: the client's metadata map, and a null cache_control, are no markers
        ({"metadata": {"cache_control": "no-store"}}, False),
        ({"metadata": {"cache_control": {"type": "ephemeral"}}}, False),
        ({"messages": [{"content": [{"type": "text", "text": "hi", "cache_control": None}]}]}, False),
        ({"messages": [{"content": [{"type": "text", "text": "hi", "cache_control": "ephemeral"}]}]}, False),
        (_nested(300, {"type": "text", "text": "deep"}), False),  # too deep for orjson: walked
        (_nested(300, {"type": "text", "text": "deep", "cache_control": {"type": "ephemeral"}}), True),
        # s17 variants 08-a, 08-b: an empty object asks nothing (Anthropic: cache_control.type is required)
        ({"messages": [{"content": [{"type": "text", "text": "hi", "cache_control": {}}]}]}, False),
        (
            {"messages": [{"content": [{"type": "text", "text": "hi", "cache_control": {"ttl": "1h"}}]}]},
            False,
        ),
        (_nested(300, {"type": "text", "text": "deep", "cache_control": {}}), False),
    ],
)
def test_has_markers_is_the_walks_answer(value: Any, expected: bool) -> None:
    assert has_markers(value) is expected
    if isinstance(value, dict):  # none of these bodies has a top-level key of the client's data's names
        assert body_has_markers(value) is expected


@pytest.mark.parametrize("count", [0, 4, 5, 7])
def test_keep_breakpoints_removes_only_past_the_limit(count: int) -> None:
    blocks = [{"type": "text", "text": f"b{i}", "cache_control": {"type": "ephemeral"}} for i in range(count)]
    body: dict[str, Any] = {"messages": [{"role": "user", "content": blocks}], "note": "cache_control"}
    keep_breakpoints(body)
    kept = [b["text"] for b in blocks if "cache_control" in b]
    expected = [f"b{i}" for i in range(count)]
    if count > 4:
        expected = expected[:1] + expected[count - 3 :]  # the first and the last three
    assert kept == expected


def test_openrouter_claude_gets_at_most_four_markers() -> None:
    """Bugcase 08's kind: Claude behind OpenRouter still takes at most four breakpoints (Anthropic answers 400
    "A maximum of 4 blocks with cache_control may be provided"); CASE_08 carries five. The system prompt's
    and the last three stay, as on the way to Anthropic itself; the client's parts are not changed."""
    body = anthropic_to_chat(CASE_08, openrouter().target("anthropic/claude-sonnet-4.5")).body
    body["model"] = "anthropic/claude-sonnet-4.5"
    sent = copy.deepcopy(body)
    client_messages, client_tools = body["messages"], body["tools"]
    assert openrouter().prepare(body, True, "openai_chat")
    system, _, assistant, tool, user2 = body["messages"]
    assert system["content"][1]["cache_control"] == ONE_HOUR
    assert [t.get("cache_control") for t in body["tools"]] == [None, None]
    assert [m["content"][0].get("cache_control") for m in (assistant, tool, user2)] == [EPHEMERAL] * 3
    assert client_messages == sent["messages"] and client_tools == sent["tools"]
    four = copy.deepcopy(body)
    openrouter().prepare(four, True, "openai_chat")  # four markers: left alone
    assert four["messages"] == body["messages"] and four["tools"] == body["tools"]


def test_a_tool_parameter_named_cache_control_is_no_marker() -> None:
    """Markers are counted and cut only where they can be (blocks, parts, tool entries): a tool schema's
    property or a tool call's input named ``cache_control`` is the client's data, kept as it is."""
    schema = {
        "type": "object",
        "properties": {"cache_control": {"type": "string"}, "url": {"type": "string"}},
    }
    tool = {"type": "function", "function": {"name": "fetch", "parameters": schema}}
    parts = [{"type": "text", "text": f"p{i}", "cache_control": dict(EPHEMERAL)} for i in range(4)]
    body: dict[str, Any] = {"messages": [{"role": "user", "content": parts}], "tools": [tool]}
    assert not keep_chat_breakpoints(body)  # four markers: the schema's property is none
    body["messages"].insert(0, {"role": "system", "content": [dict(parts[0], text="s")]})
    assert keep_chat_breakpoints(body)
    assert body["tools"][0]["function"]["parameters"] == schema  # not cut as a fifth marker
    kept = [p["text"] for m in body["messages"] for p in m["content"] if "cache_control" in p]
    assert kept == ["s", "p1", "p2", "p3"]
    anthropic_body: dict[str, Any] = {
        "messages": [{"role": "user", "content": [dict(p) for p in parts]}],
        "tools": [{"name": "fetch", "input_schema": schema, "cache_control": dict(EPHEMERAL)}],
    }
    keep_breakpoints(anthropic_body)
    assert anthropic_body["tools"][0]["input_schema"] == schema
    assert [p["text"] for p in anthropic_body["messages"][0]["content"] if "cache_control" in p] == [
        "p1",
        "p2",
        "p3",
    ]


FETCH_SCHEMA = {
    "type": "object",
    "properties": {"url": {"type": "string"}, "cache_control": {"type": "string"}},
    "required": ["url"],
}


def test_a_cache_control_parameter_does_not_stop_openrouter_placement() -> None:
    """s15 variant 08-a: an openai SDK client with an HTTP tool whose schema has a ``cache_control`` property
    (the Cache-Control header) on Claude via OpenRouter: that is no client marker, so the gateway still places
    its own breakpoints (it placed none: every turn re-billed the prompt); the schema is sent as it came."""
    tool = {"type": "function", "function": {"name": "http_get", "parameters": copy.deepcopy(FETCH_SCHEMA)}}
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "fetch it"}],
        "tools": [tool],
    }
    assert openrouter().prepare(body, False, "openai_chat")
    assert body["messages"][0]["content"] == [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "fetch it", "cache_control": EPHEMERAL}
    ]
    assert body["tools"][0]["function"]["parameters"] == FETCH_SCHEMA


def test_a_tool_input_named_cache_control_is_no_client_marker_on_the_way_to_anthropic() -> None:
    """s15 variants 08-b, 08-c: a chat client's tool schema property, or a tool call whose input has a
    ``cache_control`` key, on the way to Anthropic: the gateway places its breakpoints (system, tools, the
    last user turns) as for any client that sends none."""
    request = {
        "model": "c",
        "messages": [
            {"role": "system", "content": "rules"},
            {"role": "user", "content": "fetch it"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "http_get",
                            "arguments": '{"url": "u", "cache_control": "no-cache"}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "<html/>"},
        ],
        "tools": [{"type": "function", "function": {"name": "http_get", "parameters": FETCH_SCHEMA}}],
    }
    body = chat_to_anthropic(request, Target(model="claude-sonnet-4-5")).body
    assert body["system"] == [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}]
    assert body["tools"][-1]["cache_control"] == EPHEMERAL
    assert body["tools"][-1]["input_schema"] == FETCH_SCHEMA
    assert body["messages"][-1]["content"][-1]["cache_control"] == EPHEMERAL
    anthropic_request = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": "rules",
        "messages": [
            {"role": "user", "content": "fetch it"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "http_get",
                        "input": {"cache_control": "no-cache"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "<html/>"}],
            },
        ],
    }
    chat = anthropic_to_chat(anthropic_request, openrouter().target("anthropic/claude-sonnet-4.5")).body
    chat["model"] = "anthropic/claude-sonnet-4.5"
    assert openrouter().prepare(chat, False, "openai_chat")
    assert chat["messages"][0]["content"] == [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}]
    assert chat["messages"][-1]["content"][-1]["cache_control"] == EPHEMERAL


def test_a_structured_output_schema_property_does_not_stop_placement() -> None:
    """s15 variants 08-f, 08-g: response_format json_schema (chat) or text.format (Responses) whose schema has a
    ``cache_control`` property, on Claude via OpenRouter: the gateway still places its breakpoints."""
    schema = {
        "type": "object",
        "properties": {"cache_control": {"type": "string"}},
        "required": ["cache_control"],
    }
    body: dict[str, Any] = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "extract"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "p", "schema": copy.deepcopy(schema)},
        },
    }
    assert openrouter().prepare(body, False, "openai_chat")
    assert body["messages"][0]["content"] == [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}]
    assert body["response_format"]["json_schema"]["schema"] == schema
    request = {
        "model": "anthropic/claude-sonnet-4.5",
        "instructions": "rules",
        "input": "extract",
        "text": {"format": {"type": "json_schema", "name": "p", "schema": copy.deepcopy(schema)}},
    }
    chat = responses_to_chat(request, openrouter().target("anthropic/claude-sonnet-4.5")).body
    system = [m for m in chat["messages"] if m["role"] in ("system", "developer")]
    assert system and system[0]["content"][-1]["cache_control"] == EPHEMERAL
    to_claude = chat_to_anthropic(  # s15 variant 08-h: Anthropic's output_config.format.schema
        {
            "model": "c",
            "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "extract"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        },
        Target(model="claude-sonnet-4-5"),
    ).body
    assert to_claude["system"] == [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}]


def test_a_metadata_entry_named_cache_control_does_not_stop_openrouter_placement() -> None:
    """s16 variant 08-a: chat ``metadata`` (the client's string map) holds {"cache_control": "no-store"}: that is
    the client's tag, not a marker, so Claude on OpenRouter still gets the gateway's breakpoints (it got none:
    every turn re-billed the prompt); the metadata is sent as it came."""
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "metadata": {"cache_control": "no-store", "team": "web"},
        "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "fix it"}],
    }
    assert openrouter().prepare(body, False, "openai_chat")
    assert body["messages"][0]["content"] == [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}]
    assert body["messages"][1]["content"] == [{"type": "text", "text": "fix it", "cache_control": EPHEMERAL}]
    assert body["metadata"] == {"cache_control": "no-store", "team": "web"}


def test_null_cache_control_fields_are_no_markers_for_openrouter_claude() -> None:
    """s16 variant 08-b: a framework writes ``"cache_control": null`` on every part (it asks no caching of its
    own). Null is no marker (Anthropic's ``cache_control`` is an object or null): the gateway places its own,
    at most four objects (the system message's and the last two user turns')."""
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": None}]},
            {"role": "user", "content": [{"type": "text", "text": "look", "cache_control": None}]},
            {"role": "assistant", "content": "looked"},
            {"role": "user", "content": [{"type": "text", "text": "fix it", "cache_control": None}]},
        ],
    }
    assert openrouter().prepare(body, False, "openai_chat")
    marks = [m["content"][0].get("cache_control") for m in body["messages"] if isinstance(m["content"], list)]
    assert marks == [EPHEMERAL, EPHEMERAL, EPHEMERAL]
    assert has_markers(body)


def test_null_markers_do_not_count_against_the_limit() -> None:
    """Null ``cache_control`` fields are not among the four a body may carry: ``keep_chat_breakpoints`` keeps
    a client's four real markers although six parts carry the key."""
    parts = [{"type": "text", "text": f"t{i}", "cache_control": None} for i in range(2)]
    real = [{"type": "text", "text": f"r{i}", "cache_control": dict(EPHEMERAL)} for i in range(4)]
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [{"role": "user", "content": [p]} for p in [*parts, *real]],
    }
    assert not keep_chat_breakpoints(body)
    assert [m["content"][0]["cache_control"] for m in body["messages"]] == [None, None, *[EPHEMERAL] * 4]


def test_message_level_markers_move_onto_parts_for_openrouter_claude() -> None:
    """s16 variant 08-f: a LiteLLM-style client marks MESSAGES (string content). OpenRouter reads markers on
    content parts only (message-level ones cached nothing), so they move onto each message's last part; the
    client's messages are not changed."""
    system = {"role": "system", "content": "rules", "cache_control": EPHEMERAL}
    user = {
        "role": "user",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "cache_control": ONE_HOUR,
    }
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [system, {"role": "assistant", "content": "ok"}, user],
    }
    before = copy.deepcopy(body)
    assert openrouter().prepare(body, False, "openai_chat")
    sent = body["messages"]
    assert sent[0] == {
        "role": "system",
        "content": [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}],
    }
    assert sent[2] == {
        "role": "user",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": ONE_HOUR}],
    }
    assert sent[1] == {"role": "assistant", "content": "ok"}
    assert [system, user] == [before["messages"][0], before["messages"][2]]  # the client's own, untouched


def test_message_level_nulls_and_unplaceable_markers_go() -> None:
    """A message-level ``null``, or a marker on a message without content, asks nothing OpenRouter reads: the key
    goes, and the gateway places its own breakpoints (the part's own marker wins over the message's)."""
    body = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [
            {"role": "system", "content": "rules", "cache_control": None},
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
                "cache_control": EPHEMERAL,
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
    }
    assert openrouter().prepare(body, False, "openai_chat")
    sent = body["messages"]
    assert all("cache_control" not in m for m in sent)
    assert sent[0]["content"] == [{"type": "text", "text": "rules", "cache_control": EPHEMERAL}]
    assert sent[3]["content"] == [{"type": "text", "text": "done", "cache_control": EPHEMERAL}]
    kept = {
        "role": "user",
        "content": [{"type": "text", "text": "x", "cache_control": ONE_HOUR}],
        "cache_control": EPHEMERAL,
    }
    body = {"model": "anthropic/claude-sonnet-4.5", "messages": [kept]}
    openrouter().prepare(body, False, "openai_chat")
    assert body["messages"][0] == {
        "role": "user",
        "content": [{"type": "text", "text": "x", "cache_control": ONE_HOUR}],
    }


RESPONSES_MARKED = {
    "model": "m",
    "input": [
        {
            "role": "user",
            "content": [{"type": "input_text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
        }
    ],
}


def test_a_body_s_top_level_input_is_looked_in() -> None:
    """A Responses body's ``input`` is its conversation: a marker there is the client's, found by
    ``body_has_markers``; ``has_markers`` takes its value for nested data and skips an ``input`` key."""
    assert body_has_markers(RESPONSES_MARKED)
    assert not has_markers(RESPONSES_MARKED)
    assert has_markers(RESPONSES_MARKED["input"])


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": [{"type": "custom_tool_call", "input": {"cache_control": "no-cache"}}]},
        {"model": "m", "input": [{"type": "function_call", "arguments": {"cache_control": "no-cache"}}]},
        {"model": "m", "input": "hi", "text": {"format": {"schema": {"properties": {"cache_control": {}}}}}},
        {"messages": [{"content": [{"type": "tool_use", "input": {"cache_control": "no-cache"}}]}]},
    ],
)
def test_below_a_body_s_top_level_input_and_schemas_are_data(body: dict[str, Any]) -> None:
    assert not body_has_markers(body)


def test_a_marker_at_a_body_s_top_level_counts() -> None:
    assert body_has_markers({"model": "m", "cache_control": {"type": "ephemeral"}, "messages": []})
    assert not body_has_markers({"model": "m", "messages": [{"role": "user", "content": "cache_control"}]})


def test_a_body_s_metadata_and_null_markers_are_no_markers() -> None:
    """The two rules of s16 variants 08-a and 08-b hold for whole bodies too (``body_has_markers``): the
    client's ``metadata`` map is data, and a ``null`` marker asks for nothing."""
    assert not body_has_markers(
        {"model": "m", "metadata": {"cache_control": {"type": "ephemeral"}}, "messages": []}
    )
    assert not body_has_markers({"model": "m", "cache_control": None, "messages": []})
    assert not body_has_markers(
        {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_text", "cache_control": None}]}],
        }
    )
    assert body_has_markers({"model": "m", "metadata": {}, "cache_control": {"type": "ephemeral"}})


def test_openrouter_claude_empty_cache_control_objects_are_dropped_and_placement_done() -> None:
    """s17 variants 08-a/08-b: ``"cache_control": {}`` (a framework's empty map) on a Chat client's parts and
    tools asks for nothing and Anthropic refuses it (400 "cache_control.type: Field required"); for Claude on
    OpenRouter it is removed and the gateway's own breakpoints are placed. The client's body is not changed."""
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "S" * 40, "cache_control": {}}]},
        {"role": "user", "content": [{"type": "text", "text": "go", "cache_control": None}]},
    ]
    tools = [{"type": "function", "function": {"name": "t", "parameters": {}}, "cache_control": {}}]
    client = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": messages,
        "tools": tools,
        "cache_control": {},
    }
    original = copy.deepcopy(client)
    body = dict(client)
    provider = OpenRouterProvider(name="openrouter", base_url="http://x", api_key="k")
    assert provider.prepare(body, False, "openai_chat")
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "cache_control" in node:
                found.append(node["cache_control"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(body)
    assert found and all(v == EPHEMERAL for v in found), found
    assert client == original
    assert drop_non_markers({"messages": [{"role": "user", "content": "hi"}]}) is False


def test_chat_breakpoints_leave_the_clients_messages_and_tools_unchanged() -> None:
    """OpenRouter's Claude on a passthrough: ``prepare`` gets a shallow copy of the client's body, whose
    ``messages`` and ``tools`` a fallback attempt to another provider reads again. The markers the gateway
    places go on copies: the client's lists and entries keep no ``cache_control`` (a provider that refuses
    the key, as Google's Gemini API does, would get it on the fallback), and the body sent holds them."""
    client: dict[str, Any] = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    }
    before = copy.deepcopy(client)
    sent = dict(client)
    OpenRouterProvider("openrouter", "http://x", "k").prepare(sent, False, "openai_chat")
    assert client == before
    assert orjson.dumps(sent).count(b'"cache_control":{"type":"ephemeral"}') == 4
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}
    ]
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert sent["messages"][3]["content"][-1]["cache_control"] == {"type": "ephemeral"}


def configured(models: list[str]) -> ConfiguredProvider:
    spec = parse_catalog({"providers": [{"name": "litellm", "base_url": "http://h/v1", "models": models}]})
    return ConfiguredProvider(spec.providers[0], None)


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5",
        "anthropic/claude-sonnet-4.5",
        "bedrock/claude-opus-4-1",
        # s18 variant 08-l: Bedrock's ids (a cross-region profile, LiteLLM's bedrock/ path, an ARN)
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
        # s26 variants 08-vQ, 08-vY: a platform's own prefix (Databricks), a capitalised id (Poe, Abacus)
        "databricks-claude-sonnet-4-5",
        "Claude-Sonnet-4.5",
        "Anthropic/Claude-Opus-4.1",
        # s26 variant 08-vAJ: Alibaba's own Qwen models at DashScope (explicit cache only at markers)
        "qwen3-max",
        "dashscope/qwen-plus-2025-07-28",
        "qwen3-coder-plus",
    ],
)
def test_a_configured_provider_serving_claude_keeps_the_markers(model: str) -> None:
    """s18 variant 08-f: Claude behind a LiteLLM proxy (a catalog provider on the chat wire): LiteLLM passes
    cache_control on content parts to Anthropic; the gateway dropped the client's markers, so nothing was cached."""
    target = configured([model]).target(model)
    assert target.cache_markers
    body = anthropic_to_chat(CASE_08, target).body
    assert body["messages"][0]["content"][1]["cache_control"] == ONE_HOUR
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "fix the first one", "cache_control": EPHEMERAL}
    ]
    placed = responses_to_chat({"model": model, "instructions": "Be brief.", "input": "hi"}, target).body
    assert body_has_markers(placed)  # a Responses client (no markers of its own) gets the gateway's


@pytest.mark.parametrize(
    "model",
    [
        "llama-3.3-70b",
        "qwen/qwen3-coder",
        "deepseek-chat",
        "us.meta.llama3-1-70b-instruct-v1:0",
        "databricks-llama-4-maverick",
        "Qwen3-8B-Claude-Distill",
        "Qwen/Qwen3-Coder-30B-A3B-Instruct",
        "qwen3:8b",
    ],
)
def test_a_configured_provider_serving_other_models_gets_no_markers(model: str) -> None:
    target = configured([model]).target(model)
    assert not target.cache_markers
    assert not body_has_markers(anthropic_to_chat(CASE_08 | {"model": model}, target).body)


def test_the_catalog_says_which_models_keep_the_markers() -> None:
    """An alias a LiteLLM proxy serves Claude under (``sonnet``) has no Claude name: ``cache_markers = true`` keeps
    the markers; ``false`` drops them even for a Claude name (a server that refuses the field)."""
    for flag, model, kept in (
        (True, "sonnet", True),
        (False, "claude-sonnet-4-5", False),
        (None, "sonnet", False),
    ):
        item: dict[str, Any] = {"name": "litellm", "base_url": "http://h/v1", "models": [model]}
        if flag is not None:
            item["cache_markers"] = flag
        provider = ConfiguredProvider(parse_catalog({"providers": [item]}).providers[0], None)
        assert provider.target(model).cache_markers is kept
    with pytest.raises(CatalogError, match="cache_markers"):
        parse_catalog(
            {"providers": [{"name": "x", "base_url": "http://h/v1", "models": ["m"], "cache_markers": 1}]}
        )


def test_a_configured_provider_prepares_a_chat_clients_body_for_claude() -> None:
    """s20 variants 08-x..08-z: an OpenAI chat client's body for Claude behind a LiteLLM proxy passes through
    untranslated, and got none of what the same body gets for Claude on OpenRouter: without markers it cached
    nothing (every turn re-billed the whole prompt), five markers were Anthropic's 400 ("A maximum of 4 blocks
    with cache_control"), and an empty ``{}`` marker its 400 too. ``prepare`` now does the same as OpenRouter's."""
    provider = configured(["claude-sonnet-4-5"])
    plain = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    assert provider.prepare(plain, False, "openai_chat")
    assert plain["messages"][0]["content"] == [
        {"type": "text", "text": "be brief", "cache_control": EPHEMERAL}
    ]
    assert plain["messages"][1]["content"] == [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}]

    def turn(text: str, marker: Any = EPHEMERAL) -> dict[str, Any]:
        return {"role": "user", "content": [{"type": "text", "text": text, "cache_control": marker}]}

    five = {"model": "claude-sonnet-4-5", "messages": [turn(f"t{i}") for i in range(5)]}
    assert provider.prepare(five, True, "openai_chat")
    assert orjson.dumps(five).count(b'"cache_control"') == 4
    assert five["messages"][-1]["content"][0]["cache_control"] == EPHEMERAL  # the last turn's is kept
    empty = {"model": "claude-sonnet-4-5", "messages": [turn("sys", {}), turn("hi")]}
    provider.prepare(empty, False, "openai_chat")
    assert "cache_control" not in empty["messages"][0]["content"][0]
    assert empty["messages"][1]["content"][0]["cache_control"] == EPHEMERAL
    # another model behind the same relay, or Claude where the catalog says no: untouched
    for other, flag in ((configured(["llama-3.3-70b"]), "llama-3.3-70b"), (None, "claude-sonnet-4-5")):
        if other is None:
            item = {"name": "x", "base_url": "http://h/v1", "models": [flag], "cache_markers": False}
            other = ConfiguredProvider(parse_catalog({"providers": [item]}).providers[0], None)
        body = {"model": flag, "messages": [{"role": "user", "content": "hi"}]}
        before = copy.deepcopy(body)
        assert not other.prepare(body, False, "openai_chat")
        assert body == before


@pytest.mark.parametrize(
    ("model", "takes"),
    [
        ("gpt-5", True),
        ("gpt-4.1", True),
        ("openai/gpt-4o-mini", True),
        ("azure/gpt-4.1", True),
        ("o3", True),
        ("o4-mini", True),
        ("chatgpt-4o-latest", True),
        ("gpt-oss-120b", False),  # the open-weight model: vLLM, Groq, Cerebras know no prompt_cache_key
        ("openai/gpt-oss-20b", False),
        ("llama-3.3-70b", False),
    ],
)
def test_a_configured_provider_serving_openais_models_takes_prompt_cache_key(model: str, takes: bool) -> None:
    """s20 variants 08-aa, 08-ab: OpenAI's models behind a relay (LiteLLM's proxy, Azure OpenAI: both take
    ``prompt_cache_key``) lost Codex's key and never got Claude Code's session as one, so a session's turns
    landed on any server's cache; the built-in OpenAI provider sends them."""
    target = configured([model]).target(model)
    assert target.prompt_cache_key is takes
    session = session_from({"x-claude-code-session-id": "5f0c-session"})
    sent = anthropic_to_chat(CASE_08 | {"model": model}, target, session).body
    assert sent.get("prompt_cache_key") == ("5f0c-session" if takes else None)
    codex = responses_to_chat({"model": model, "input": "hi", "prompt_cache_key": "codex-7"}, target).body
    assert codex.get("prompt_cache_key") == ("codex-7" if takes else None)


def test_chat_clients_message_level_markers_reach_anthropic_with_their_ttl() -> None:
    """s20 variant 08-ac: LiteLLM-style markers on whole chat messages (a tool result's string content, an earlier
    user turn) were not read at all on the way to Anthropic: the gateway placed its own 5-minute breakpoints, so a
    client's 1-hour breakpoint on a tool result, or one on a turn the gateway does not choose, was lost. They now
    go where the client put them, TTL and all, and the gateway adds none; the client's messages are unchanged."""
    request = {
        "model": "c",
        "messages": [
            {"role": "system", "content": "<long system>"},
            {"role": "user", "content": "first", "cache_control": ONE_HOUR},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Read the log."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "log " * 50, "cache_control": ONE_HOUR},
        ],
        "tools": [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}],
    }
    before = copy.deepcopy(request)
    body = chat_to_anthropic(request, Target(model="claude-sonnet-4-5")).body
    assert request == before
    assert body["messages"][0]["content"] == [{"type": "text", "text": "first", "cache_control": ONE_HOUR}]
    result = body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result"
    assert result["content"] == [{"type": "text", "text": "log " * 50, "cache_control": ONE_HOUR}]
    assert orjson.dumps(body).count(b'"cache_control"') == 2  # the client's two, none of the gateway's


def test_chat_clients_marker_on_an_assistant_answer_reaches_anthropic() -> None:
    """s20 variant 08-af: a chat client's breakpoint on the previous answer (a marked assistant text part,
    OpenRouter's documented form, or a LiteLLM-style marker on the whole assistant message) was dropped on the
    way to Anthropic and the gateway's own 5-minute breakpoints placed instead: the client's 1-hour TTL was
    lost. The assistant's text block carries it now, and the gateway adds none."""
    for assistant in (
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a long answer", "cache_control": ONE_HOUR}],
        },
        {"role": "assistant", "content": "a long answer", "cache_control": ONE_HOUR},
    ):
        request = {
            "model": "c",
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u1"},
                assistant,
                {"role": "user", "content": "u2"},
            ],
        }
        body = chat_to_anthropic(request, Target(model="claude-sonnet-4-5")).body
        assert body["messages"][1]["content"] == [
            {"type": "text", "text": "a long answer", "cache_control": ONE_HOUR}
        ]
        assert marked(body) == ["messages.1.0"]
