"""Two long-lived worker threads for the dashboard's queries that overlap (SQLite releases the GIL).

Why not a ``ThreadPoolExecutor`` per call: ``ThreadPoolExecutor.submit`` takes a lock shared by every
thread pool in the process (``concurrent.futures.thread._global_shutdown_lock``) and may start a thread
while holding it. A request thread that is stopped abruptly in there (Dash's threaded test runner stops
its server threads with an asynchronous ``SystemExit``) leaves that lock held, and every other thread
pool in the process — aiohttp's resolver, the openai client — blocks for good. Here a job is a put on a
``queue.SimpleQueue`` and a result waits on its own ``Future``: nothing process-wide is held.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")
WORKERS = 2

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]
_jobs: SimpleQueue[_Job] = SimpleQueue()
_start_lock = threading.Lock()
_started = False


def _work() -> None:
    while True:
        future, fn, args = _jobs.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # the caller re-raises it from result()
            future.set_exception(exc)


def _ensure_workers() -> None:
    global _started
    if _started:
        return
    with _start_lock:
        if not _started:
            for i in range(WORKERS):
                threading.Thread(target=_work, name=f"dashboard-query-{i}", daemon=True).start()
            _started = True


def submit(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``fn(*args)`` on a worker thread; its ``Future``."""
    _ensure_workers()
    future: Future[T] = Future()
    _jobs.put((future, fn, args))
    return future
