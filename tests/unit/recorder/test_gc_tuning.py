"""The recorder's processes freeze their start-up objects and collect young objects less often
(``gc_tuning.after_startup``): rows freed by refcounting are then never traversed by the collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.recorder import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_after_startup_freezes_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    _, older, oldest = gc.get_threshold()
    gc_tuning.after_startup()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, older, oldest)
    # a batch of rows as the loop holds them (about 4 containers an event, 2,000 events): no collection
    before = gc.get_count()[0]
    rows = [(str(i), i, [i]) for i in range(2_000)]
    assert gc.get_count()[0] >= before + len(rows)  # counted young, not yet collected
    del rows
