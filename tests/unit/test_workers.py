"""The pure parts of GATEWAY_WORKERS (services/gateway/workers.py): exit statuses, the port probe, the
metrics directory, the setting. The processes themselves: tests/gateway/test_workers_e2e.py."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from services.gateway.workers import (
    check_port_free,
    describe_exit,
    metrics_dir,
    parent_status,
    worker_argv,
)
from shared.settings import load_settings


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (0, "exited with status 0"),
        (3, "exited with status 3"),
        (-signal.SIGKILL, "was killed by SIGKILL"),
        (-signal.SIGSEGV, "was killed by SIGSEGV"),
        (-200, "was killed by signal 200"),
    ],
)
def test_describe_exit(code: int, said: str) -> None:
    assert describe_exit(code) == said


@pytest.mark.parametrize(
    ("asked", "codes", "status"),
    [
        (True, [0, 0], 0),
        (True, [0, 1], 1),  # asked, but one worker failed its shutdown
        (False, [0, 0], 1),  # a worker left unasked, even cleanly: the supervisor must know
        (False, [-9, 0], 1),
    ],
)
def test_parent_status(asked: bool, codes: list[int], status: int) -> None:
    assert parent_status(asked, codes) == status


def test_worker_argv_names_the_worker_and_the_pipe() -> None:
    argv = worker_argv(2, 7, 8)
    assert argv[1:] == ["-m", "services.gateway", "--worker", "2", "--parent-fd", "7", "--ready-fd", "8"]


def _listener(reuse_port: bool) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@pytest.mark.parametrize("reuse_port", [False, True])
def test_port_probe_sees_any_listener(reuse_port: bool) -> None:
    with _listener(reuse_port) as s:
        port = s.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port} is already in use"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)  # closed: free again


def test_port_probe_refuses_port_zero() -> None:
    with pytest.raises(OSError, match="fixed GATEWAY_PORT"):
        check_port_free("127.0.0.1", 0)


def test_given_metrics_dir_loses_only_old_figures(tmp_path: Path) -> None:
    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old")
    (given / "gauge_livesum_123.db").write_bytes(b"old")
    (given / "README").write_text("not ours")
    with metrics_dir({"PROMETHEUS_MULTIPROC_DIR": str(given)}) as path:
        assert path == str(given)
        assert sorted(p.name for p in given.iterdir()) == ["README"]
        (given / "counter_456.db").write_bytes(b"new")
    assert (given / "counter_456.db").exists()  # the operator's directory is kept as it is


def test_private_metrics_dir_is_removed(tmp_path: Path) -> None:
    with metrics_dir({}) as path:
        made = Path(path)
        assert made.is_dir() and not any(made.iterdir())
        (made / "counter_1.db").write_bytes(b"x")
    assert not made.exists()


def test_gateway_workers_setting() -> None:
    assert load_settings({}).gateway_workers == 1
    assert load_settings({"GATEWAY_WORKERS": "4"}).gateway_workers == 4
    with pytest.raises(ValueError, match="GATEWAY_WORKERS must be at least 1"):
        load_settings({"GATEWAY_WORKERS": "0"})
