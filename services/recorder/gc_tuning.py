"""The garbage collector of the recorder's processes (the receiving loop and the SQLite writer), set once
their start-up is done (issue 13, session 14: docs/benchmarks.md "Session 14: the recorder").

Each event leaves a few container objects the collector tracks (its decoded array, its row tuple, the
batcher's item) until its batch is committed and acknowledged: thousands at the live rate. With CPython's
default young threshold (700) the young generation was collected every ~200 events and its survivors
promoted, so the older generations, and every ~10th time the whole heap (modules, numpy, the metrics
registry: ~100k objects), were traversed again and again for objects that refcounting frees anyway.
``settle()`` collects once, moves everything alive (start-up's objects) to the permanent generation
(``gc.freeze``, Python docs "gc.freeze") and raises the young threshold to ``YOUNG_THRESHOLD``; the older
generations keep CPython's 10 and 10. Cyclic garbage is still collected, at most ``YOUNG_THRESHOLD``
objects (a few MB) later. The gateway does the same (``services/gateway/app.py`` ``gc_after_startup``).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # tracked allocations (net of deallocations) between young collections


def settle() -> int:
    """Collect, freeze what is alive and raise the young threshold (above); returns how many objects
    were frozen."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    return gc.get_freeze_count()
