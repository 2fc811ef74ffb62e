"""review35: the Responses wire's retry without the encrypted reasoning OpenAI cannot decrypt (bug34b) also takes
the ``id`` off the items the model made with that reasoning.

A client that sends its history's items with their ids (the openai-agents SDKs, Continue, Cline: not Codex, whose
``ResponseItem`` ids are not serialized) had the retry refused again: 400 "Item 'msg_…' of type 'message' was provided
without its required 'reasoning' item: 'rs_…'" (continuedev/continue#12620), "Item 'fc_…' of type 'function_call' …"
(cline/cline#12242). Without its id an item is input like any other.
"""

from __future__ import annotations

import copy
from typing import Any

from services.gateway.dialects._minted import strip_refused_for_responses

REFUSED = "The encrypted content gAAA...DQ== could not be verified."
USER = {
    "type": "message",
    "role": "user",
    "id": "msg_user1",
    "content": [{"type": "input_text", "text": "ls?"}],
}
KEPT_BEFORE = {"id": "msg_before", "type": "message", "role": "assistant", "content": []}
FOREIGN = {"id": "rs_foreign1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAABpForeign=="}
CALL = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"}
OUTPUT = {"id": "fco_1", "type": "function_call_output", "call_id": "call_1", "output": "a.txt"}
SAID = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "a"}],
}
SEARCH = {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search"}}
REFERENCE = {"type": "item_reference", "id": "msg_stored"}


def _without_id(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "id"}


def test_the_items_made_with_a_dropped_reasoning_go_without_their_ids() -> None:
    history: list[Any] = [USER, KEPT_BEFORE, FOREIGN, CALL, OUTPUT, SEARCH, SAID, REFERENCE, USER]
    body = {"model": "gpt-5", "input": copy.deepcopy(history)}
    original = body["input"]
    sent = copy.deepcopy(original)
    assert strip_refused_for_responses(400, REFUSED, body)
    assert body["input"] == [
        USER,
        KEPT_BEFORE,  # before the dropped reasoning: not made with it
        _without_id(CALL),
        OUTPUT,  # the client's: its id stays
        _without_id(SEARCH),
        _without_id(SAID),
        REFERENCE,  # an id is all it is
        USER,
    ]
    assert original == sent  # the client's list and items are not changed in place
