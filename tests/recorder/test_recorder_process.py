"""The recorder as a real process: ZeroMQ in, the ledger out (``@BOTH_ENGINES``: SQLite and PostgreSQL),
signals, restarts, bad input."""

from __future__ import annotations

import signal
import socket
import sqlite3
from collections.abc import Callable

import orjson
import pytest
import zmq
from recorder_procs import (
    BOTH_ENGINES,
    Launcher,
    RecorderConfig,
    count_rows,
    event_ids,
    gateway_socket,
    handshake,
    make_event,
    send_all,
    subscriber,
    summary,
    wait_until,
)

from shared.events import FIELD_NAMES, UsageEvent, encode, encode_row, to_dict
from tests.ledger_db import query


@BOTH_ENGINES
def test_events_are_committed_and_shown_by_tail(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder()
    tail = launch.tail("--json")
    events = [
        make_event(
            request_id=f"req-{i}",
            status=200 if i % 3 else 502,
            cost_usd=None if i % 5 else 0.5,
            input_tokens=i,
        )
        for i in range(200)
    ]
    with gateway_socket(cfg.events) as push:
        probes = handshake(push, lambda: "probe-model" in tail.stdout())
        send_all(push, events)
        wait_until(lambda: count_rows(cfg.ledger, "request_id LIKE 'req-%'") == 200, what="200 rows")
    assert query(cfg.ledger, "SELECT input_tokens, cost_usd FROM requests WHERE request_id = 'req-10'") == [
        {"input_tokens": 10, "cost_usd": 0.5}
    ]
    wanted = {e.event_id: to_dict(e) for e in events}
    printed = wait_until(lambda: _json_lines(tail.stdout(), wanted), what="tail to print all 200 events")
    assert printed == wanted  # every event, every field, exactly as sent
    assert tail.stop(signal.SIGINT) == 0
    assert "Traceback" not in tail.stderr()
    assert recorder.stop() == 0
    counts = summary(recorder)
    assert counts["inserted"] == 200 + len(probes) and counts["malformed"] == 0


def _json_lines(text: str, wanted: dict[str, dict[str, object]]) -> dict[str, object] | None:
    lines = [orjson.loads(line) for line in text.splitlines() if line]
    got = {d["event_id"]: d for d in lines if d["event_id"] in wanted}
    return got if len(got) == len(wanted) else None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@BOTH_ENGINES
def test_signal_commits_everything_buffered(cfg: RecorderConfig, launch: Launcher, sig: int) -> None:
    # Batches that would only flush after 30 s or 100k rows: everything is still buffered at the signal.
    recorder = launch.recorder(RECORDER_FLUSH_INTERVAL="30", RECORDER_BATCH_SIZE="100000")
    events = [make_event(request_id=f"buffered-{i}") for i in range(1000)]
    with subscriber(cfg.tail) as sub, gateway_socket(cfg.events) as push:
        received: set[str] = set()
        probes = handshake(push, lambda: _drain(sub, received))
        send_all(push, events)
        # The PUB copy is sent when the recorder has taken the event: then it is in the batcher.
        wait_until(
            lambda: _drain(sub, received) and {e.event_id for e in events} <= received,
            what="the recorder to receive all events",
        )
        assert count_rows(cfg.ledger) == 0  # nothing committed yet...
        assert push.read_acks() == set()  # ...so nothing acknowledged
        assert recorder.stop(sig) == 0
        # Committed at the signal, then acknowledged before the recorder exited.
        wait_until(lambda: push.read_acks() == {e.event_id for e in events + probes}, what="the acks")
    assert event_ids(cfg.ledger) == {e.event_id for e in events + probes}
    assert summary(recorder)["lost"] == 0


def _drain(sub: zmq.Socket[bytes], into: set[str]) -> bool:
    """Read what the SUB socket holds into ``into`` (event ids); True once anything arrived."""
    while sub.poll(0):
        into.update(orjson.loads(frame)["event_id"] for frame in sub.recv_multipart())
    return bool(into)


@BOTH_ENGINES
def test_events_sent_before_the_recorder_starts_are_delivered(cfg: RecorderConfig, launch: Launcher) -> None:
    events = [make_event(request_id=f"early-{i}") for i in range(300)]
    with gateway_socket(cfg.events) as push:
        for e in events:  # ZeroMQ queues them for the peer to come
            push.send_frames([b"ev", e.event_id.encode(), encode(e)])
        launch.recorder()
        wait_until(lambda: count_rows(cfg.ledger) == 300, what="the queued events")
    assert event_ids(cfg.ledger) == {e.event_id for e in events}


@BOTH_ENGINES
def test_restart_keeps_rows_and_catches_up(cfg: RecorderConfig, launch: Launcher) -> None:
    first, second = ([make_event(request_id=f"{tag}-{i}") for i in range(100)] for tag in ("a", "b"))
    with gateway_socket(cfg.events) as push:
        recorder = launch.recorder()
        send_all(push, first)
        wait_until(lambda: count_rows(cfg.ledger) == 100, what="the first 100 rows")
        assert recorder.stop() == 0
        send_all(push, second)  # the recorder is down: queued in the sender
        launch.recorder(name="recorder2")
        wait_until(lambda: count_rows(cfg.ledger) == 200, what="the second 100 rows")


@BOTH_ENGINES
def test_replayed_events_are_stored_once(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder()
    events = [make_event(request_id=f"replay-{i}") for i in range(50)]
    with gateway_socket(cfg.events) as push:
        send_all(push, events)
        wait_until(lambda: count_rows(cfg.ledger) == 50)
        send_all(push, events)
        send_all(push, [make_event(request_id="marker")])
        wait_until(lambda: count_rows(cfg.ledger, "request_id = 'marker'") == 1)
    assert count_rows(cfg.ledger) == 51
    assert recorder.stop() == 0
    assert summary(recorder)["duplicates"] == 50


BAD_PAYLOADS = [
    b"",
    b"not json",
    b"[1, 2]",
    b'{"request_id": "x"}',
    encode(make_event()).replace(b'"failed_attempts":[]', b'"failed_attempts":[1]'),
    encode(make_event()).replace(b'"status":200', b'"status":null'),
    encode(make_event()).replace(b'"input_tokens":100', b'"input_tokens":"many"'),
]


@BOTH_ENGINES
def test_corrupt_events_are_acknowledged_dropped_and_logged(cfg: RecorderConfig, launch: Launcher) -> None:
    """The decided outcome for a corrupt event: acknowledged (a resend cannot mend it), never stored,
    counted as malformed and logged with its first bytes. Messages without an envelope are counted too
    (there is no id to acknowledge)."""
    recorder = launch.recorder()
    good = [make_event(request_id=f"good-{i}") for i in range(10)]
    bad_ids = [f"bad-{i}" for i in range(len(BAD_PAYLOADS))]
    with gateway_socket(cfg.events) as push:
        for event_id, raw in zip(bad_ids, BAD_PAYLOADS, strict=True):
            push.send_frames([b"ev", event_id.encode(), raw])
        push.send_frames([b"ev", b"not-its-id", encode(good[0])])  # the envelope lies about the id
        push.send_frames([encode(good[0])])  # the old PUSH format: no envelope
        push.send_frames([b"what", b"ever"])
        send_all(push, good)
        wait_until(lambda: count_rows(cfg.ledger) == 10, what="the good events")
        wanted = set(bad_ids) | {"not-its-id"} | {e.event_id for e in good}
        wait_until(lambda: push.read_acks() == wanted, what="acks for the good and the corrupt events")
    assert recorder.alive()
    assert recorder.stop() == 0
    counts = summary(recorder)
    assert counts["malformed"] == len(BAD_PAYLOADS) + 3
    assert counts["received"] == len(BAD_PAYLOADS) + 3 + 10
    assert counts["acked"] == len(wanted)
    assert "malformed message #1 acknowledged and dropped" in recorder.stderr()
    assert "input_tokens" in recorder.stderr()  # the reason is logged


@BOTH_ENGINES
@pytest.mark.parametrize(
    ("kind", "to_wire"), [(b"ev", encode), (b"ev2", encode_row)], ids=["objects", "rows"]
)
def test_a_batched_message_stores_each_event_and_refuses_only_the_bad_ones(
    cfg: RecorderConfig, launch: Launcher, kind: bytes, to_wire: Callable[[UsageEvent], bytes]
) -> None:
    """A gateway sends its events in batches, ``[ev, id, payload, id, payload, ...]`` (``ev2``: payloads
    as arrays in field order, what gateways send now): every good event is stored and acknowledged, a
    corrupt one among them and a last id without its payload are counted as malformed and acknowledged,
    and the good ones after a bad one are not lost."""
    recorder = launch.recorder()
    good = [make_event(request_id=f"batched-{i}") for i in range(6)]
    frames = [kind]
    for e in good[:3]:
        frames += (e.event_id.encode(), to_wire(e))
    frames += (b"bad-in-batch", b"not json")
    for e in good[3:]:
        frames += (e.event_id.encode(), to_wire(e))
    frames.append(b"dangling-id")
    with gateway_socket(cfg.events) as push:
        push.send_frames(frames)
        wait_until(lambda: count_rows(cfg.ledger) == 6, what="the six good events")
        wanted = {e.event_id for e in good} | {"bad-in-batch", "dangling-id"}
        wait_until(lambda: push.read_acks() == wanted, what="acks for every id in the batch")
    assert event_ids(cfg.ledger) == {e.event_id for e in good}
    assert recorder.stop() == 0
    counts = summary(recorder)
    assert counts["received"] == 8 and counts["malformed"] == 2 and counts["inserted"] == 6


@BOTH_ENGINES
def test_a_joined_message_stores_each_event_and_acknowledges_in_one_frame(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    """``[ev3, ids, payloads]`` (what gateways send since session 13: ids and payloads each joined by a
    newline): every good event is stored, a corrupt one among them is counted as malformed, and all are
    acknowledged as ``[ack2, ids joined]``; a message whose ids and payloads do not pair up has every id
    counted as malformed and acknowledged (a resend cannot mend it), and a gateway still sending ``ev2``
    gets ``[ack, id, ...]``."""
    recorder = launch.recorder()
    good = [make_event(request_id=f"joined-{i}") for i in range(5)]
    ids = (
        [e.event_id.encode() for e in good[:2]] + [b"bad-in-joined"] + [e.event_id.encode() for e in good[2:]]
    )
    payloads = [encode_row(e) for e in good[:2]] + [b"not json"] + [encode_row(e) for e in good[2:]]
    old = make_event(request_id="still-ev2")
    with gateway_socket(cfg.events) as push, gateway_socket(cfg.events) as older:
        push.send_frames([b"ev3", b"\n".join(ids), b"\n".join(payloads)])
        push.send_frames([b"ev3", b"unpaired-1\nunpaired-2", b"[1]"])
        older.send_frames([b"ev2", old.event_id.encode(), encode_row(old)])
        wait_until(lambda: count_rows(cfg.ledger) == 6, what="the six good events")
        wanted = {e.event_id for e in good} | {"bad-in-joined", "unpaired-1", "unpaired-2"}
        wait_until(lambda: push.read_acks() == wanted, what="acks for every id of both messages")
        wait_until(lambda: older.read_acks() == {old.event_id}, what="the ev2 gateway's ack")
        assert push.kinds == {b"ack2"} and older.kinds == {b"ack"}
    assert event_ids(cfg.ledger) == {e.event_id for e in good} | {old.event_id}
    assert recorder.stop() == 0
    counts = summary(recorder)
    assert counts["received"] == 9 and counts["malformed"] == 3 and counts["inserted"] == 6


@BOTH_ENGINES
def test_a_joined_event_the_fast_path_cannot_reencode_is_malformed_not_fatal(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    """An ``ev3`` event whose failed attempt nests its status deeper than orjson writes (it reads 1,024
    levels, writes 254: ``wire``'s fast path raises re-encoding it) is counted malformed and acknowledged,
    as ``_accept`` decides; the recorder keeps running and stores the events around it and after it."""
    recorder = launch.recorder()
    good = [make_event(request_id=f"deep-{i}") for i in range(3)]
    deep = make_event(request_id="deep-bad")
    values = orjson.loads(encode_row(deep))
    values[FIELD_NAMES.index("failed_attempts")] = "@"
    nested = b'[{"provider":"openai","status":%s1%s,"error_type":"error","message":""}]' % (
        b"[" * 300,
        b"]" * 300,
    )
    bad = orjson.dumps(values).replace(b'"@"', nested)
    ids = [good[0].event_id.encode(), deep.event_id.encode(), good[1].event_id.encode()]
    payloads = [encode_row(good[0]), bad, encode_row(good[1])]
    with gateway_socket(cfg.events) as push:
        push.send_frames([b"ev3", b"\n".join(ids), b"\n".join(payloads)])
        push.send_frames([b"ev3", good[2].event_id.encode(), encode_row(good[2])])
        wait_until(lambda: count_rows(cfg.ledger) == 3, what="the three good events")
        wanted = {e.event_id for e in good} | {deep.event_id}
        wait_until(lambda: push.read_acks() == wanted, what="acks for every id")
    assert recorder.alive()
    assert event_ids(cfg.ledger) == {e.event_id for e in good}
    assert recorder.stop() == 0
    counts = summary(recorder)
    assert counts["received"] == 4 and counts["malformed"] == 1 and counts["inserted"] == 3


def test_startup_failure_exits_1(cfg: RecorderConfig, launch: Launcher) -> None:
    ctx = zmq.Context()
    squatter = ctx.socket(zmq.ROUTER)
    squatter.bind(cfg.events)  # the recorder's port is taken
    try:
        failed = launch.spawn_recorder()
        assert failed.popen.wait(15) == 1
    finally:
        squatter.close(linger=0)
        ctx.term()
    assert "recorder failed" in failed.stderr()
    assert "Traceback" not in failed.stderr()
    # the setting that moves it, not only ZeroMQ's "Address already in use"
    assert "EVENTS_ENDPOINT is taken (another recorder running?)" in failed.stderr(), failed.stderr()


def test_a_taken_metrics_port_names_its_setting(cfg: RecorderConfig, launch: Launcher) -> None:
    """Before: "recorder failed: OSError: [Errno 98] Address already in use", naming neither the address nor
    RECORDER_METRICS_PORT (newcomer review, session 21)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        cfg.metrics_port = holder.getsockname()[1]
        failed = launch.spawn_recorder()
        assert failed.popen.wait(15) == 1
    err = failed.stderr()
    assert "Traceback" not in err
    assert f"the metrics port 127.0.0.1:{cfg.metrics_port} is taken: set RECORDER_METRICS_PORT" in err, err


@pytest.mark.parametrize("problem", ["no server", "no database", "not postgresql"])
def test_unreachable_postgres_at_startup_exits_with_a_clear_error(
    cfg: RecorderConfig, launch: Launcher, pg_url: str, problem: str
) -> None:
    base, _ = pg_url.rsplit("/", 1)
    if problem == "no server":
        cfg.db_url = "postgresql://ekai:secret@127.0.0.1:1/ledger"
    elif problem == "no database":
        cfg.db_url = base + "/no_such_database"
    else:
        cfg.db_url = "mysql://ekai@127.0.0.1/ledger"
    failed = launch.spawn_recorder()
    code = failed.popen.wait(20)
    err = failed.stderr()
    assert "Traceback" not in err
    assert "secret" not in err  # the password is never logged
    if problem == "not postgresql":
        assert code == 2 and "DATABASE_URL must be a postgresql://" in err
    else:
        assert code == 1 and "recorder failed" in err and "PostgreSQL ledger DATABASE_URL=" in err
        if problem == "no database":
            assert "no_such_database" in err


def _lock_database(cfg: RecorderConfig) -> sqlite3.Connection:
    """Another writer holding the write lock: the recorder's inserts fail with SQLITE_BUSY meanwhile."""
    holder = sqlite3.connect(cfg.db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_busy_database_at_shutdown_still_commits(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder()
    events = [make_event(request_id=f"busy-{i}") for i in range(100)]
    holder = _lock_database(cfg)
    with gateway_socket(cfg.events) as push:
        send_all(push, events)
        wait_until(lambda: "items failed" in recorder.stderr(), 15, "a flush to meet the lock")
        recorder.popen.send_signal(signal.SIGTERM)
        wait_until(lambda: "recorder stopping" in recorder.stderr(), 15, "the shutdown to begin")
        holder.execute("COMMIT")  # the lock goes away within the shutdown grace period
        holder.close()
    assert recorder.stop() == 0
    assert event_ids(cfg.db_path) == {e.event_id for e in events}


def test_shutdown_gives_up_on_a_database_that_stays_locked(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder()
    holder = _lock_database(cfg)
    try:
        with gateway_socket(cfg.events) as push:
            send_all(push, [make_event() for _ in range(10)])
            wait_until(
                lambda: "flush of 10 items failed" in recorder.stderr(), 15, "a flush to meet the lock"
            )
        # Events could not be committed: say so, but do exit by itself (stop() kills after the deadline).
        assert recorder.stop(timeout=20) == 1
    finally:
        holder.close()
    assert summary(recorder)["lost"] == 10
    assert "giving up on 10 items" in recorder.stderr()


@BOTH_ENGINES
def test_signal_right_after_a_burst_loses_nothing(cfg: RecorderConfig, launch: Launcher) -> None:
    """Events still on their way when the signal lands are read before the socket closes."""
    recorder = launch.recorder(RECORDER_FLUSH_INTERVAL="30", RECORDER_BATCH_SIZE="100000")
    events = [make_event(request_id=f"late-{i}") for i in range(5000)]
    with gateway_socket(cfg.events) as push:
        send_all(push, events)
        recorder.popen.send_signal(signal.SIGTERM)
        assert recorder.stop() == 0
    assert count_rows(cfg.ledger) == 5000
