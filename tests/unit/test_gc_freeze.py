"""The serving process freezes its start-up objects and raises the young generation's threshold
(``app.gc_after_startup``, issue 13's CPU per request and p99)."""

from __future__ import annotations

import gc

from aiohttp import web

from services.gateway.app import GC_YOUNG_THRESHOLD, gc_after_startup


def _tracked(obj: object) -> bool:
    """``obj`` is in a generation the collector scans (a frozen object is in none of them)."""
    return any(o is obj for o in gc.get_objects())


async def test_objects_alive_at_startup_leave_the_scanned_generations_and_later_ones_do_not() -> None:
    before_startup = [1, 2]  # a container: tracked by the collector
    assert _tracked(before_startup)
    thresholds = gc.get_threshold()
    try:
        await gc_after_startup(web.Application())
        assert gc.get_freeze_count() > 0
        assert not _tracked(before_startup)
        after_startup = [3, 4]  # what requests make is still collected as usual
        assert _tracked(after_startup)
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, thresholds[1], thresholds[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert _tracked(before_startup)
