"""SQLite without its per-call mutexes, for a process whose connections are each used by one thread.

SQLite built thread-safe (``sqlite3.threadsafety == 3``, Debian's and CPython's builds) starts in
*serialized* mode: every API call on a connection or statement (each ``sqlite3_bind_*``, ``sqlite3_step``,
``sqlite3_reset``, ...) enters and leaves the connection's mutex, and with memory statistics on (the
default) every allocation takes the allocator's global mutex too. The ledger writer process binds ~30
values a row: switching the mutexes off saved it ~6,700 CPU instructions a row, about an eighth of its
work (callgrind, docs/benchmarks.md "Session 22: the recorder's cost per event").

``one_thread_per_connection()`` switches the SQLite library this process's ``sqlite3`` module uses to
*multi-thread* mode (``SQLITE_CONFIG_MULTITHREAD``: no mutex on connections and statements; several threads
may still use SQLite, each its own connections) and turns memory statistics off
(``SQLITE_CONFIG_MEMSTATUS`` 0: ``sqlite3_memory_used`` then reads 0; nothing here reads it). Source:
https://www.sqlite.org/threadsafe.html and https://www.sqlite.org/c3ref/c_config_covering_index_scan.html.
Python's ``check_same_thread`` (on by default) keeps each ``sqlite3.Connection`` on the thread that
opened it, which is what multi-thread mode requires.

``sqlite3_config`` only works before SQLite is initialised, so the library is shut down
(``sqlite3_shutdown``: no connection may be open; call this first thing in the process) and initialised
again. The functions are looked up through ``_sqlite3``'s own shared object, so they are those of the very
library ``sqlite3`` is linked to (``dlsym`` searches a library's dependencies).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("recorder.sqlite_mode")

SQLITE_OK = 0
SQLITE_CONFIG_MULTITHREAD = 2
SQLITE_CONFIG_MEMSTATUS = 9


def one_thread_per_connection() -> bool:
    """Put SQLite in multi-thread mode with memory statistics off (see the module's docstring). Call it
    before any connection is opened in this process. Returns whether it did; False (logged, SQLite left
    as it was: serialized, still correct) when the library cannot be reached or refuses."""
    try:
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)
        shutdown, config, initialize = lib.sqlite3_shutdown, lib.sqlite3_config, lib.sqlite3_initialize
    except (ImportError, OSError, AttributeError) as exc:
        log.info("SQLite left in its default mode: %s", exc)
        return False
    if shutdown() != SQLITE_OK:
        log.info("SQLite left in its default mode: sqlite3_shutdown refused")
        return False
    multithread = bool(config(SQLITE_CONFIG_MULTITHREAD) == SQLITE_OK)
    memstatus = bool(config(SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == SQLITE_OK)
    if initialize() != SQLITE_OK:  # sqlite3_open_v2 would initialise it anyway, and fail the same way
        log.warning("sqlite3_initialize failed after reconfiguring SQLite")
        return False
    if not (multithread and memstatus):
        log.info("SQLite multi-thread mode: %s, memory statistics off: %s", multithread, memstatus)
    return multithread and memstatus
