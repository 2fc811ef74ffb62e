"""The garbage collector of the recorder's processes (its event loop's and the SQLite writer's).

Every event the recorder keeps is a few tuples and lists (its row, its queue item, its batch): containers
the cyclic garbage collector tracks, though none is ever part of a cycle (rows hold only text, numbers and
None; refcounting frees every one when its batch is committed). With CPython's default young threshold
(700 container allocations) a young collection ran every ~200 events and traversed the rows still
queued, which then aged into the older generations and were traversed again there, along with
everything alive since start-up (modules, numpy, ZeroMQ, sqlite3: full collections scan them all).

``after_startup()``, once the process is set up: collect, move every object alive to the permanent
generation (``gc.freeze``, Python docs: full collections no longer scan them), and raise the young
threshold to ``YOUNG_THRESHOLD`` (older generations keep CPython's 10 and 10), as the gateway does
(``services/gateway/app.py gc_after_startup``). Cyclic garbage (exceptions with tracebacks, asyncio's
futures) is still collected, every ``YOUNG_THRESHOLD`` allocations. Measured: docs/benchmarks.md
"Session 18: recorder cost" (callgrind, bench/recorder_instructions.py).
"""

from __future__ import annotations

import gc

# Container allocations (net of frees) between young collections: more than a batch's containers (a
# row, its queue item, its group entries: about 4 an event; batches of up to 2,000), so that most
# events are freed by refcounting before any collection sees them; cyclic garbage of up to this many
# objects (a few MB) may wait for it.
YOUNG_THRESHOLD = 50_000


def after_startup() -> None:
    """Freeze what start-up made and raise the young generation's threshold (see the module docstring)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
