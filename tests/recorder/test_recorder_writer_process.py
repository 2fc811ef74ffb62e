"""The recorder with its SQLite writer process (``services/recorder/writer.py``), as real processes: a
writer killed in the middle of a batch gets nothing acknowledged that is not committed, and a new writer
stores the batch once; a killed recorder does not leave its writer behind; a signal to the recorder's process
group never reaches its writer."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

from recorder_procs import (
    Launcher,
    Proc,
    RecorderConfig,
    count_rows,
    event_ids,
    gateway_socket,
    make_event,
    send_all,
    summary,
    wait_until,
)


def writer_pid(recorder: Proc) -> int:
    """The recorder's one child process that is not its starvation guard (guard.py): its SQLite writer."""
    pid = recorder.popen.pid
    kids = [int(k) for t in Path(f"/proc/{pid}/task").iterdir() for k in (t / "children").read_text().split()]
    kids = [k for k in kids if b"services.recorder.guard" not in Path(f"/proc/{k}/cmdline").read_bytes()]
    assert len(kids) == 1, kids
    return kids[0]


def gone(pid: int) -> bool:
    """Exited (and reaped, or a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_a_writer_killed_mid_batch_gets_nothing_acknowledged_and_its_batch_is_stored_once(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    recorder = launch.recorder()
    first = writer_pid(recorder)
    events = [make_event(request_id=f"mid-{i}") for i in range(50)]
    ids = {e.event_id for e in events}
    holder = sqlite3.connect(cfg.db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the writer's insert waits on this lock: the batch stays mid-way
    with gateway_socket(cfg.events) as gw:
        send_all(gw, events)
        wait_until(lambda: "flush of 50 items failed" in recorder.stderr(), 20, "a batch to meet the lock")
        # The batch is being retried, and the writer is waiting on the lock again: kill it there.
        assert gw.read_acks() == set()  # nothing is committed, so nothing is acknowledged
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: "ledger writer process exited (code -9)" in recorder.stderr(), 20, "the death noticed"
        )
        assert gw.read_acks() == set() and count_rows(cfg.ledger) == 0
        holder.execute("COMMIT")
        holder.close()
        wait_until(lambda: gw.read_acks() == ids, 20, "every event acknowledged after the restart")
        assert event_ids(cfg.ledger) == ids
        # A gateway that missed those acknowledgements resends: the rows are stored once.
        send_all(gw, events)
        wait_until(
            lambda: gw.read_acks() == ids and len(gw.acked) == 100, 20, "the resent events acknowledged"
        )
    assert writer_pid(recorder) != first
    assert recorder.stop() == 0
    assert count_rows(cfg.ledger) == 50
    counts = summary(recorder)
    assert counts["inserted"] == 50 and counts["duplicates"] == 50 and counts["lost"] == 0


def test_a_killed_recorder_does_not_leave_its_writer_behind(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder()
    writer = writer_pid(recorder)
    with gateway_socket(cfg.events) as gw:
        send_all(gw, [make_event() for _ in range(10)])
        wait_until(lambda: len(gw.read_acks()) == 10, what="the events committed")
    recorder.popen.kill()
    recorder.popen.wait()
    wait_until(lambda: gone(writer), 10, "the writer to exit")
    assert count_rows(cfg.ledger) == 10


def test_a_signal_to_the_recorders_process_group_never_reaches_its_writer(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    """honcho stops a process by signalling its group, a terminal's Ctrl-C signals the foreground group: the
    writer is in a group of its own, so such a signal cannot kill it in the moment before it ignores SIGTERM
    (session 24: a start cut short by another process's failure logged a false "exited while opening the
    database"). The recorder closes it."""
    recorder = launch.recorder()
    writer = writer_pid(recorder)
    assert os.getpgid(writer) != os.getpgid(recorder.popen.pid)
    assert os.getpgid(writer) == writer  # the leader of its own group
    with gateway_socket(cfg.events) as gw:
        send_all(gw, [make_event() for _ in range(5)])
        wait_until(lambda: len(gw.read_acks()) == 5, what="the events committed")
    assert recorder.stop() == 0
    wait_until(lambda: gone(writer), 10, "the writer closed by the recorder")
    assert count_rows(cfg.ledger) == 5
