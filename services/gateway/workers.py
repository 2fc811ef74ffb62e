"""``GATEWAY_WORKERS=N`` (N > 1): one parent process runs N gateway workers on one port.

The parent (``supervise``) serves nothing itself. It

- refuses to start when something already listens on ``GATEWAY_HOST:GATEWAY_PORT`` (a probe bind without
  ``SO_REUSEPORT``): with ``SO_REUSEPORT`` a forgotten second gateway would otherwise bind silently and
  take a share of the connections;
- gives the workers one ``PROMETHEUS_MULTIPROC_DIR``: a private temporary directory, removed at exit, or
  the one it was given, wiped of earlier figures first; any worker's ``/metrics`` then answers for all;
- starts ``python -m services.gateway --worker I --parent-fd FD --ready-fd FD`` for I = 1..N. Each binds
  the port with ``SO_REUSEPORT`` (the kernel spreads new connections over the workers) and has its own
  ZeroMQ DEALER to the one recorder, which acknowledges each worker's events to that worker;
- logs that the gateway listens only once every worker said so: each writes one byte to the ready pipe
  (``--ready-fd``) once its socket listens (``listening``);
- forwards SIGTERM and SIGINT to every worker; each does the one-process shutdown (stop accepting,
  ``SHUTDOWN_GRACE`` for in-flight requests, ``SHUTDOWN_ACK_WAIT`` for its own events' acknowledgements);
- restarts nothing. A worker that exits unasked (a crash, the OOM killer) is logged with how it ended, the
  others are stopped the graceful way, and the parent exits 1, so that its supervisor (honcho, systemd)
  sees the failure instead of a gateway quietly running on fewer cores.

A worker (``install_worker``) takes the first SIGTERM or SIGINT as the signal to drain, and ignores the
repeats: honcho and a terminal signal the whole process group, and the parent forwards the signal as well,
so each worker gets it twice (aiohttp would abandon its graceful shutdown on the second). When the parent
disappears (SIGKILL: the pipe ``--parent-fd`` reads end-of-file) the worker drains and exits too, so no
orphan keeps the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import glob
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import multiprocess

from shared.settings import Settings
from shared.stopping import STOP_SIGNALS, StopOnce

log = logging.getLogger("gateway.workers")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """Which worker this process is: ``index`` of ``count`` (1-based), and its pid."""

    index: int
    count: int
    pid: int


WORKER: web.AppKey[WorkerInfo] = web.AppKey("worker", WorkerInfo)


# ---- pure ---------------------------------------------------------------------------------------


def describe_exit(returncode: int) -> str:
    """How a child ended, from ``Popen.returncode`` (negative: killed by that signal)."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def parent_status(asked_to_stop: bool, returncodes: Sequence[int]) -> int:
    """The parent's exit status: 0 only when it was asked to stop and every worker then exited 0."""
    return 0 if asked_to_stop and all(code == 0 for code in returncodes) else 1


def worker_argv(index: int, parent_fd: int, ready_fd: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "services.gateway",
        "--worker",
        str(index),
        "--parent-fd",
        str(parent_fd),
        "--ready-fd",
        str(ready_fd),
    ]


# ---- the parent ---------------------------------------------------------------------------------


class HostUnusable(OSError):
    """``check_port_free``: the host is no address of this machine (it does not resolve, or no interface has
    it: EADDRNOTAVAIL), so no port there can be bound: the host's setting is what to change, not the port's."""


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` if anything listens on ``host:port`` (every address the host resolves to), or
    ``HostUnusable`` (an ``OSError``) when ``host`` cannot be bound on this machine at all.

    The probe binds without ``SO_REUSEPORT``, so even a listener that has it makes the bind fail.
    ``SO_REUSEADDR`` is set as aiohttp sets it, so that connections in TIME_WAIT do not count."""
    if port == 0:
        raise OSError(
            "GATEWAY_WORKERS > 1 needs a fixed GATEWAY_PORT, not 0 (each worker would pick its own)"
        )
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise HostUnusable(f"{host}:{port} cannot be bound ({exc.strerror})") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise HostUnusable(f"{host}:{port} cannot be bound ({exc.strerror})") from None
                raise OSError(f"{host}:{port} is already in use ({exc.strerror})") from None


@contextlib.contextmanager
def metrics_dir(env: Mapping[str, str]) -> Iterator[str]:
    """The workers' shared ``PROMETHEUS_MULTIPROC_DIR``: the given one with its old figures removed
    (prometheus-client's ``*.db`` files only), or a private temporary one, removed afterwards."""
    given = env.get(MULTIPROC_ENV, "").strip()
    if given:
        os.makedirs(given, exist_ok=True)
        for path in glob.glob(os.path.join(given, "*.db")):
            os.remove(path)
        yield given
        return
    made = tempfile.mkdtemp(prefix="ekai-gateway-metrics-")
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def supervise(settings: Settings) -> int:
    """Run ``settings.gateway_workers`` workers until they are stopped; the exit status (see module)."""
    try:
        check_port_free(settings.gateway_host, settings.gateway_port)
    except OSError as exc:
        log.error("gateway: %s; not starting", exc)
        return 1
    with metrics_dir(os.environ) as prom:
        env = dict(os.environ, **{MULTIPROC_ENV: prom})
        return asyncio.run(_run_workers(settings, env, prom))


async def _run_workers(settings: Settings, env: dict[str, str], prom: str) -> int:
    workers = _Workers(prom)
    loop = asyncio.get_running_loop()
    # Not loop.add_signal_handler: the loop gives the signals their default action back when it closes, and
    # honcho's SIGTERM after Ctrl-C arriving then killed the drained parent (rc=-15; shared/stopping.py).
    StopOnce(lambda name: loop.call_soon_threadsafe(workers.stop, signal.Signals[name], name)).install()
    parent_r, parent_w = os.pipe()  # the workers hold the read end; our exit closes the write end
    ready_r, ready_w = os.pipe()  # each worker writes one byte to it once it listens
    announce: asyncio.Future[None] | None = None
    try:
        for i in range(1, settings.gateway_workers + 1):
            workers.add(await _spawn(worker_argv(i, parent_r, ready_w), env, (parent_r, ready_w)))
        os.close(parent_r)
        os.close(ready_w)
        pids = ", ".join(str(p.pid) for p in workers.procs)
        log.info("gateway: started %d workers (pids %s); metrics in %s", len(workers.procs), pids, prom)
        where = f"{settings.gateway_host}:{settings.gateway_port}"
        announce = asyncio.ensure_future(_announce_listening(ready_r, len(workers.procs), where))
        return await workers.wait()
    finally:
        if announce is not None:
            announce.cancel()
        else:
            os.close(ready_r)
        os.close(parent_w)


async def _announce_listening(ready_fd: int, count: int, where: str) -> None:
    """Log that the gateway listens once ``count`` workers wrote their byte to ``ready_fd`` (then closed).
    Workers that exit first close their end unwritten: nothing is logged (their exit is)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(ready_fd, "rb", buffering=0)
    )
    try:
        await reader.readexactly(count)
        log.info("gateway: all %d workers listening on %s", count, where)
    except asyncio.IncompleteReadError:
        pass
    finally:
        transport.close()


async def _spawn(argv: list[str], env: dict[str, str], fds: tuple[int, ...]) -> asyncio.subprocess.Process:
    """Start a worker with SIGTERM and SIGINT blocked: a signal that comes while it is still importing
    stays pending until it can drain (``_ShutdownOnce.install`` unblocks them), instead of killing it."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return await asyncio.create_subprocess_exec(*argv, env=env, pass_fds=fds)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Workers:
    """The running workers: stops them all once, and tells an expected exit from an unasked one."""

    def __init__(self, prom: str) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.prom = prom
        self.signalled: signal.Signals | None = None  # set: every worker is asked to stop, exits are expected
        self.failed = False  # a worker exited unasked

    def add(self, proc: asyncio.subprocess.Process) -> None:
        self.procs.append(proc)
        if self.signalled is not None:  # stopped while the workers were being started
            _signal(proc, self.signalled)

    def stop(self, sig: signal.Signals, why: str) -> None:
        if self.signalled is not None:
            return
        self.signalled = sig
        log.info("gateway: %s: stopping %d workers", why, len(self.procs))
        for p in self.procs:
            _signal(p, sig)

    async def wait(self) -> int:
        """Until every worker has exited; the parent's exit status."""
        waits = {asyncio.ensure_future(p.wait()): i for i, p in enumerate(self.procs, 1)}
        pending = set(waits)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            self._ended(sorted(waits[t] for t in done))
        codes = [p.returncode if p.returncode is not None else 1 for p in self.procs]
        status = parent_status(not self.failed, codes)
        log.info("gateway: all %d workers stopped (%s); exit %d", len(codes), _summary(codes), status)
        return status

    def _ended(self, indices: list[int]) -> None:
        unasked = self.signalled is None
        for index in indices:
            proc = self.procs[index - 1]
            _retire(self.prom, proc.pid)
            if unasked:
                code = proc.returncode if proc.returncode is not None else 1
                log.error(
                    "gateway: worker %d (pid %d) %s unasked; nothing restarts it",
                    index,
                    proc.pid,
                    describe_exit(code),
                )
        if unasked:
            self.failed = True
            self.stop(signal.SIGTERM, f"worker {indices[0]} is gone")


def _signal(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to a worker not known to have exited, with ``os.kill``. Not ``proc.send_signal``: on
    Python < 3.13 it polls the child first (``subprocess.Popen.send_signal``, bpo-38630), and that ``waitpid``
    could reap a worker that had just exited (the group's Ctrl-C reaches it too) before asyncio's child watcher
    did; the watcher then logged "Unknown child process pid N, will report returncode 255" and the parent exited
    1 after a clean stop (CPython gh-87744, fixed in 3.13 the same way; tests/gateway/test_workers_stop_race.py).
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


def _summary(codes: Sequence[int]) -> str:
    return ", ".join(f"worker {i} {describe_exit(code)}" for i, code in enumerate(codes, 1))


def _retire(prom: str, pid: int) -> None:
    """A worker killed outright left its live gauges behind: remove them (prometheus-client's own way)."""
    multiprocess.mark_process_dead(pid, prom)  # type: ignore[no-untyped-call]


# ---- a worker, or the one process --------------------------------------------------------------


# aiohttp's start-up banner (``aiohttp/web.py`` ``_run_app``): "======== Running on URL[, URL] ========"
_RUNNING_ON = re.compile(r"Running on (\S.*?) =+")


def listening(where: str, info: WorkerInfo | None, ready_fd: int | None) -> Callable[..., None]:
    """``web.run_app``'s ``print`` hook, which aiohttp calls once every site listens (``aiohttp/web.py``
    ``_run_app``: after ``site.start()``): log that this process listens, on the URLs aiohttp's banner
    names (its sites' bound ports: the one the system picked for ``GATEWAY_PORT=0``), else on ``where``;
    then, for a worker, write its byte to the parent's ready pipe ``ready_fd`` and close it."""

    def said(*args: object, **__: object) -> None:
        who = "gateway" if info is None else f"worker {info.index} of {info.count}"
        found = _RUNNING_ON.search(str(args[0])) if args else None
        log.info("%s listening on %s", who, found.group(1) if found else where)
        if ready_fd is not None:
            try:
                os.write(ready_fd, b".")
            finally:
                os.close(ready_fd)

    return said


def install_worker(app: web.Application, info: WorkerInfo, parent_fd: int | None) -> None:
    """Make ``app`` a worker: ``/health`` names it (``WORKER``), the first SIGTERM/SIGINT drains it,
    repeats are ignored, and end-of-file on ``parent_fd`` (the parent is gone) drains it too.
    Serve it with ``handle_signals=False``."""
    app[WORKER] = info
    app.on_startup.append(_ShutdownOnce(info, parent_fd).install)


def install_single(app: web.Application) -> None:
    """The one process (``GATEWAY_WORKERS=1``): the first SIGTERM/SIGINT drains it, repeats are ignored.
    Serve it with ``handle_signals=False``: aiohttp's handler raised ``GracefulExit`` again on the copy that
    ``make run``'s Ctrl-C brings (SIGINT to the group, then honcho's SIGTERM), cutting the drain's in-flight
    requests (tracebacks, exit 1, their events lost), and gave the signals their default action back after
    the drain (``shared/stopping.py``)."""
    app.on_startup.append(_ShutdownOnce(None, None).install)


class _ShutdownOnce:
    def __init__(self, info: WorkerInfo | None, parent_fd: int | None) -> None:
        self.info = info
        self.parent_fd = parent_fd
        self.started = False

    async def install(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        # Repeats are ignored by the handler itself (shared/stopping.py), not by the loop: a loop gives a
        # signal it handled its default action back when it stops or closes (uvloop's run ends when
        # GracefulExit leaves it, before the drain), and the parent's forwarded copy arriving then killed a
        # drained worker ("killed by SIGTERM", the parent exiting 1: CI, session 20). Not SIG_IGN either:
        # both signals pending at once (a worker unblocking them below) made CPython report "Signal 15
        # ignored due to race condition".
        StopOnce(lambda name: loop.call_soon_threadsafe(self.stop, name)).install()
        if self.info is not None:
            # The parent started us with these blocked (_spawn); one sent meanwhile is delivered now.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if self.parent_fd is not None:
            loop.add_reader(self.parent_fd, self.parent_gone, loop)

    def parent_gone(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.parent_fd is not None
        loop.remove_reader(self.parent_fd)  # end-of-file stays readable: read it once
        self.stop("the parent process is gone")

    def stop(self, why: str) -> None:
        if self.started:
            log.debug("%s: %s again; already shutting down", self._who(), why)
            return
        self.started = True
        log.info("%s: %s; shutting down", self._who(), why)
        # What aiohttp's own handler does: the loop stops serving and web.run_app's cleanup drains.
        raise web.GracefulExit()

    def _who(self) -> str:
        return "gateway" if self.info is None else f"worker {self.info.index} of {self.info.count}"
