"""The recorder's flush (``service.make_flush``) when batches commit at once (``WriterProcess.IN_FLIGHT``):
each counts its own batch's rows and acknowledges its own events, once."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Sequence

import pytest
import zmq

from services.recorder.metrics import RecorderMetrics
from services.recorder.service import ACK, Acker, Counters, Item, make_flush
from services.recorder.store import COLUMNS, Row
from services.recorder.written import Written
from tests.unit.recorder.test_recorder_writer import rows

GATEWAY = b"gateway-1"
_EVENT_ID = COLUMNS.index("event_id")


class HeldStore:
    """A ledger writer whose batches commit when the test says so, each with the counts it is given.
    Like the writer process, its ``rejected`` is a running total over every batch."""

    path = "held"

    def __init__(self, outcomes: dict[str, Written]) -> None:
        self.rejected = 0
        self.commits = 0
        self._outcomes = outcomes  # a batch's first event id -> what its commit does
        self.release = {key: asyncio.Event() for key in outcomes}
        self.started: list[str] = []

    async def insert_counted(self, rows: Sequence[Row]) -> Written:
        key = str(rows[0][_EVENT_ID])
        self.started.append(key)
        await self.release[key].wait()
        written = self._outcomes[key]
        self.rejected += written.rejected
        self.commits += 1
        return written

    async def insert_rows(self, rows: Sequence[Row]) -> int:
        return (await self.insert_counted(rows)).inserted

    async def close(self) -> None:
        return None


@pytest.fixture
def link(zmq_ctx: zmq.Context[zmq.Socket[bytes]]) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    """A recorder's ROUTER and a gateway's DEALER (routing id ``GATEWAY``), the ROUTER knowing it."""
    router, dealer = zmq_ctx.socket(zmq.ROUTER), zmq_ctx.socket(zmq.DEALER)
    router.bind("inproc://acks")
    dealer.setsockopt(zmq.ROUTING_ID, GATEWAY)
    dealer.connect("inproc://acks")
    dealer.send(b"hello")
    assert router.poll(5000) and router.recv_multipart() == [GATEWAY, b"hello"]
    return router, dealer


def acked_ids(dealer: zmq.Socket[bytes]) -> Tally[bytes]:
    """Every event id acknowledged to the gateway so far, with how many times."""
    ids: Tally[bytes] = Tally()
    while dealer.poll(0):
        word, *chunk = dealer.recv_multipart()
        assert word == ACK
        ids.update(chunk)
    return ids


def items(batch: list[Row]) -> list[Item]:
    return [(GATEWAY, str(row[_EVENT_ID]).encode(), row) for row in batch]


async def test_overlapping_flushes_count_their_own_refused_rows_and_ack_once(
    link: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = link
    first, second = items(rows(0, 5)), items(rows(5, 4))  # the second: 3 new and 1 refused
    store = HeldStore({first[0][1].decode(): Written(5, 0), second[0][1].decode(): Written(3, 1)})
    acker = Acker(router, Counters(), RecorderMetrics())
    flush = make_flush(store, acker)
    one, two = asyncio.create_task(flush(first)), asyncio.create_task(flush(second))
    while len(store.started) < 2:  # both batches are at the store at once
        await asyncio.sleep(0)
    # The second commits (with its refused row) while the first is still committing.
    store.release[second[0][1].decode()].set()
    await two
    store.release[first[0][1].decode()].set()
    await one  # before the fix: -1 duplicates for the first batch, Counter.inc(-1) raised ValueError

    counters = acker.counters
    assert (counters.inserted, counters.rejected, counters.duplicates) == (8, 1, 0)
    assert (counters.batches, counters.acked) == (2, 9)
    metrics = acker.metrics.registry
    assert metrics.get_sample_value("ekai_recorder_rows_total", {"result": "inserted"}) == 8
    assert metrics.get_sample_value("ekai_recorder_rows_total", {"result": "rejected"}) == 1
    assert metrics.get_sample_value("ekai_recorder_rows_total", {"result": "duplicate"}) == 0
    assert metrics.get_sample_value("ekai_recorder_flush_failures_total") == 0
    assert metrics.get_sample_value("ekai_recorder_commits_total") == 2
    assert acked_ids(dealer) == Tally(event_id for _, event_id, _ in first + second)


async def test_a_store_count_larger_than_the_batch_never_makes_duplicates_negative(
    link: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = link
    batch = items(rows(0, 3))
    store = HeldStore({batch[0][1].decode(): Written(3, 1)})  # inconsistent: 4 rows of 3
    store.release[batch[0][1].decode()].set()
    acker = Acker(router, Counters(), RecorderMetrics())
    await make_flush(store, acker)(batch)
    assert (acker.counters.inserted, acker.counters.rejected, acker.counters.duplicates) == (3, 1, 0)
    assert acked_ids(dealer) == Tally(event_id for _, event_id, _ in batch)


async def test_a_gateway_that_sent_ev3_gets_one_joined_frame_and_the_lags_count_every_row(
    link: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    """To a gateway that sent ``ev3`` the batch's ids go as ``[ack2, ids joined by \\n]``; the lag
    histogram takes a value per row (a row without a finish time: lag 0) and the gauge the newest's."""
    router, dealer = link
    batch = items(rows(0, 4))
    finished = COLUMNS.index("finished_at")
    batch[0] = (GATEWAY, batch[0][1], (*batch[0][2][:finished], None, *batch[0][2][finished + 1 :]))
    store = HeldStore({batch[0][1].decode(): Written(4, 0)})
    store.release[batch[0][1].decode()].set()
    acker = Acker(router, Counters(), RecorderMetrics(), joined={GATEWAY})
    await make_flush(store, acker)(batch)
    assert dealer.poll(5000)
    assert dealer.recv_multipart() == [b"ack2", b"\n".join(event_id for _, event_id, _ in batch)]
    assert not dealer.poll(0)  # one message for the whole batch
    metrics = acker.metrics.registry
    assert metrics.get_sample_value("ekai_recorder_lag_seconds_count") == 4
    assert metrics.get_sample_value("ekai_recorder_lag_seconds_bucket", {"le": "0.05"}) >= 1  # the None
    assert acker.counters.acked == 4
