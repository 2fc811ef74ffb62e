"""``new_id`` without a system call (session 30, issue 13).

``os.urandom`` made one ``getrandom`` system call per id: one per openai → anthropic stream (the chat
encoder's ``chatcmpl-`` id), the one system call that path made per request beyond the chat passthrough's
(``bench/c1_counts.py --strace``). The ids now come from a private generator seeded once (and again in a
forked child).

- ``new_id`` calls no ``os.urandom`` (a profile of its C calls): this fails on the ``os.urandom`` form;
- a forked child's ids are not its parent's (the generator is reseeded after a fork): a planted removal of
  the ``register_at_fork`` fails it;
- the shape: a prefix then 24 lowercase hex digits, ids distinct, leading zero digits kept.
"""

from __future__ import annotations

import os
import re
import sys
from types import FrameType
from typing import Any

from services.gateway.dialects._openai_wire import new_id


def test_new_id_calls_no_urandom() -> None:
    called: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            called.append(getattr(arg, "__name__", ""))

    sys.setprofile(profile)
    try:
        ids = [new_id("chatcmpl-") for _ in range(50)]
    finally:
        sys.setprofile(None)
    assert len(set(ids)) == 50
    assert "urandom" not in called
    assert called  # the profile saw new_id's C calls (the generator's draw)


def test_forked_child_draws_its_own_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent, then out without the test runner's clean-up
        try:
            os.write(write, ",".join(new_id("msg_") for _ in range(20)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode().split(",")
    os.waitpid(pid, 0)
    parent = [new_id("msg_") for _ in range(20)]
    assert len(child) == 20
    assert not set(child) & set(parent)


def test_new_id_shape() -> None:
    ids = [new_id("call_") for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", i) for i in ids)
    assert any(i[5] == "0" for i in ids)  # a draw below 16**23 keeps its leading zero (1 in 16 of the ids)
