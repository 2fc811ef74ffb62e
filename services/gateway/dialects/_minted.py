"""What the gateway mints, recognised and removed before a body reaches a provider that validates it (pure).

The gateway invents values only a client of its own sees: a synthetic signature closing a thinking block
made from another provider's reasoning (``SYNTHETIC_SIGNATURE``), and ``ekai.*`` opaque tokens in
Responses ``reasoning`` and ``compaction`` items (``_responses_opaque``), and tool call ids carrying Gemini's
thought signature (``_call_signature``). Clients send them back on later
turns, and a conversation may move to a provider that checks them (Anthropic verifies every thinking
signature, OpenAI every ``encrypted_content``) and answers 400. Each wire's function strips them from an
outgoing body, on the passthrough path as on translated ones. The body is never changed in place (the
client's body is reused across attempts): changed parts are copied. Returns True when something changed.
"""

from __future__ import annotations

import re
from typing import Any

from services.gateway.dialects._anthropic_wire import (
    SYNTHETIC_SIGNATURE,
    anthropic_takes_id,
    tool_ids_one_to_one,
)
from services.gateway.dialects._call_signature import MARK, plain_block, plain_item
from services.gateway.dialects._claude_details import claude_free
from services.gateway.dialects._copy_on_change import DROP, rewritten, rewritten_in
from services.gateway.dialects._responses_opaque import decode_compaction
from services.gateway.dialects._thinking_form import other_form

MINTED_PREFIX = "ekai."  # every opaque token the gateway makes starts with it


def strip_nothing(body: dict[str, Any]) -> bool:
    """Chat completions: nothing the gateway mints is checked by providers (call ids are free-form)."""
    return False


def strip_for_anthropic(body: dict[str, Any]) -> bool:
    """Drop thinking blocks closed with the gateway's synthetic signature, or with none at all (a missing or
    empty ``signature``, as other Anthropic-compatible providers send back: Anthropic answers 400 "Invalid
    `signature` in `thinking` block" to both); an assistant turn left empty is dropped (Anthropic joins
    the consecutive user turns around it). A ``tool_use``/``tool_result`` id carrying Gemini's thought signature
    (``_call_signature``: a tool loop begun on Gemini 3) gets its own id back, and one with characters outside
    Anthropic's id pattern (a loop begun on Kimi K2: ``functions.weather:0``) gets them as ``_``
    (``anthropic_tool_id``, the translators' rule too; else 400 "String should match pattern"; bug33b variants
    04n/04o); then, when any id is not one of Anthropic's own (``toolu_``), every id of the history is made one to
    one (``tool_ids_one_to_one``: two ids made the same, or one id given on two turns, as a server that numbers a
    model's calls per answer gives ``call_0`` or ``functions.weather:0``, are a 400 "`tool_use` ids must be unique";
    review35). With thinking off, a final assistant prefill keeps no thinking block (Anthropic refuses one there:
    ``_prefill_thinks``).

    When the last assistant turn calls a tool (a tool loop in progress) and, after that, does not start with a
    thinking block, the request's ``thinking`` goes too when Anthropic would refuse the body: 400 "Expected
    `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant`
    message must start with a thinking block" (extended-thinking docs, "Preserving thinking blocks"). That is
    when the turn lost its block here (s10 variant 04-e), or, with manual thinking (``enabled``, where Claude's
    own turns always begin with thinking), when it never had one: another model that returns no reasoning
    (grok-4, gpt-4o) answered it before the conversation moved to Claude (s13 variants 04-a, 04-c;
    ``_request_to_anthropic.keeps_thinking`` is the translators' rule). With ``adaptive`` thinking a turn
    without thinking may be one Claude made itself ("In adaptive mode, thinking is optional for the model":
    adaptive-thinking docs): such a turn whose tool calls carry Anthropic's ids (``_answered_elsewhere``) is
    sent as it came (Claude Code's own tool loops, whose thinking setting and cached prefix must not change);
    one with another model's ids goes without thinking (s13 variant 04-b). If Anthropic refuses a body all
    the same, ``refused_signature`` reads the refusal and ``strip_thinking`` makes the one retry without it.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    foreign = False  # a call id Anthropic did not make (``_FOREIGN``): every id is read one to one

    def stripped_message(msg: Any) -> Any:
        """``strip_for_anthropic`` of one message: itself when no block is to be stripped (``_STRIP``), else a
        copy without its unverifiable thinking and with its call ids plain and in Anthropic's pattern, or ``DROP``
        when no block is left."""
        nonlocal foreign
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            return msg
        for block in content:  # (a loop, not ``any`` over a generator: one frame less a message)
            touch = _touched(block)
            if touch:  # (``_KEEP``, nearly every block: one test)
                if touch == _STRIP:
                    break
                foreign = True
        else:
            return msg
        kept = [plain_block(b) for b in content if not _unverifiable(b)]
        return {**msg, "content": kept} if kept else DROP

    stripped = rewritten(messages, stripped_message)
    changed = stripped is not None
    out = messages if stripped is None else stripped
    if changed or foreign:  # (Claude Code's own loops, ``toolu_`` ids alone and nothing stripped: no walk)
        ided = tool_ids_one_to_one(out)
        changed = changed or ided is not out
        out = ided
    thinking = body.get("thinking")
    if _thinking_off(thinking) and _prefill_thinks(out):
        out = [*out[:-1], *_without_thinking_blocks(out[-1])]
        changed = True
    if changed:
        body["messages"] = out
    if (
        isinstance(thinking, dict)
        and thinking.get("type") != "disabled"
        and not _starts_with_thinking(out)
        and (
            thinking.get("type") == "enabled"
            or (changed and _starts_with_thinking(messages))
            or _answered_elsewhere(out)
        )
    ):
        del body["thinking"]
        changed = True
    return changed


def _thinking_off(thinking: Any) -> bool:
    return not isinstance(thinking, dict) or thinking.get("type") == "disabled"


def _prefill_thinks(messages: list[Any]) -> bool:
    """True when the final message is an assistant prefill holding a thinking block: with thinking off,
    Anthropic refuses it (400 "When thinking is disabled, an `assistant` message in the final position
    cannot contain `thinking`": tailcallhq/forgecode#1853; s14 variant 04-c)."""
    last = messages[-1] if messages else None
    content = last.get("content") if isinstance(last, dict) and last.get("role") == "assistant" else None
    return isinstance(content, list) and any(_thinking(b) for b in content)


def _without_thinking_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """``message`` without its thinking blocks (a copy), or nothing when no other block is left."""
    kept = [b for b in message["content"] if not _thinking(b)]
    return [{**message, "content": kept}] if kept else []


def _last_turn(messages: list[Any]) -> list[Any]:
    """The blocks of the last assistant turn. Consecutive assistant messages are one turn (Anthropic combines
    consecutive turns of the same role: Messages API reference, ``messages``)."""
    last: list[Any] = []
    seen = False
    for msg in reversed(messages):  # from the end: the last run of assistant messages only
        role = msg.get("role") if isinstance(msg, dict) else None
        if role == "assistant":
            content = msg.get("content")
            last[:0] = content if isinstance(content, list) else [{"type": "text"}]
            seen = True
        elif seen:
            break
    return last


def _starts_with_thinking(messages: list[Any]) -> bool:
    """False when the last assistant turn calls a tool and does not start with a thinking block (what
    Anthropic refuses with thinking on; ``strip_for_anthropic``)."""
    last = _last_turn(messages)
    if not any(_tool_use(b) for b in last):
        return True
    return isinstance(last[0], dict) and last[0].get("type") in _THINKING_BLOCKS


def _answered_elsewhere(messages: list[Any]) -> bool:
    """True when a tool call of the last assistant turn has an id Anthropic does not make: its ids begin
    ``toolu_`` (``toolu_01…``; ``toolu_vrtx_…`` on Vertex AI, ``toolu_bdrk_…`` on Bedrock: Messages API
    reference, tool use examples), other models' are their own (OpenAI and xAI ``call_…``), so the turn was
    answered by another model (s13 variant 04-b)."""
    return any(
        _tool_use(b) and not (isinstance(b.get("id"), str) and b["id"].startswith("toolu_"))
        for b in _last_turn(messages)
    )


def _tool_use(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "tool_use"


# ``_touched``'s answers: a block kept as it is; a call or result kept as it is whose id Anthropic did not make; a
# block to drop or whose call id changes
_KEEP, _FOREIGN, _STRIP = 0, 1, 2


def _touched(block: Any) -> int:
    """What ``strip_for_anthropic`` does with a block: ``_STRIP`` when it drops it (``_unverifiable``) or gives its
    plain call id back (``plain_block``) or one in Anthropic's pattern, ``_FOREIGN`` for a call or result whose id,
    in the pattern, Anthropic did not make (not ``toolu_``: the history's ids are then made one to one,
    ``tool_ids_one_to_one``), else ``_KEEP``. One call per block, as ``_unverifiable`` alone was (the passthrough
    path reads every block of every turn)."""
    if not isinstance(block, dict):
        return _KEEP
    kind = block.get("type")
    if kind == "thinking":
        signature = block.get("signature")
        if not isinstance(signature, str) or not signature or signature == SYNTHETIC_SIGNATURE:
            return _STRIP
        return _KEEP
    if kind == "tool_use" or kind == "tool_result":
        call_id = block.get("id" if kind == "tool_use" else "tool_use_id")
        if not isinstance(call_id, str):
            return _KEEP
        if MARK in call_id:
            return _STRIP if plain_block(block) is not block or not anthropic_takes_id(call_id) else _FOREIGN
        # Anthropic's own ids (``toolu_01…``: Claude Code's own loops, nearly every block here) are taken as they
        # are, without the character check (a third of a passthrough's strip with 60 tool blocks: bug33b's A/B).
        # Another model's in the pattern are kept, but make ``strip_for_anthropic`` read every id of the history: a
        # server numbering calls per answer gives one id on two turns (``call_0``; review35)
        if call_id.startswith("toolu_"):
            return _KEEP
        return _FOREIGN if anthropic_takes_id(call_id) else _STRIP
    return _KEEP


def _unverifiable(block: Any) -> bool:
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return False
    signature = block.get("signature")
    return not isinstance(signature, str) or not signature or signature == SYNTHETIC_SIGNATURE


def strip_for_responses(body: dict[str, Any]) -> bool:
    """Drop reasoning items carrying a gateway-made ``encrypted_content``; turn a gateway-made compaction
    item into the user message its summary stands for (OpenAI cannot decrypt either). A call or output whose
    ``call_id`` carries Gemini's thought signature (``_call_signature``) gets its own id back: OpenAI refuses
    a ``call_id`` over 64 characters."""
    return rewritten_in(body, "input", _responses_unminted)


def _responses_unminted(item: Any) -> Any:
    """``strip_for_responses`` of one input item: itself, a copy with its plain call id, the user message a
    gateway-made compaction item's summary stands for, or ``DROP`` (a gateway-made reasoning item)."""
    token = item.get("encrypted_content") if isinstance(item, dict) else None
    if not (isinstance(token, str) and token.startswith(MINTED_PREFIX)):
        call_id = item.get("call_id") if isinstance(item, dict) else None
        # (looked at here: no call for each other item)
        return plain_item(item) if isinstance(call_id, str) and MARK in call_id else item
    summary = decode_compaction(token) if item.get("type") == "compaction" else None
    if not summary:
        return DROP
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": summary}]}


# Anthropic's 400s for history thinking blocks the model will not take back: one it did not sign,
# "messages.1.content.0: Invalid `signature` in `thinking` block" (a conversation begun on another
# Anthropic-compatible provider or gateway, whose signatures the gateway cannot tell from Anthropic's own
# before Anthropic checks them); after a model switch, "messages.1.content.0: `thinking` or
# `redacted_thinking` blocks in the latest assistant message cannot be modified. These blocks must remain as
# they were in the original response." (Claude Code sessions stuck on it, "esp. after model change"; s12
# variant 04-g); a block whose text another client left empty, "messages.1.content.0.thinking: each
# thinking block must contain thinking" (anomalyco/opencode#11571, on a model switch; s12 variant 04-h); and
# a tool loop's last turn without a thinking block sent with thinking on, "Expected `thinking` or
# `redacted_thinking`, but found `tool_use`", or "... but found `text`" when the turn begins with text (any first block)
# (``strip_for_anthropic`` sends adaptive ones as they came; the text wording: n8n-io/n8n#22550,
# zed-industries/zed#46508, with or without the backticks; s14 variants 04-a, 04-d); a turn whose thinking is
# not its first block, "messages.51.content.0: If an assistant message contains any thinking blocks, the first
# block must be thinking or redacted_thinking. Found text." (anthropics/claude-code#20705; s14 variant 04-b);
# thinking off with an assistant prefill that holds thinking, "messages.1.content.0: When thinking is disabled,
# an `assistant` message in the final position cannot contain `thinking`" (tailcallhq/forgecode#1853), and
# "messages.1: The final block in an assistant message cannot be `thinking`." (tailcallhq/forgecode#2107); a
# redacted_thinking block another provider or gateway made, "messages.21.content.1: Invalid `data` in
# `redacted_thinking` block" (Chevey339/kelivo#481; s14 variant 04-i).
_INVALID_SIGNATURE = re.compile(
    r"invalid\W+(?:signature|data)\W+in\W+(?:redacted_)?thinking\W+block|"
    r"thinking\W+or\W+redacted_thinking\W+blocks\W+in\W+the\W+latest\W+assistant\W+message\W+cannot\W+be\W+modified|"
    r"each\W+thinking\W+block\W+must\W+contain\W+thinking|"
    r"expected\W+thinking\W+or\W+redacted_thinking\W+but\W+found\W+\w+|"
    r"first\W+block\W+must\W+be\W+thinking\W+or\W+redacted_thinking|"
    r"thinking\W+is\W+disabled\W+an\W+assistant\W+message\W+in\W+the\W+final\W+position\W+cannot\W+contain\W+thinking|"
    r"final\W+block\W+in\W+an\W+assistant\W+message\W+cannot\W+be\W+thinking",
    re.I,
)
_THINKING_BLOCKS = ("thinking", "redacted_thinking")


def refused_signature(status: int | None, message: str) -> bool:
    """True for Anthropic's refusal of the history's thinking blocks (400, ``_INVALID_SIGNATURE``: a signature
    or redacted ``data`` it did not make, blocks it will not take back after a model switch, an empty block,
    a tool turn not begun with thinking, thinking placed after another block, thinking in the final assistant
    message). A refusal ``strip_thinking`` finds nothing to change for gets no retry."""
    return status == 400 and _INVALID_SIGNATURE.search(message) is not None


def strip_thinking(body: dict[str, Any]) -> bool:
    """After ``refused_signature``: drop every thinking and redacted_thinking block of the history (an
    assistant turn left empty is dropped), and the request's ``thinking`` when the last assistant turn
    lost one or, a tool loop's, does not start with one (with thinking on, Anthropic wants that turn to start
    with a thinking block). The body is
    changed as ``strip_for_anthropic`` changes it (copies of what changes). True when anything changed."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    out: list[Any] = []
    changed = last_lost = False
    for msg in messages:
        content = msg.get("content") if isinstance(msg, dict) else None
        is_assistant = isinstance(msg, dict) and msg.get("role") == "assistant"
        if not isinstance(content, list) or not any(_thinking(b) for b in content):
            out.append(msg)
            last_lost = False if is_assistant else last_lost
            continue
        changed = True
        last_lost = is_assistant
        kept = [b for b in content if not _thinking(b)]
        if kept:
            out.append({**msg, "content": kept})
    if changed:
        body["messages"] = out
    if "thinking" in body and (last_lost or not _starts_with_thinking(out if changed else messages)):
        del body["thinking"]  # (a tool loop's last turn that never had thinking too: "but found `tool_use`")
        changed = True
    return changed


def _thinking(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") in _THINKING_BLOCKS


def strip_refused_thinking(status: int | None, message: str, body: dict[str, Any]) -> bool:
    """Anthropic's ``WireSpec.strip_refused``: after ``refused_signature``, the body without the history's
    thinking (``strip_thinking``); after a refusal of the thinking's form (a budget on an adaptive-only model,
    adaptive on an older one), the other form (``_thinking_form.other_form``; s29 fix29). True when a retry is worth
    sending."""
    if refused_signature(status, message):
        return strip_thinking(body)
    return other_form(status, message, body)


# OpenAI's 400 for an ``encrypted_content`` it did not make or cannot read (code ``invalid_encrypted_content``): "The
# encrypted content gAAA...DQ== could not be verified." (openai/codex#8132, #8145), "The encrypted content for item
# rs_… could not be verified. Reason: Encrypted content could not be decrypted or parsed." (openai/codex#35334;
# Wei-Shaw/sub2api#2863). Reasoning items are encrypted for the organization (and provider) that made them, so a
# stateless Codex conversation (``store: false``, every turn's reasoning sent back) begun on another key, relay or
# Responses server is refused on every turn after it moves here (bug34b variants 04v34k..04v34m).
_UNREADABLE_ENCRYPTED = re.compile(
    r"encrypted\W+content\b.*?\bcould\W+not\W+be\W+(?:verified|decrypted)", re.I | re.S
)


def refused_encrypted_content(status: int | None, message: str) -> bool:
    """True for OpenAI's refusal of an ``encrypted_content`` in the history (400, ``_UNREADABLE_ENCRYPTED``: one it
    cannot verify or decrypt; its code ``invalid_encrypted_content``)."""
    return status == 400 and _UNREADABLE_ENCRYPTED.search(message) is not None


def strip_refused_for_responses(status: int | None, message: str, body: dict[str, Any]) -> bool:
    """The Responses wire's ``WireSpec.strip_refused``: after ``refused_encrypted_content``, the body without the
    ``input``'s ``reasoning`` items that carry an ``encrypted_content`` (the list copied, never changed in place),
    for one retry, as ``strip_thinking`` drops the thinking Anthropic will not take back. A reasoning item is the
    model's own earlier thinking, which it can go on without (OpenAI's reasoning guide, encrypted reasoning items:
    passed back so the model need not think again); a ``compaction`` item holds the conversation itself and
    stays. An item the model made after a dropped one (an assistant ``message``, a ``function_call`` or another
    ``*_call``) goes without its ``id``: with it, OpenAI looks for the reasoning it came with and refuses it, 400
    "Item 'msg_…' of type 'message' was provided without its required 'reasoning' item: 'rs_…'" (continuedev/continue
    #12620; 'fc_…' of type 'function_call': cline/cline#12242); without it, it is input like any other (Codex sends
    none: its ``ResponseItem`` ids are not serialized). True when an item was dropped (review35 for the ids)."""
    items = body.get("input")
    if not isinstance(items, list) or not refused_encrypted_content(status, message):
        return False
    kept: list[Any] = []
    dropped = False
    for item in items:
        if _encrypted_reasoning(item):
            dropped = True
        elif dropped and _made_with_its_id(item):
            kept.append({k: v for k, v in item.items() if k != "id"})
        else:
            kept.append(item)
    if not dropped:
        return False
    body["input"] = kept
    return True


def _encrypted_reasoning(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "reasoning" and bool(item.get("encrypted_content"))


def _made_with_its_id(item: Any) -> bool:
    """An input item the model made (an assistant ``message``, a ``function_call``, ``custom_tool_call``,
    ``web_search_call``…) that carries its ``id`` (``strip_refused_for_responses``)."""
    if not isinstance(item, dict) or "id" not in item:
        return False
    kind = item.get("type")
    return (kind == "message" and item.get("role") == "assistant") or (
        isinstance(kind, str) and kind.endswith("_call")
    )


def _without_encrypted_details(msg: Any) -> Any:
    """After ``refused_encrypted_content`` relayed on the chat wire (OpenRouter passes OpenAI's words on: it may serve
    ``openai/…`` from one upstream and the next turn from another, which cannot decrypt the first one's reasoning),
    ``msg`` without its ``reasoning_details`` entries of type ``reasoning.encrypted`` (OpenRouter's reasoning details
    docs: an encrypted entry carries the model's reasoning as ``data``; the key gone when none is left): a copy, or
    itself when it holds none."""
    details = msg.get("reasoning_details") if isinstance(msg, dict) else None
    if not isinstance(details, list):
        return msg
    kept = [d for d in details if not (isinstance(d, dict) and d.get("type") == "reasoning.encrypted")]
    if len(kept) == len(details):
        return msg
    msg = {k: v for k, v in msg.items() if k != "reasoning_details"}
    if kept:
        msg["reasoning_details"] = kept
    return msg


# A chat server refusing ``reasoning_content`` on assistant messages as a field it does not know (Groq: "property
# 'reasoning_content' is unsupported"; pydantic servers: "Extra inputs are not permitted"; "unknown field",
# "unrecognized"), not DeepSeek's "Missing `reasoning_content` field", which asks for it.
_REFUSED_FIELD = re.compile(
    r"unsupported|not supported|unknown|unrecognized|not permitted|not allowed|additional propert|extra",
    re.IGNORECASE,
)


def refused_reasoning_content(status: int | None, message: str) -> bool:
    """True for a 400/422 whose message names ``reasoning_content`` as a field the server does not take
    (``_REFUSED_FIELD``) and does not say it is missing."""
    return (
        status in (400, 422)
        and "reasoning_content" in message
        and "missing" not in message.lower()
        and _REFUSED_FIELD.search(message) is not None
    )


def strip_refused_reasoning_content(status: int | None, message: str, body: dict[str, Any]) -> bool:
    """Chat's ``WireSpec.strip_refused``: the gateway gives a model's thinking back as ``reasoning_content``
    by the model's name (``Target.reasoning_content``: DeepSeek, Kimi, GLM), and a server that serves such a
    name without taking the field (Groq's ``deepseek-r1-distill-*``) refuses it (``refused_reasoning_content``):
    the body without it, for one retry (the messages copied, never changed in place). True when changed."""
    return refused_reasoning_content(status, message) and rewritten_in(
        body, "messages", _without_reasoning_content
    )


def _without_reasoning_content(msg: Any) -> Any:
    if isinstance(msg, dict) and "reasoning_content" in msg:
        return {k: v for k, v in msg.items() if k != "reasoning_content"}
    return msg


def strip_refused_for_chat(status: int | None, message: str, body: dict[str, Any]) -> bool:
    """Chat's ``WireSpec.strip_refused``: ``strip_refused_reasoning_content``, or, when the provider relays
    Anthropic's refusal of the history's thinking (``refused_signature``: OpenRouter passes Claude's words on;
    Anthropic will not take back thinking signed for another model after a switch, for one), the body without
    Claude's ``reasoning_details`` (``_claude_details``: other entries stay) and, when the last assistant message
    calls a tool, without ``reasoning``/``reasoning_effort`` (its turn no longer begins with signed thinking:
    ``openai_compat.no_reasoning_for_unsigned_tool_turn``'s rule); when it relays OpenAI's refusal of an encrypted
    reasoning it cannot decrypt (``refused_encrypted_content``), without the ``reasoning.encrypted`` entries
    (``_without_encrypted_details``; bug34b variant 04v34n). Messages are copied where changed. One retry;
    True when changed."""
    if strip_refused_reasoning_content(status, message, body):
        return True
    if refused_encrypted_content(status, message):
        return rewritten_in(body, "messages", _without_encrypted_details)
    if not refused_signature(status, message) or not rewritten_in(body, "messages", _without_claude_details):
        return False
    out = body["messages"]
    last = next((m for m in reversed(out) if isinstance(m, dict) and m.get("role") == "assistant"), None)
    if last is not None and last.get("tool_calls"):
        body.pop("reasoning", None)
        body.pop("reasoning_effort", None)
    return True


def _without_claude_details(msg: Any) -> Any:
    """``msg`` without Claude's ``reasoning_details`` entries (``claude_free``; the key gone when none is left): a
    copy, or itself when it holds none."""
    details = msg.get("reasoning_details") if isinstance(msg, dict) else None
    if not isinstance(details, list) or (kept := claude_free(details)) == details:
        return msg
    msg = {k: v for k, v in msg.items() if k != "reasoning_details"}
    if kept:
        msg["reasoning_details"] = kept
    return msg
