"""The OpenAI Chat Completions dialect: usage, whole responses and streams, to and from the IR (pure).

The stream state machines live in ``_openai_stream``; this module is the public face the gateway
imports, plus the non-streaming conversions (conformance §1.3, §6.2, §6.4).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import orjson

from services.gateway.dialects._call_signature import chat_extra, chat_signature, details_signatures
from services.gateway.dialects._claude_details import (
    details_of_thinking_blocks,
    real,
    redacted_entry,
    signed_thoughts,
    thinking_entry,
)
from services.gateway.dialects._error_meaning import said_keeping_fields, stream_words_for_openai
from services.gateway.dialects._openai_stream import (
    CUT_FINISH,
    DONE_FRAME,
    ChatStreamDecoder,
    ChatStreamEncoder,
    TextChunks,
    is_text_chunk,
    vendor_usage,
)
from services.gateway.dialects._openai_wire import (
    client_status,
    error_body,
    finish_from_stop,
    new_id,
    openai_error_type,
    stop_from_finish,
    stream_error_from_openai,
    usage_from_openai,
    usage_to_openai,
)
from services.gateway.dialects._opening import Opening, Part
from services.gateway.dialects._request_common import (
    TOKEN_LIMIT_MAX,
    ParsedRequest,
    check_token_limit_range,
    require_messages,
    require_model,
    require_stream_flag,
)
from services.gateway.dialects._tool_args import input_object, twice_encoded_object
from services.gateway.dialects.ir import (
    Block,
    Completion,
    RedactedThinkingBlock,
    StreamError,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)
from services.gateway.dialects.view import View
from shared.sse import SSEEvent, encode_event

__all__ = [
    "DONE_FRAME",
    "ChatStreamDecoder",
    "ChatStreamEncoder",
    "chat_from_completion",
    "client_status",
    "completion_from_chat",
    "cut_answer",
    "may_cut_answer",
    "encoder_for",
    "error_body",
    "parse_request",
    "render",
    "repair_empty_arguments",
    "repair_stream",
    "held_arguments_mended",
    "stream_error_frame",
    "is_text_chunk",
    "TextChunks",
    "is_usage_only_chunk",
    "answer_usage",
    "usage_from_openai",
    "usage_to_openai",
]


def parse_request(body: dict[str, Any]) -> ParsedRequest:
    """Validate what the gateway reads of a Chat Completions request (conformance §1.2); raises
    ``TranslationError`` (400) for a missing model, empty messages or a non-boolean ``stream``.

    The usual body (a non-empty string ``model``, ``stream`` a boolean, null or absent, ``max_tokens`` and
    ``max_completion_tokens`` each null, absent or an integer within ±``TOKEN_LIMIT_MAX``, ``messages`` a
    non-empty list of objects each with a string ``role``) passes every check, so it is read here without their
    calls (issue 13, session 35); any other body takes the checks in turn, which raise as before
    (tests/unit/dialects/test_parse_fast35.py compares the two)."""
    model, stream, messages = body.get("model"), body.get("stream"), body.get("messages")
    limit, completion = body.get("max_tokens"), body.get("max_completion_tokens")
    if (
        type(model) is str
        and model.strip()
        and (stream is True or stream is False or stream is None)
        and (limit is None or type(limit) is int and -TOKEN_LIMIT_MAX <= limit <= TOKEN_LIMIT_MAX)
        and (
            completion is None
            or type(completion) is int
            and -TOKEN_LIMIT_MAX <= completion <= TOKEN_LIMIT_MAX
        )
        and type(messages) is list
        and messages
    ):
        for message in messages:
            if type(message) is not dict or type(message.get("role")) is not str:
                break
        else:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            return ParsedRequest(model, stream is True, include_usage, True)
    return _parse_checked(body)


def _parse_checked(body: dict[str, Any]) -> ParsedRequest:
    """``parse_request`` of a body that is not the usual one: each check in turn (the first that fails raises)."""
    model = require_model(body)
    require_messages(body)
    stream = require_stream_flag(body)
    check_token_limit_range(body, ("max_tokens", "max_completion_tokens"))
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return ParsedRequest(model=model, stream=stream, include_usage=include_usage, reasoning=True)


def stream_error_frame(status: int, message: str, kept: bytes = b"") -> bytes:
    """An error after the stream began: a ``data: {"error": …}`` frame, which the openai SDK raises on. A
    context overflow carries ``code: context_length_exceeded`` (``stream_words_for_openai``), as the same
    refusal as an HTTP 400 does (one told in a stream its held headers began: ``Proxy._end_opened``). ``kept``: the
    provider's own error body (``StreamError.body``) of a same-format stream, whose fields of its own stay beside
    those words (llama.cpp's ``type``, ``n_prompt_tokens``, ``n_ctx``: ``said_keeping_fields``, as for a whole
    error; fix33 item 4); b"" for none."""
    etype = openai_error_type(status)
    code = stream_words_for_openai(status, etype, message)[2]
    payload: dict[str, Any] = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    if kept:
        payload = said_keeping_fields(payload, kept)
    return encode_event(orjson.dumps(payload))


def _chunk_object(ev: SSEEvent) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _opening_choice(choice: Any) -> bool | None:
    """True for a choice whose delta says the role alone (empty or null content), False for one that says
    the role and more (content, a tool call), None for one without a role or with a finish reason."""
    if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
        return None
    delta = choice.get("delta")
    if not isinstance(delta, dict) or "role" not in delta:
        return None
    rest = {k: v for k, v in delta.items() if k != "role" and v not in (None, "")}
    return not rest


def opening_part(ev: SSEEvent) -> Part | None:
    """What one frame a client was sent is (``_opening``): a chunk that says only the assistant's role, or
    one with no choice and no usage (Azure's prompt filter results), opens the answer; comments are
    keep-alives; anything else (content, a tool call, a finish, an error, ``[DONE]``) is content.
    Source: OpenAI API reference, "The chat completion chunk object"."""
    if ev.comment:
        return "keepalive"
    obj = _chunk_object(ev)
    if obj is None or obj.get("error") or obj.get("usage"):
        return None
    choices = obj.get("choices")
    if choices == []:
        return "opening"
    if isinstance(choices, list) and len(choices) == 1 and _opening_choice(choices[0]):
        return "opening"
    return None


def reopened(ev: SSEEvent, opening: Opening, memo: dict[str, Any]) -> SSEEvent | None:
    """A passed-through chunk for a client that already has its answer's opening (``relay.Relay.resume``):
    one that only opens (``opening_part``) is dropped (None); one whose delta says the role with content
    loses the role (the openai SDK would join the two roles); any other is kept as it is."""
    if ev.comment or '"role"' not in ev.data and '"choices":[]' not in ev.data.replace(" ", ""):
        return ev
    if opening_part(ev) == "opening":
        return None
    obj = _chunk_object(ev)
    choices = obj.get("choices") if obj is not None else None
    if (
        obj is None
        or not isinstance(choices, list)
        or not choices
        or _opening_choice(choices[0]) is not False
    ):
        return ev
    delta = {k: v for k, v in choices[0]["delta"].items() if k != "role"}
    obj["choices"] = [{**choices[0], "delta": delta}, *choices[1:]]
    return SSEEvent(ev.event, orjson.dumps(obj).decode(), False, ev.id, ev.retry)


def encoder_for(view: View) -> ChatStreamEncoder:
    """The client stream encoder for one call."""
    return ChatStreamEncoder(view.model, view.include_usage, tool_names=dict(view.tool_names))


def render(c: Completion, view: View) -> dict[str, Any]:
    """The non-streamed answer for one call."""
    return chat_from_completion(c, view.model, dict(view.tool_names))


def is_usage_only_chunk(obj: dict[str, Any]) -> bool:
    """True for the ``{"choices": [], "usage": {…}}`` chunk that ``include_usage`` adds before ``[DONE]``."""
    return obj.get("choices") == [] and isinstance(obj.get("usage"), dict)


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments (a JSON string) as a dict (``_tool_args.input_object``: an object sent as such, or
    its text encoded twice, is read too).

    Models occasionally emit invalid JSON (typically when cut off by ``max_tokens``); the call is kept
    with empty input rather than failing the whole response (conformance §6.2).
    """
    return input_object(arguments)


def may_mend_answer(raw: bytes) -> bool:
    """False when ``repair_empty_arguments`` returns the answer bytes ``raw`` as they came: no tool call in it."""
    # one search decides for most answers (both keys hold ``_call``), two more for the rest (``find``, not
    # ``in``: ``bytes.__contains__`` first tries its argument as an int, ~1k instructions; session 24)
    return raw.find(b"_call") != -1 and (
        raw.find(b'"tool_calls"') != -1 or raw.find(b'"function_call"') != -1
    )


def repair_empty_arguments(raw: bytes, data: dict[str, Any]) -> bytes:
    """A Chat answer's bytes with each tool call's arguments made JSON object text: missing or blank ones
    (absent, null, "", whitespace or the text "null") become ``"{}"``, an object sent as such becomes its JSON text,
    and so does an object's text encoded twice (a JSON string holding it: ``_tool_args.twice_encoded_object``).

    ``raw`` is the answer's JSON bytes, ``data`` the same answer parsed (changed in place when repaired).
    OpenAI's contract: ``arguments`` is a JSON-encoded object, ``"{}"`` for a call without parameters;
    some OpenAI-compatible servers (llama.cpp, vLLM) send ``""`` or nothing (bugcase 01-k), others the
    object itself. Returns ``raw`` itself unless a repair was needed: one bytes search decides for answers
    without tool calls. The deprecated ``message.function_call`` is repaired the same way.
    """
    if not may_mend_answer(raw):
        return raw
    repaired = False
    for choice in data.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        calls = message.get("tool_calls")
        functions = (
            [c.get("function") for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
        )
        for fn in [*functions, message.get("function_call")]:
            if isinstance(fn, dict) and (text := _object_text(fn.get("arguments"))) is not None:
                fn["arguments"] = text
                repaired = True
    return orjson.dumps(data) if repaired else raw


def _object_text(arguments: Any) -> str | None:
    """The JSON text ``arguments`` should have been, or None when it is a string with content already
    (unless that content is the object's text encoded twice: then that text).
    The text ``"null"`` is no arguments too (vLLM renders a call without any as ``json.dumps(None)``:
    vllm-project/vllm#43851; bug8a variant 01-k)."""
    if arguments is None or (isinstance(arguments, str) and arguments.strip() in ("", "null")):
        return "{}"
    if isinstance(arguments, str):
        return twice_encoded_object(arguments)  # a relay's json.dumps of the text (s13 variant 01-i)
    return orjson.dumps(arguments).decode() if isinstance(arguments, dict) else None


def object_arguments_as_text(ev: SSEEvent) -> bytes | None:
    """The frame of a passed-through chunk whose tool call ``arguments`` came as a JSON object, with each
    such object as its JSON text; None when the chunk has none (the usual case, told by one substring
    search). OpenAI's contract: every ``function.arguments`` fragment is a string, and the openai SDK joins
    them as strings (s10 variant 01-k: a server streamed ``"arguments": {"city": "Paris"}``)."""
    if ev.comment or ('"arguments":{' not in ev.data and '"arguments": {' not in ev.data):
        return None
    try:
        obj = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return None
    changed = False
    for _, _, fn in _call_functions(obj):
        if isinstance(fn.get("arguments"), dict):
            fn["arguments"] = orjson.dumps(fn["arguments"]).decode()
            changed = True
    if not changed:
        return None
    return encode_event(orjson.dumps(obj).decode(), ev.event, id=ev.id, retry=ev.retry)


def indexes_given(ev: SSEEvent, decoder: ChatStreamDecoder) -> SSEEvent | None:
    """``ev``, a passed-through chunk read by ``decoder``, with an ``index`` given to each of its tool calls that
    came without one (``ChatStreamDecoder.call_number``: calls numbered from 0 in order of first appearance);
    None when every call has one (or the data is no JSON object).

    OpenAI's chunk object: ``choices[].delta.tool_calls[].index`` is required, and the openai SDK's stream
    accumulator (``ChatCompletionStreamState``) and the AI SDK's chunk schema reject a call without it.
    Gemini's OpenAI-compatible endpoint streams calls without ``index``, several in one chunk
    (openai/openai-python#2806, AstrBotDevs/AstrBot#6661): a same-format client could not assemble them,
    while a translated client got every call whole (bugcase 01's kind, bug30a variant 01-gemini-noindex-two-calls-chat-vK).
    A call restated whole in a later chunk (Gemini's finish chunk, same id) gets the arguments the decoder took
    from it (``ChatStreamDecoder.given_arguments``): none, the item is dropped (the SDK joins ``id``, ``name`` and
    ``arguments`` strings by index: ``"{}{}"``, the id twice); the part a restatement adds, as a bare fragment.
    The chat frame filter asks only once some call came without ``index`` (``ChatStreamDecoder.indexless_seen``)."""
    try:
        obj = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return None
    changed = False
    for choice in (obj.get("choices") or []) if isinstance(obj, dict) else []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        if not isinstance(delta, dict) or not isinstance(calls, list):
            continue
        kept: list[Any] = []
        mended = False
        for pos, call in enumerate(calls):
            if isinstance(call, dict) and not isinstance(call.get("index"), int):
                changed = mended = True
                given = decoder.given_arguments(pos)
                if given == "":
                    continue  # the whole call again: nothing to add
                if given is not None:  # (the SDK joins id and name too: only the fragment added)
                    call = {"index": decoder.call_number(pos), "function": {"arguments": given}}
                else:
                    call["index"] = decoder.call_number(pos)
            kept.append(call)
        # the new list whenever an item was mended: one replaced by its fragment went as it came (review31)
        if kept and mended:
            delta["tool_calls"] = kept
        elif mended:
            del delta["tool_calls"]
    if not changed:
        return None
    return SSEEvent(ev.event, orjson.dumps(obj).decode(), id=ev.id, retry=ev.retry)


def held_arguments_mended(ev: SSEEvent, decoder: ChatStreamDecoder) -> bytes | None:
    """The frame of a passed-through chunk whose tool-call arguments fragments the decoder holds back (asked after
    it read ``ev``), mended; None when the chunk has none. Two kinds of arguments are held:

    - ``null`` so far (``ChatStreamDecoder.holds_null``): the fragments made ``""``. vLLM streams a call made
      without arguments as ``null`` (vllm-project/vllm#21046): the openai SDK's joined arguments then parse to
      None, not the JSON object OpenAI's contract says (``function.arguments``; the non-streamed answer is mended
      to ``"{}"`` by ``repair_answer``, the streamed one was not: bugcase 01's kind, s23 variant 01-blank-vA).
      The call gets ``"{}"`` when the answer ends (``repair_stream``).
    - encoded twice (a JSON string holding the object's text, ``ChatStreamDecoder.passed_arguments``): ``""``
      while held, the object's text in the frame that ends the string (the non-streamed answer has that text:
      ``repair_empty_arguments``; bug24a variant 01-twice-passthrough-vD); a string holding no object goes out as
      sent when the answer ends (``repair_stream``).

    The chat frame filter asks only once some call's arguments began as ``null`` or with a quote
    (``ChatStreamDecoder.null_seen``, ``quoted_seen``): no parse for any other stream."""
    try:
        obj = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return None
    changed = False
    for pos, call, fn in _call_functions(obj):
        args = fn.get("arguments")
        if not isinstance(args, str) or not args:
            continue
        index = call.get("index")
        index = index if isinstance(index, int) else pos
        if args.strip() and decoder.holds_null(index):
            passed: str | None = ""
        else:
            passed = decoder.passed_arguments(index) if decoder.quoted_seen else None
        if passed is not None and passed != args:
            fn["arguments"] = passed
            changed = True
    if not changed:
        return None
    return encode_event(orjson.dumps(obj).decode(), ev.event, id=ev.id, retry=ev.retry)


def _call_functions(obj: object) -> Iterator[tuple[int, dict[str, Any], dict[str, Any]]]:
    """``(position, tool call, its function)`` for every tool call with a ``function`` object in a parsed chat
    chunk's choices' deltas (``choices[].delta.tool_calls[].function``, OpenAI's chunk object); the objects
    themselves, so a filter mends them in place. Anything not of that shape is passed over."""
    for choice in (obj.get("choices") or []) if isinstance(obj, dict) else []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        for pos, call in enumerate(calls if isinstance(calls, list) else []):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                yield pos, call, fn


def repair_stream(decoder: object, ev: SSEEvent) -> tuple[bytes, bytes]:
    """The chunks a passed-through chat stream's client gets (before, after) ``ev``, the event that ended
    the answer (its finish reason, or ``[DONE]`` without one), read by ``decoder``: one per tool call whose
    arguments were only ever blank, giving it ``"{}"`` (``ChatStreamDecoder.blank_arguments_frames``,
    bugcase 01-k), and one per call whose arguments, opened with a quote, were held back and hold no object's
    text, giving them as sent (``held_arguments_frames``). Before ``ev``, unless ``ev`` carries a tool call
    itself: a call's arguments come after its start. ``(b"", b"")`` for every other stream."""
    if not isinstance(decoder, ChatStreamDecoder):
        return b"", b""
    frames = decoder.blank_arguments_frames()
    if decoder.quoted_seen:  # (no call for the usual stream: every passed-through chat stream ends here)
        frames += decoder.held_arguments_frames()
    if not frames:
        return b"", b""
    return (b"", frames) if _carries_calls(ev) else (frames, b"")


def _carries_calls(ev: SSEEvent) -> bool:
    """``ev`` is a chunk whose first choice's delta has tool calls."""
    try:
        obj = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return False
    choices = obj.get("choices") if isinstance(obj, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    delta = choice.get("delta") if isinstance(choice, dict) else None
    return isinstance(delta, dict) and bool(delta.get("tool_calls"))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some OpenAI-compatible servers answer with content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _tool_blocks(message: dict[str, Any]) -> list[ToolUseBlock]:
    """The message's tool calls, each with Gemini's thought signature where it has one: on the call (Google's
    endpoint, ``chat_signature``) or in the message's ``reasoning_details`` under the call's id (OpenRouter,
    ``details_signatures``; an entry without an id signs the first call)."""
    calls = tc if isinstance(tc := message.get("tool_calls"), list) else []
    if isinstance(message.get("function_call"), dict):
        calls = [*calls, {"function": message["function_call"]}]
    signed = details_signatures(message["reasoning_details"]) if "reasoning_details" in message else {}
    blocks: list[ToolUseBlock] = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else new_id("call_")
            name = str(fn.get("name") or "")
            tool_input = parse_arguments(fn.get("arguments"))
            signature = (
                chat_signature(call) or signed.get(call_id) or (signed.get("") if not blocks else None)
            )
            blocks.append(ToolUseBlock(id=call_id, name=name, input=tool_input, signature=signature))
    return blocks


def _claude_blocks(parts: list[tuple[str, str]]) -> list[Block]:
    """``_claude_details.signed_thoughts``' parts as thinking blocks (a signature closes its block; text after
    it starts the next) and redacted ones."""
    blocks: list[Block] = []
    block: ThinkingBlock | None = None
    for kind, value in parts:
        if kind == "redacted":
            blocks.append(RedactedThinkingBlock(data=value))
            block = None
            continue
        if block is None:
            block = ThinkingBlock(thinking="")
            blocks.append(block)
        if kind == "text":
            block.thinking += value
        else:
            block.signature = value
            block = None
    return blocks


# one of ``CUT_FINISH``'s reasons as a JSON string anywhere in an answer's bytes (``may_cut_answer``)
_CUT_REASON = re.compile(b'"(?:' + b"|".join(re.escape(r.encode()) for r in CUT_FINISH) + b')"')
# ... or a ``\u`` escape of one of their characters (RFC 8259 section 7: ``"\u0061bort"`` is ``"abort"`` to the
# parser, ``cut_answer``'s reader; serialisers escape none of ``a``-``z`` or ``_``, so usual answers keep the
# unparsed lane), searched only when ``\u00`` is in the bytes (a case-blind regex was 7x the first's cost)
_CUT_ESCAPE = re.compile(
    b"\\\\u00(?:"
    + b"|".join(
        b"%x[%x%X]" % (c >> 4, c & 15, c & 15) for c in sorted({ord(ch) for r in CUT_FINISH for ch in r})
    )
    + b")"
)


def may_cut_answer(raw: bytes) -> bool:
    """False when ``cut_answer`` cannot find a cut in the answer bytes ``raw``: none of ``CUT_FINISH``'s reasons
    is in them as a JSON string, nor a ``\\u00XX`` escape of one of their characters (one C regex search, a
    ``find`` and one more search when ``\\u00`` is in them; review26: ``"\\u0061bort"``, an abort to
    ``cut_answer``, went out unparsed as a complete answer). True sends a plain passthrough answer the parsed
    way, where ``cut_answer`` reads its first choice's ``finish_reason`` (``Proxy._relay_json``; session 26: an
    answer written before its parse must not skip the cut check)."""
    return _CUT_REASON.search(raw) is not None or (
        raw.find(b"\\u00") != -1 and _CUT_ESCAPE.search(raw) is not None
    )


def cut_answer(body: dict[str, Any]) -> StreamError | None:
    """The failure a whole chat answer ``body`` (a parsed JSON object) tells by a choice's finish reason (the first
    such choice's, any of ``n``), else None: one of ``CUT_FINISH`` (vLLM's "abort", DeepSeek's "insufficient_system_resource", Z.ai's
    "network_error") says the server cut the answer, as in a stream (``ChatStreamDecoder._choice``; the same
    sources). Read as finished it was a complete answer (``completion_from_chat``: ``end_turn``) to a translated
    client, the ledger and the provider's health (review25: bug25b covered streams alone). Asked of every whole chat
    answer, a same-format one too (session 26): ``body`` comes from orjson, so its types are exact and ``type(v) is``
    tests them without a call."""
    choices = body.get("choices")
    if type(choices) is not list:
        return None
    for choice in choices:  # each of ``n`` choices: a cut on any is the answer's (fix28; a stream's: s27)
        if (
            type(choice) is dict
            and type(reason := choice.get("finish_reason")) is str
            and reason in CUT_FINISH
        ):
            return stream_error_from_openai(CUT_FINISH[reason])
    return None


def completion_from_chat(body: dict[str, Any]) -> Completion:
    """An upstream ``chat.completion`` object → IR Completion (only the first choice is used)."""
    choices = cs if isinstance(cs := body.get("choices"), list) else []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = m if isinstance(m := choice.get("message"), dict) else {}
    content: list[Block] = []
    reasoning = _text_of(message.get("reasoning_content")) or _text_of(message.get("reasoning"))
    signed = signed_thoughts(message["reasoning_details"]) if "reasoning_details" in message else None
    if signed is None and "thinking_blocks" in message:  # LiteLLM's shape of the same (``_claude_details``)
        signed = signed_thoughts(details_of_thinking_blocks(message["thinking_blocks"]))
    if signed is not None:  # Claude's own thinking, signed (OpenRouter, LiteLLM: ``_claude_details``)
        if reasoning and not any(kind == "text" for kind, _ in signed):  # the text only in ``reasoning``
            signed = [("text", reasoning), *signed]
        content += _claude_blocks(signed)
    elif reasoning:
        content.append(ThinkingBlock(thinking=reasoning))
    text = _text_of(message.get("content"))
    if text:
        content.append(TextBlock(text=text))
    refusal = _text_of(message.get("refusal"))
    if refusal:
        content.append(TextBlock(text=refusal))
    tools = _tool_blocks(message)
    content += tools
    finish_reason = str(choice.get("finish_reason") or "stop")
    stop = stop_from_finish(finish_reason)
    if tools and stop == "end_turn":
        stop = "tool_use"
    elif refusal and stop == "end_turn":
        stop = "refusal"
    usage = _answer_usage_object(body)
    return Completion(
        id=str(body.get("id") or new_id("chatcmpl-")),
        model=str(body.get("model") or ""),
        content=content,
        stop_reason=stop,
        filtered=finish_reason == "content_filter",
        usage=usage_from_openai(usage, body.get("service_tier")),
    )


def chat_from_completion(
    c: Completion, model: str, tool_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """IR Completion → the client-facing ``chat.completion`` object (conformance §1.3, §6.4).

    ``model`` is the name the client asked for; ``tool_names`` maps upstream tool names back to the
    client's own where they had to be sanitized.
    """
    names = tool_names or {}
    text = "".join(b.text for b in c.content if isinstance(b, TextBlock))
    reasoning = "".join(b.thinking for b in c.content if isinstance(b, ThinkingBlock))
    tool_calls = [_chat_call(b, names) for b in c.content if isinstance(b, ToolUseBlock)]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text or (None if tool_calls else ""),
        "refusal": None,
        "annotations": [],
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning  # non-standard, as xAI and DeepSeek send it
    details = _claude_details(c.content) if reasoning or tool_calls else None
    if details:
        message["reasoning_details"] = details
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_from_stop(c.stop_reason, bool(tool_calls)),
    }
    return {
        "id": c.id if c.id.startswith("chatcmpl-") else "chatcmpl-" + c.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage_to_openai(c.usage),
    }


def _claude_details(content: list[Block]) -> list[dict[str, Any]]:
    """Claude's signed thinking and redacted thinking of an answer as OpenRouter's ``reasoning_details`` entries
    (``_claude_details``), which a Chat client gives back on its next turn's assistant message (OpenRouter docs,
    "Reasoning Tokens": "Preserving reasoning blocks"), so Claude's tool loop keeps its thinking
    (``_request_to_anthropic``). Unsigned thinking (another model's) gives nothing."""
    out: list[dict[str, Any]] = []
    for b in content:
        if isinstance(b, ThinkingBlock) and real(b.signature):
            out.append(thinking_entry(b.thinking, b.signature, len(out)))
        elif isinstance(b, RedactedThinkingBlock) and real(b.data):
            out.append(redacted_entry(b.data, len(out)))
    return out


def _chat_call(b: ToolUseBlock, names: dict[str, str]) -> dict[str, Any]:
    function = {"name": names.get(b.name, b.name), "arguments": orjson.dumps(b.input).decode()}
    call: dict[str, Any] = {"id": b.id, "type": "function", "function": function}
    if b.signature is not None:  # Gemini's, where a chat client gives it back (``_call_signature``)
        call["extra_content"] = chat_extra(b.signature)
    return call


def answer_usage(body: dict[str, Any]) -> Usage:
    """Everything a whole (non-streamed) answer bills, from its usage object (``_answer_usage_object``; its usual
    case, a top-level ``usage``, read inline: every plain answer passes here)."""
    usage = body.get("usage")
    if type(usage) is not dict:
        usage = _answer_usage_object(body)
    return usage_from_openai(usage, body.get("service_tier"))


def _answer_usage_object(body: dict[str, Any]) -> dict[str, Any]:
    """A whole answer's usage object: its top-level ``usage``, else the one a server reports elsewhere in the places the
    stream decoder reads (``vendor_usage``: Groq's ``x_groq.usage``, Moonshot/Kimi's ``choices[0].usage``), else {}.
    An answer with its usage only in the choice was billed 0 tokens and cost 0, same format and translated (bug31a
    variant 28vK), while the same usage in a stream's finish chunk was billed."""
    usage = body.get("usage")
    if type(usage) is dict:
        return usage
    usage = vendor_usage(body)
    return usage if type(usage) is dict else {}
