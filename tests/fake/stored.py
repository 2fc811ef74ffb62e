"""The fake provider's stored responses: OpenAI's ``store`` / ``background`` and the endpoints that read them.

OpenAI API reference, "Responses": a response created with ``store`` left out or true is kept and can be
retrieved (``GET /v1/responses/{id}``), deleted (``DELETE``: ``{"id", "object": "response.deleted",
"deleted": true}``), cancelled when it was created with ``background: true`` (``POST …/cancel``: the response
with ``status: "cancelled"``; a synchronous one cannot be cancelled: 400), and its input listed
(``GET …/input_items``: ``{"object": "list", "data", "first_id", "last_id", "has_more"}``). An unknown id is
a 404. Here a background response is ``queued`` when created (no output, no usage), ``in_progress`` when
first retrieved and done from the second retrieve on (its whole answer and usage), so a test sees every
stage of a background request, as a client polling OpenAI does (guide "Background mode"). Cancelled while
queued it has no usage; cancelled while in progress it keeps the usage of what ran (here: all of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Stored:
    response: dict[str, Any]  # the whole answer (status completed or incomplete, usage)
    input_items: list[dict[str, Any]]
    background: bool
    # "queued" (background, not yet retrieved), "in_progress" (retrieved once), "done", "cancelled" (while
    # queued: no usage), "stopped" (cancelled while in progress: its usage kept)
    state: str = "done"


@dataclass(slots=True)
class StoredResponses:
    kept: dict[str, Stored] = field(default_factory=dict)

    def keep(self, body: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
        """Keep ``response`` when ``body`` asks (``store`` not false); the answer the create call gets."""
        background = body.get("background") is True
        if body.get("store") is False:
            return response
        items = input_items(body.get("input"), str(response["id"]))
        # a background create that streams runs to its end in the stream it answers (its events carry the usage)
        queued = background and not body.get("stream")
        self.kept[response["id"]] = Stored(response, items, background, "queued" if queued else "done")
        return _queued(response) if queued else response

    def retrieve(self, response_id: str) -> dict[str, Any] | None:
        found = self.kept.get(response_id)
        if found is None:
            return None
        if found.state == "queued":
            found.state = "in_progress"
            return _in_progress(found.response)
        if found.state == "in_progress":
            found.state = "done"
        return _shown(found)

    def cancel(self, response_id: str) -> dict[str, Any] | str | None:
        """The cancelled response, an error message (a synchronous response), or None (unknown)."""
        found = self.kept.get(response_id)
        if found is None:
            return None
        if not found.background:
            return "Cannot cancel a synchronous response."
        if found.state in ("queued", "in_progress"):
            found.state = "cancelled" if found.state == "queued" else "stopped"
        return _shown(found)

    def delete(self, response_id: str) -> dict[str, Any] | None:
        if self.kept.pop(response_id, None) is None:
            return None
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    def items(self, response_id: str) -> dict[str, Any] | None:
        found = self.kept.get(response_id)
        if found is None:
            return None
        data = found.input_items
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": False,
        }


def input_items(raw: Any, response_id: str) -> list[dict[str, Any]]:
    """A create call's ``input`` as OpenAI lists it: a string is one user message; every item gets an id."""
    items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw
    out = []
    for n, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        item = dict(item)
        content = item.get("content")
        if item.get("type", "message") == "message" and isinstance(content, str):
            item["content"] = [{"type": "input_text", "text": content}]
        item.setdefault("type", "message")
        item.setdefault("status", "completed")
        item.setdefault("id", f"msg_{response_id.removeprefix('resp_')}_{n}")
        out.append(item)
    return out


def _queued(response: dict[str, Any]) -> dict[str, Any]:
    return response | {"status": "queued", "output": [], "usage": None, "background": True}


def _in_progress(response: dict[str, Any]) -> dict[str, Any]:
    return response | {"status": "in_progress", "output": [], "usage": None, "background": True}


def _shown(found: Stored) -> dict[str, Any]:
    """The stored response as a retrieve or cancel shows it now."""
    if found.state == "cancelled":
        return found.response | {"status": "cancelled", "output": [], "usage": None, "background": True}
    if found.state == "stopped":
        return found.response | {"status": "cancelled", "background": True}
    return found.response
