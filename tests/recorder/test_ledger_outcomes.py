"""Defined outcomes when the disk will not take the rows: nothing is acknowledged that is not committed.

Locked database, full disk: the batch is retried, no acknowledgement goes out (the gateways keep the
events), and once the disk is usable the rows are committed and acknowledged. A read-only database: the
recorder refuses to start (exit 1, one clear line) and the events wait in the gateways. (Corrupt events:
test_recorder_process.py.) The disk tests mount a small tmpfs: the tests run as root, as CI does.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from recorder_procs import (
    Launcher,
    RecorderConfig,
    count_rows,
    event_ids,
    gateway_socket,
    make_event,
    wait_until,
)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_locked_database_no_ack_until_committed(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder()
    events = [make_event(request_id=f"locked-{i}") for i in range(100)]
    holder = sqlite3.connect(cfg.db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with gateway_socket(cfg.events) as gw:
        for e in events:
            gw.send(e)
        # Handshake: the recorder took events and tried twice to commit them (its log says so)...
        wait_until(lambda: "(attempt 2:" in recorder.stderr(), 15, "a second failed flush")
        assert gw.read_acks() == set()  # ...received, not committed: not acknowledged
        holder.execute("COMMIT")
        holder.close()
        wait_until(lambda: gw.read_acks() == {e.event_id for e in events}, 15, "the acknowledgements")
    assert event_ids(cfg.db_path) == {e.event_id for e in events}
    assert recorder.stop() == 0


def fill(directory: Path) -> Path:
    """Write zeros until the file system is full."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError:
            pass
    return filler


def test_full_disk_no_ack_until_there_is_room(cfg: RecorderConfig, launch: Launcher, tmpfs: Path) -> None:
    cfg.db_path = tmpfs / "usage.db"
    recorder = launch.recorder()
    with gateway_socket(cfg.events) as gw:
        first = make_event(request_id="before-full")
        gw.send(first)
        wait_until(lambda: gw.read_acks() == {first.event_id}, 10, "the first acknowledgement")
        filler = fill(tmpfs)
        events = [make_event(request_id=f"full-{i}") for i in range(200)]
        for e in events:
            gw.send(e)
        wait_until(lambda: "full" in recorder.stderr(), 10, "the recorder to hit the full disk")
        wait_until(lambda: "(attempt 2:" in recorder.stderr(), 15, "a second failed flush")
        assert gw.read_acks() == {first.event_id}  # nothing acknowledged while the disk is full
        assert recorder.alive()
        os.unlink(filler)
        wait_until(
            lambda: gw.read_acks() == {first.event_id} | {e.event_id for e in events},
            20,
            "the acknowledgements once there is room",
        )
    assert count_rows(cfg.db_path) == 201
    assert recorder.stop() == 0


def test_read_only_database_refuses_to_start_and_events_wait(
    cfg: RecorderConfig, launch: Launcher, tmpfs: Path
) -> None:
    cfg.db_path = tmpfs / "usage.db"
    launch.recorder(name="setup").stop()  # a ledger with its schema
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    events = [make_event(request_id=f"ro-{i}") for i in range(20)]
    with gateway_socket(cfg.events) as gw:
        for e in events:
            gw.send(e)
        refused = launch.spawn_recorder(name="read-only")
        assert refused.popen.wait(15) == 1
        assert (
            "recorder failed" in refused.stderr() and "is not writable: read-only disk?" in refused.stderr()
        )
        assert "Traceback" not in refused.stderr()
        assert gw.read_acks() == set()
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
        recorder = launch.recorder(name="writable")
        wait_until(lambda: gw.read_acks() == {e.event_id for e in events}, 15, "the acknowledgements")
    assert event_ids(cfg.db_path) == {e.event_id for e in events}
    assert recorder.stop() == 0
