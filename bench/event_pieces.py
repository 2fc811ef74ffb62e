"""The ledger event's cost per request on the openai chat plain path, piece by piece, in deterministic counts.

Session 20 (issue 13: throughput within 5% whether the recorder runs or is absent; with no recorder connected
the gateway builds each event but sends nothing). Each piece runs on ``Call``s as the gateway leaves them for
a plain chat answer since session 19 (attribution still in the request's headers, the answer's usage behind
``Attempt.read_usage`` over the fake provider's canned answer, ``bench/moved_pieces.py``'s), alone:

- ``row_for``: ``calls.row_for`` whole (attribution, usage read, cost, event id, the tuple);
- ``usage read``, ``attribution``, ``cost`` (``calls._cost``), ``event id`` (``new_event_id``): its parts;
- ``observe_row``: the metrics' count of the row (``GatewayMetrics.observe_row``);
- ``encode``: ``shared.events.encode_values`` of the row (orjson);
- ``record``: ``handlers.record`` (``publish_later``: the request's own share, on its path at one connection);
- ``event, no recorder``: ``record`` plus the batch (``_send_batch``: build, count, encode, hold) with no
  recorder connected (``ZMQ_IMMEDIATE``: nothing sent), held events forgotten after each batch;
- ``event, recorder``: the same with a ZeroMQ ROUTER connected (in this process, reading nothing): the batch's
  one multipart send, per request; ``event, recorder, built ahead`` the same with one request open, each
  ``record`` followed by the next request's ``loop_waits`` (session 28: the event built there, the batch only
  sends); and ``ack`` (``_read_acks`` of the batch's ``ack2``, the router's send
  included).

Python calls: ``cProfile``'s total over ``--iterations`` runs, divided. With ``--instructions``, callgrind's
instructions per run: ``N`` runs inside a ``functools.reduce`` (``--toggle-collect=functools_reduce``), N and 0,
the difference divided by N. A batch piece runs ``--batch`` requests a run and is divided by them.

    python bench/event_pieces.py [--iterations 2000] [--instructions [--n 400]] [--batch 8] [--only "a;b"]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import orjson
import zmq

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.moved_pieces import ENV, HEADERS, collected_by  # noqa: E402
from bench.moved_pieces import calls_per_run as moved_calls_per_run  # noqa: E402
from bench.upstream import fake_answers  # noqa: E402
from services.gateway import handlers  # noqa: E402
from services.gateway.attribution import from_headers  # noqa: E402
from services.gateway.calls import Attempt, Call, _cost, event_for, row_for  # noqa: E402
from services.gateway.dialects import registry  # noqa: E402
from services.gateway.metrics import GatewayMetrics  # noqa: E402
from services.gateway.providers.registry import build_providers  # noqa: E402
from services.gateway.proxy import _usage_of  # noqa: E402
from services.gateway.publisher import EventPublisher  # noqa: E402
from services.gateway.routing.catalog import Catalog  # noqa: E402
from services.gateway.routing.health import ProviderHealth  # noqa: E402
from shared.events import encode_values, new_event_id  # noqa: E402
from shared.pricing import Pricer  # noqa: E402
from shared.settings import load_settings  # noqa: E402

MODEL = "gpt-4o-mini"


class Bench:
    """The gateway's parts the event touches, and a source of fresh ``Call``s."""

    def __init__(self, answer: bytes, batch: int, connected: bool) -> None:
        settings = load_settings(ENV)
        providers = build_providers(settings)
        self.pricer = Pricer()
        catalog = Catalog(providers, self.pricer, settings)
        health = ProviderHealth.from_settings(settings)
        self.metrics = GatewayMetrics(health, [n for n, p in providers.items() if p.configured])
        self.route = catalog.routes(MODEL)[0]
        self.provider = providers[self.route.provider]
        self.wire = registry.WIRES["openai_chat"]
        self.endpoint = registry.ENDPOINTS["/v1/chat/completions"]
        self.answer = orjson.loads(answer)
        self.batch = batch
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        # no recorder: an IPC path nobody binds (a TCP port nobody listens on can meet Linux's TCP
        # self-connect on one of ZeroMQ's reconnects, and the socket then reads its own messages)
        absent = f"ipc://{tempfile.gettempdir()}/event-pieces-{os.getpid()}-nobody"
        endpoint = f"tcp://127.0.0.1:{port}" if connected else absent
        self.pub = EventPublisher(
            endpoint, 10**9, batch_delay_s=3600.0, ctx=self.ctx, metrics=self.metrics, build=event_for
        )
        if connected:
            self.pub._sock.poll(60_000, zmq.POLLOUT)  # the handshake, waited for in the kernel
        self.pub._look()
        self.state = SimpleNamespace(pricer=self.pricer, publisher=self.pub, metrics=self.metrics)
        self.request = SimpleNamespace(app={}, get=lambda key, default=None: default)
        self.n = 0

    def call(self) -> Call:
        self.n += 1
        call = Call(self.endpoint, f"req_{self.n:012x}", HEADERS, time.monotonic(), time.time())
        call.attribution_pending = True
        call.body, call.raw, call.model = {"model": MODEL}, b"{}", MODEL
        att = Attempt(self.route, self.wire.name, False, answered=True, status=200)
        att.read_usage = functools.partial(
            _usage_of, self.provider.usage_rule, self.route.model, self.wire.usage, self.answer
        )
        att.served_model = "gpt-4o-mini-2024-07-18"
        call.attempts.append(att)
        call.answer(200)
        return call

    def record_batch(self, calls: list[Call]) -> None:
        for call in calls:
            handlers.record(self.request, call, 1.0, 2.0, self.state)  # type: ignore[arg-type]
        self.pub._send_batch()

    def forget(self) -> None:
        """Held events dropped (as acknowledged) so that memory and dicts stay the same size run to run."""
        self.pub._pending.clear()
        self.pub._inflight.clear()
        self.pub._unsent.clear()

    def drain(self) -> None:
        """What the router got (not counted as the gateway's: read outside the measured runs when possible)."""
        while self.router.poll(0):
            self.router.recv_multipart()


def pieces(answer: bytes, batch: int) -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (one run, requests a run)."""
    b = Bench(answer, batch, connected=False)
    fixed = b.call()
    att = fixed.attempts[0]
    # ``row_for`` reads the usage once and drops the reader (``Attempt.read_usage`` set to None, the usage kept in
    # ``Attempt.usage``): the reader is kept here, and each ``row_for`` run is given it back, as each request's
    # row has its own to read (session 31: the piece after ``row_for`` called None)
    read = att.read_usage
    assert read is not None
    usage = read()
    row = row_for(fixed, b.pricer, 1.0, 2.0)

    def whole_row() -> object:
        att.usage, att.read_usage = None, read
        return row_for(fixed, b.pricer, 1.0, 2.0)

    out: dict[str, tuple[Callable[[], object], int]] = {
        "row_for": (whole_row, 1),
        "  usage read": (read, 1),
        "  attribution": (functools.partial(from_headers, HEADERS), 1),
        "  cost": (functools.partial(_cost, att, usage, b.pricer), 1),
        "  event id": (new_event_id, 1),
        "observe_row": (functools.partial(b.metrics.observe_row, row), 1),
        "encode": (lambda: encode_values(row), 1),
    }

    def record_only() -> None:
        handlers.record(b.request, fixed, 1.0, 2.0, b.state)  # type: ignore[arg-type]
        b.pub._later.clear()

    out["record"] = (record_only, 1)
    calls = [b.call() for _ in range(batch)]

    def absent() -> None:
        b.record_batch(calls)
        b.forget()

    out["event, no recorder"] = (absent, batch)
    c = Bench(answer, batch, connected=True)
    ccalls = [c.call() for _ in range(batch)]

    def present() -> None:
        c.record_batch(ccalls)
        c.forget()

    out["event, recorder"] = (present, batch)

    def ahead() -> None:  # session 28: one request open, each upstream wait builds the last request's event
        pub = c.pub
        pub.requests_open = 1
        for call in ccalls:
            handlers.record(c.request, call, 1.0, 2.0, c.state)  # type: ignore[arg-type]
            pub.loop_waits()
        pub._send_batch()
        c.forget()

    out["event, recorder, built ahead"] = (ahead, batch)
    ids = [f"{i:032x}".encode() for i in range(batch)]
    ident = [None]

    def ack() -> None:
        pub = c.pub
        for i in ids:
            pub._pending[i] = b"x"
            pub._inflight[i] = 1.0
        if ident[0] is None:
            c.pub._try_send({ids[0]: b"[]"})
            ident[0] = c.router.recv_multipart()[0]
            c.drain()
        c.router.send_multipart([ident[0], b"ack2", b"\n".join(ids)])
        c.pub._sock.poll(1000, zmq.POLLIN)
        c.pub._read_acks()

    out["ack (router's send included)"] = (ack, batch)
    out["_c"] = (lambda: (b, c), 0)
    return out


def chat_answer() -> bytes:
    """The fake provider's plain chat answer, as ``bench/upstream.py`` captures it for nginx."""
    return fake_answers()["chat/completions.json"]


def calls_per_run(work: Callable[[], object], iterations: int) -> float:
    return moved_calls_per_run(work, iterations, warm=20)


def collected(piece: str, runs: int, answer: Path, batch: int) -> int:
    return collected_by(__file__, [piece, str(runs), str(answer), str(batch)])


def main() -> None:
    if sys.argv[1:2] == ["--callgrind"]:
        piece, runs, file, batch = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
        work, _ = pieces(file.read_bytes(), batch)[piece]
        for _ in range(50):
            work()
        functools.reduce(lambda acc, _: work(), range(runs), None)
        return
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--instructions", action="store_true")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--only", default="", help="pieces to run, by name, separated by ';' (default: all)")
    args = ap.parse_args()
    answer = chat_answer()
    works = pieces(answer, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "answer.json"
        saved.write_bytes(answer)
        print(f"{'piece (per request)':34} {'Python calls':>13} {'instructions':>13}")
        for name, (work, per) in works.items():
            if not per or (args.only and name.strip() not in args.only.split(";")):
                continue
            calls = calls_per_run(work, args.iterations) / per
            instr = ""
            if args.instructions:
                many, none = collected(name, args.n, saved, args.batch), collected(name, 0, saved, args.batch)
                instr = f"{(many - none) / args.n / per:13.0f}"
            print(f"{name:34} {calls:13.1f} {instr:>13}", flush=True)


async def _in_a_loop() -> None:
    main()  # inside a running loop, as the gateway's publisher is (its batch timer armed, not sent at once)


if __name__ == "__main__":
    asyncio.run(_in_a_loop())
