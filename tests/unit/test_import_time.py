"""Nothing made at import binds to an event loop: the project's rule that a module reads and makes nothing at
import that belongs to a loop or the environment (a worker process, a test's second loop, ``asyncio.run`` twice
in one process each get their own). An ``asyncio.Event`` made at import (``proxy._NEVER_STOPPED`` before
session 20) is shared by every loop of the process; from Python 3.10 it binds to the first loop that waits
on it, and a wait on another loop then raises ``RuntimeError``."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from types import ModuleType

import services.gateway
import shared

_LOOP_BOUND = (
    asyncio.Event,
    asyncio.Lock,
    asyncio.Condition,
    asyncio.Semaphore,
    asyncio.Queue,
    asyncio.Future,
    asyncio.AbstractEventLoop,
)


def _modules(package: ModuleType) -> list[ModuleType]:
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        found.append(importlib.import_module(info.name))
    return found


def test_no_module_of_the_gateway_or_shared_holds_a_loop_bound_object() -> None:
    bound = [
        f"{module.__name__}.{name}"
        for module in _modules(services.gateway) + _modules(shared)
        for name, value in vars(module).items()
        if isinstance(value, _LOOP_BOUND)
    ]
    assert bound == []
