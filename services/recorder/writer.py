"""The SQLite ledger writer in a process of its own (``WriterProcess``), and that process (``main``).

Why a process: sqlite3 releases the GIL around every ``sqlite3_step`` (once per row in ``executemany``)
and must take it back while the receiving event loop runs Python, so in one process the two threads
convoy on the GIL and a busy receiver multiplies the writer's wall time 2.5-4x. In its own process the
writer has its own interpreter and GIL: the receiver decodes, publishes and acknowledges on one core
while the writer inserts on the other (docs/benchmarks.md, recorder).

The child runs ``Store`` on an ``inline_db.InlineConnection``: each statement runs on its one thread,
where aiosqlite would hand every one to a thread of its own and back (its loop has nothing else to do
while a batch is written; the next batch waits in the socket meanwhile).

``WriterProcess`` is a ``engines.LedgerWriter``: ``insert_counted(rows)`` sends the rows to the child
and returns when the child has committed them (in one transaction, ``store.Store.insert_rows``: rollups
and latency lists included; a transaction the child may share with other batches waiting for it, see
"Merged commits" below), with the batch's own counts of new and refused rows; so the recorder still
acknowledges only what is committed.

The link is a Unix socket pair (the child's end passed as a file descriptor): frames of a 4-byte
big-endian length and a pickle body (both ends are this code, started by the recorder itself; pickle
reads a batch's 2,000 rows back as tuples in about 1.5 us a row, against about 5 for orjson's lists made
into tuples).

* parent -> child: ``(ROWS, rows, groups)`` or ``(CLOSE,)``. Rows are in ``store.COLUMNS`` order, as
  ``wire.wire_row`` makes them. ``groups`` is ``batch_rollup.batch_groups(rows)``, made here in the parent
  (about 3.5 us a row of Python taken off the writer, the busier process) as ``(hourly, who,
  latencies)``; the child uses them when every row was new, as ``Store.insert_rows`` would have made them.
* child -> parent: one answer per batch, in order: ``(OK, inserted, rejected, transaction)`` (rejected:
  rows SQLite refused in that batch; transaction: the child's count of its commits, the same for batches
  committed together) or ``(ERROR, exception class name, message)``. The first frame, after the database
  is opened and migrated, is ``(OK, 0, 0, 0)`` or the error that prevented it.

Merged commits (issue 13's recorder target): the child reads its socket without waiting once it has a
batch, and commits the batches already waiting with it (up to ``MERGE_BATCHES``) in one transaction
(``Store.insert_batches``). A commit costs per page written (the tails of the indexes, before schema 8
one per provider and per model too; the rollup and latency-list pages), not per row: on the bench's mix
(``bench_recorder.py``, schema 7), COMMIT took 5.1 us a row at 500 rows, 3.0 at 1,000, 2.0 at 2,000, and
the latency-list parts 0.7, 0.5, 0.3. Batches wait only when the child is behind, so under light load
nothing changes; under load the child's per-row cost falls as it falls behind. A merged transaction
that fails fails each batch in it (the parent retries each, as before) when the database failed it
(``sqlite3.OperationalError``); one that failed for a row (a constraint, a value SQLite cannot bind) is
committed again batch by batch, so only the batch holding that row can fail.

Failures: an error the child reports is raised here as ``sqlite3.OperationalError`` /
``sqlite3.IntegrityError`` / ... / ``OverflowError`` (by name; ``RuntimeError`` for anything else), so the
batcher retries the batch as it did in-process. A child that dies (killed, crashed) closes its end of the socket: the
batch's ``insert_rows`` raises ``WriterDied``, the batcher retries, and the retry starts a new child on
the same database. Whatever the dead child had committed is stored once (inserts are ``ON CONFLICT
(event_id) DO NOTHING``) and nothing was acknowledged for it. A child that cannot be started (the
database cannot be opened) fails ``open`` (start-up: the recorder exits 1) or the retried batch (the
batcher logs each failed attempt and keeps the events unacknowledged).

The child ignores SIGINT and SIGTERM (a terminal's Ctrl-C reaches the whole process group): the parent
drains its batches and then closes it. It exits when its socket closes, so a parent killed outright
does not leave it behind (a transaction it is running still commits or rolls back whole).

PostgreSQL (``pg_store.PgStore``) stays in the recorder's process: asyncpg sends each batch to the server,
which does the work in its own processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import itertools
import logging
import os
import pickle
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from services.recorder import gc_tuning, sqlite_mode
from services.recorder.batch_rollup import BatchGroups, batch_groups
from services.recorder.store import Row, Store
from services.recorder.written import Written

log = logging.getLogger("recorder.writer")

ROWS, CLOSE, OK, ERROR = "rows", "close", "ok", "error"
_LENGTH = struct.Struct(">I")
MERGE_BATCHES = 3  # the child commits up to this many batches waiting for it in one transaction
_RECV_BYTES = 1 << 20
START_TIMEOUT_S = 60.0  # opening and migrating a large database can take a while (rollup backfills)
CLOSE_TIMEOUT_S = 3.0  # the child's PRAGMA optimize and close; then it is killed
_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        sqlite3.OperationalError,
        sqlite3.IntegrityError,
        sqlite3.DatabaseError,
        sqlite3.ProgrammingError,
        sqlite3.InterfaceError,
        sqlite3.DataError,
        sqlite3.NotSupportedError,
        sqlite3.Error,
        OverflowError,  # an integer SQLite cannot bind
        ValueError,
    )
}


class WriterDied(ConnectionError):
    """The writer process exited (or closed its socket) before answering."""


def frame(body: tuple[Any, ...]) -> bytes:
    """``body`` as one frame: its pickle behind its length.

    Pickled in the pickler's fast mode (no memo): a batch's rows hold only numbers, text, None and
    containers of them, never an object twice that must stay one object or one that holds itself, and the
    memo's bookkeeping was three quarters of the cost (a 2,000-row batch: 3.3-4.3 us a row to dump with
    the memo, 0.8-0.9 without; the same loads, and about 2% fewer bytes)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True  # no memo (see above)
    pickler.dump(body)
    data = out.getvalue()
    return _LENGTH.pack(len(data)) + data


def _request(rows: Sequence[Row]) -> bytes:
    """The ``ROWS`` frame of a batch, with its groups."""
    groups = batch_groups(rows)
    return frame((ROWS, rows, (groups.hourly, groups.who, groups.latencies)))


def raised(reply: tuple[Any, ...]) -> Exception:
    """The exception an ``(ERROR, class name, message)`` reply stands for."""
    return _ERRORS.get(str(reply[1]), RuntimeError)(f"ledger writer: {reply[2]}")


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    """One frame's decoded body; raises ``asyncio.IncompleteReadError`` when the other end is gone."""
    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(size))


class WriterProcess:
    """The ledger writer running in a child process (a ``LedgerWriter``). Create with ``await
    WriterProcess.open(path, log_level)``. Several ``insert_rows`` may run at once (``IN_FLIGHT``, the
    batcher's flushes): each batch is sent at once and the child commits them in turn, so it starts on
    the next batch without waiting for this process to take the previous answer, and commits the
    batches waiting for it together (up to ``MERGE_BATCHES`` in one transaction)."""

    # Batches the recorder's batcher may have here at once: one more than the child merges, so that
    # one is still waiting for it when it has answered a merged commit and this process is busy.
    IN_FLIGHT = MERGE_BATCHES + 1

    def __init__(self, path: str, log_level: str) -> None:
        self.path = path
        self.rejected = 0  # rows SQLite refused (constraint errors), over every child
        self.restarts = 0  # children started after the first one died
        self.pid = 0  # the current child's process id (0: none)
        self.commits = 0  # transactions the children committed batches in (fewer than batches: merged)
        self._txn = 0  # the current child's transaction of the last answer
        self._log_level = log_level
        self._child: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._answers: collections.deque[asyncio.Future[tuple[Any, ...]]] = collections.deque()
        self._gone = True  # the current child closed its socket (or there is none)
        self._restarting = asyncio.Lock()

    @classmethod
    async def open(cls, path: str, log_level: str = "INFO") -> WriterProcess:
        """Start the writer process on the SQLite file at ``path`` and wait until it has opened and
        migrated it. Raises its error (e.g. ``sqlite3.OperationalError``: unusable database)."""
        writer = cls(path, log_level)
        await writer._start()
        return writer

    async def _start(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "services.recorder.writer", str(child_end.fileno())],
                pass_fds=(child_end.fileno(),),
                env=dict(os.environ, DATABASE_PATH=self.path, LOG_LEVEL=self._log_level),
                # Its own process group: a signal to the recorder's group (honcho's stop, a terminal's Ctrl-C)
                # never reaches it, not even before ``main`` ignores SIGTERM/SIGINT (a start cut short killed it
                # there, and the recorder read that as "exited while opening the database"). The recorder
                # decides when the ledger closes; if the recorder dies, the socket's EOF ends the writer.
                process_group=0,
            )
        finally:
            child_end.close()
        self.pid = self._child.pid
        self._txn = 0
        reader, self._writer = await asyncio.open_unix_connection(sock=parent_end)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                reply: tuple[Any, ...] = await _read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self._stop(kill=True)
            raise WriterDied("ledger writer process exited while opening the database") from exc
        except BaseException:
            await self._stop(kill=True)
            raise
        if reply[0] != OK:
            await self._stop(kill=True)
            raise raised(reply)
        self._gone = False
        self._reading = asyncio.get_running_loop().create_task(
            self._read(reader), name="ledger-writer-answers"
        )

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Hand each answer to the oldest batch waiting; when the child is gone, fail every one left."""
        try:
            while True:
                reply = await _read_frame(reader)
                answer = self._answers.popleft()
                if not answer.done():
                    answer.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._gone = True
            while self._answers:
                answer = self._answers.popleft()
                if not answer.done():
                    answer.set_exception(WriterDied("ledger writer process exited before answering"))

    @property
    def unanswered(self) -> int:
        """Batches sent to the child that it has not answered yet."""
        return len(self._answers)

    async def insert_rows(self, rows: Sequence[Row]) -> int:
        """Commit ``rows`` (``store.Store.insert_rows`` in the child); returns how many were new.

        Raises the child's error, or ``WriterDied`` when it died meanwhile (the next call starts a new
        one); the caller retries the whole batch either way."""
        return (await self.insert_counted(rows)).inserted

    async def insert_counted(self, rows: Sequence[Row]) -> Written:
        """``insert_rows``, returning also how many of THIS batch's rows the child refused (from its
        answer to this batch; ``rejected`` is the total over every batch). Raises as ``insert_rows``."""
        if not rows:
            return Written(0, 0)
        if self._gone:
            async with self._restarting:  # the first of the retries starts the new child
                if self._gone:
                    await self._replace()
        assert self._writer is not None
        answer = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        try:
            self._writer.write(_request(rows))
            await self._writer.drain()
        except ConnectionError:
            pass  # the child is gone: the reader fails this batch's answer
        reply = await answer
        if reply[0] != OK:
            raise raised(reply)
        written = Written(int(reply[1]), int(reply[2]))
        self.rejected += written.rejected
        if reply[3] != self._txn:
            self._txn = int(reply[3])
            self.commits += 1
        return written

    async def _replace(self) -> None:
        child = self._child
        await self._stop(kill=True)
        self.restarts += 1
        code = child.returncode if child is not None else None
        log.error(
            "ledger writer process exited (code %s): starting another (restart #%d)", code, self.restarts
        )
        await self._start()

    async def close(self) -> None:
        """Ask the child to close the database (it runs ``PRAGMA optimize``) and wait for it to exit
        (``CLOSE_TIMEOUT_S``, then it is killed)."""
        if not self._gone and self._writer is not None:
            with contextlib.suppress(ConnectionError):
                self._writer.write(frame((CLOSE,)))
                await self._writer.drain()
        await self._stop(kill=False)

    async def _stop(self, *, kill: bool) -> None:
        child, self._child = self._child, None
        self._gone = True
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
            self._writer = None
        if child is not None:
            if kill:
                child.kill()
            try:
                await asyncio.to_thread(child.wait, CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.error("ledger writer process did not exit in %.0f s: killed", CLOSE_TIMEOUT_S)
                child.kill()
                await asyncio.to_thread(child.wait)
        if self._reading is not None:
            await self._reading  # ends at the closed socket, failing any batch still waiting
            self._reading = None


# --- the child --------------------------------------------------------------------------------------


class _Inbox:
    """The parent's frames, read from the child's end of the socket pair (blocking: the child has
    nothing else to do while it waits), and whether more are already waiting."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._chunk = bytearray(_RECV_BYTES)  # received into, then appended: no allocation per recv

    def _receive(self, *, wait: bool) -> bool:
        """Append what the socket holds (``wait``: at least one byte). False when nothing came.
        Raises ``EOFError`` when the parent closed its end."""
        try:
            n = self._sock.recv_into(self._chunk, _RECV_BYTES, 0 if wait else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        if not n:
            raise EOFError("the recorder closed the socket")
        self._buffer += memoryview(self._chunk)[:n]
        return True

    def _whole(self) -> int:
        """The length of the first whole frame in the buffer, with its header; 0 if none is whole yet."""
        if len(self._buffer) < _LENGTH.size:
            return 0
        end = _LENGTH.size + _LENGTH.unpack_from(self._buffer)[0]
        return end if len(self._buffer) >= end else 0

    def _pop(self, end: int) -> Any:
        body = pickle.loads(self._buffer[_LENGTH.size : end])
        del self._buffer[:end]
        return body

    def next(self) -> Any:
        """The next frame's body, waiting for it. Raises ``EOFError`` (or ``ConnectionError``) when the
        parent is gone."""
        while not (end := self._whole()):
            self._receive(wait=True)
        return self._pop(end)

    def waiting(self) -> Any | None:
        """The next frame's body if the whole frame has already arrived, else None (never waits)."""
        while not (end := self._whole()):
            if not self._receive(wait=False):
                return None
        return self._pop(end)


def _answer(sock: socket.socket, replies: Sequence[tuple[object, ...]]) -> None:
    sock.sendall(b"".join(frame(reply) for reply in replies))


def _error(exc: Exception) -> tuple[object, ...]:
    return (ERROR, type(exc).__name__, str(exc))


async def _commit(
    store: Store, requests: Sequence[tuple[Any, ...]], txns: Iterator[int]
) -> list[tuple[object, ...]]:
    """Commit the ``ROWS`` requests, together when they are several (``Store.insert_batches``); their
    answers, in order, each ``OK`` one with the number (from ``txns``) of the transaction it was in.

    An ``sqlite3.OperationalError`` of the merged transaction (busy, locked, disk full, I/O: nothing the
    batches did themselves) fails every batch in it (rolled back: the parent retries them), not those
    committed before it. Any other error (a row breaking a constraint, a value SQLite cannot bind:
    ``OverflowError``, ``ValueError``, ...) may be one batch's own: then each batch is committed alone,
    as ``Store.insert_rows`` does (a refused row is skipped; a batch that fails again fails alone), so a
    batch that can never commit does not take the others down with it, retry after retry."""
    batches = [(request[1], BatchGroups(*request[2])) for request in requests]
    if len(batches) > 1:
        try:
            counts = await store.insert_batches(batches)
        except sqlite3.OperationalError as exc:
            return [_error(exc)] * len(batches)
        except Exception:
            pass  # perhaps one batch's own: each alone below
        else:
            txn = next(txns)
            return [(OK, n, 0, txn) for n in counts]
    replies: list[tuple[object, ...]] = []
    for rows, groups in batches:
        try:
            inserted, rejected = await store.insert_counted(rows, groups)
        except Exception as exc:
            replies.append(_error(exc))
        else:
            replies.append((OK, inserted, rejected, next(txns)))
    return replies


async def _serve(fd: int, path: str) -> None:
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    try:
        try:
            store = await Store.open(path, inline=True)
        except Exception as exc:  # reported to the parent, which raises it
            with contextlib.suppress(ConnectionError):
                _answer(sock, [_error(exc)])
            return
        gc_tuning.after_startup()  # the batches' rows are containers the collector would traverse
        try:
            await _serve_batches(sock, store)
        finally:
            await store.close()
    finally:
        sock.close()


async def _serve_batches(sock: socket.socket, store: Store) -> None:
    inbox = _Inbox(sock)
    txns = itertools.count(1)
    try:
        _answer(sock, [(OK, 0, 0, 0)])
        while True:
            requests = [inbox.next()]
            while requests[-1][0] == ROWS and len(requests) < MERGE_BATCHES:
                more = inbox.waiting()
                if more is None:
                    break
                requests.append(more)
            rows = [r for r in requests if r[0] == ROWS]
            if rows:
                _answer(sock, await _commit(store, rows, txns))
            if len(rows) < len(requests):
                return  # CLOSE (or an unknown request): nothing more will be written
    except (EOFError, ConnectionError):
        return  # the recorder is gone: nothing more will come; it acknowledged nothing unanswered


def main(argv: list[str] | None = None) -> int:
    """``python -m services.recorder.writer FD``: serve the socket ``FD`` (started by ``WriterProcess``;
    the database is ``DATABASE_PATH``). Returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # the recorder decides when the ledger closes
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    # This process's one connection is used by its one thread: no SQLite mutexes (sqlite_mode.py).
    sqlite_mode.one_thread_per_connection()
    asyncio.run(_serve(int(args[0]), os.environ["DATABASE_PATH"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
