"""A budget counts every answered request before the next is admitted, even when the next comes at once:
a key with a budget has its event built and its cost settled at once (``auth.settles``; other keys' events
are built with the publisher's batch), before the next request reaches ``auth.admit``. The real gateway app in-process (``tests/gateway/inproc.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.gateway.keys.keyfile import KeyEntry, entry_toml, hash_key
from tests.gateway.inproc import InProcGateway, chat_answer

KEY = "ekai-tiny-budget-key-0001"
BODY: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


async def test_the_next_request_at_once_is_refused_once_the_budget_is_spent(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(entry_toml(KeyEntry("tiny", hash_key(KEY), budget_usd=1e-6, budget_period="day")))
    env = {"GATEWAY_KEYS_PATH": str(keys), "DATABASE_PATH": str(tmp_path / "ledger.db")}
    async with InProcGateway(["openai"], env) as gw:
        gw.answer(
            chat_answer(
                {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}, stream=False
            )
        )
        gw.answer(chat_answer({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}, stream=False))
        auth = {"Authorization": f"Bearer {KEY}"}
        first = await gw.client.post("/v1/chat/completions", json=BODY, headers=auth)
        assert first.status == 200
        await first.read()
        # at once: the first answer's event is still queued (no upstream request since, no 5 ms passed)
        second = await gw.client.post("/v1/chat/completions", json=BODY, headers=auth)
        assert second.status == 429, await second.text()
        assert (await second.json())["error"]["code"] == "budget_exceeded_day"
