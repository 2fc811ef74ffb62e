"""What ``ekai-tail`` runs once started (:mod:`services.recorder.tail`, which installs the start-up's stop
handler before importing this): its options, the filter, the lines it prints, and the loop that follows the
recorder's PUB socket (one message per burst of events the recorder read, one event per frame).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

import orjson
import zmq
from zmq.utils.monitor import recv_monitor_message

from services.recorder.tail_link import EVENTS, Link
from shared.events import UsageEvent, decode, to_dict
from shared.settings import load_settings
from shared.stopping import STOP_SIGNALS

RCVHWM = 100_000


def status_spec(value: str) -> str:
    """Validate a ``--status`` value: a code (``200``), a class (``4xx``), ``error`` (>= 400) or ``ok``."""
    v = value.strip().lower()
    if v in ("error", "ok") or v.isdigit() or (len(v) == 3 and v[0].isdigit() and v[1:] == "xx"):
        return v
    raise argparse.ArgumentTypeError(f"bad status {value!r}: use e.g. 200, 4xx, error or ok")


def status_matches(spec: str, status: int) -> bool:
    """Whether ``status`` satisfies a spec accepted by ``status_spec``."""
    if spec == "error":
        return status >= 400
    if spec == "ok":
        return 0 < status < 400
    if spec.endswith("xx"):
        return status // 100 == int(spec[0])
    return status == int(spec)


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events to show. ``model`` may be a glob (``gpt-4*``); None means any."""

    provider: str | None = None
    model: str | None = None
    status: str | None = None

    def matches(self, e: UsageEvent) -> bool:
        if self.provider is not None and e.provider != self.provider:
            return False
        if self.model is not None and not (
            fnmatch.fnmatchcase(e.model, self.model) or fnmatch.fnmatchcase(e.served_model or "", self.model)
        ):
            return False
        return self.status is None or status_matches(self.status, e.status)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def format_line(e: UsageEvent) -> str:
    """One human-readable line: time, provider, model, status, tokens, cost, latency, ttft, and who sent
    it (key, session, client) and a budget alert when there are."""
    when = datetime.fromtimestamp(e.finished_at or e.started_at).strftime("%Y-%m-%d %H:%M:%S")
    status = str(e.status) + (f" {e.error_type}" if e.error_type else "")
    cost = "-" if e.cost_usd is None else f"${e.cost_usd:.6f}"
    tokens = (
        f"in={e.input_tokens} out={e.output_tokens} cache r/w={e.cache_read_tokens}/{e.cache_write_tokens}"
    )
    who = "".join(
        f" {label}={value}"
        for label, value in (("key", e.api_key_name), ("session", e.session_id), ("client", e.client))
        if value
    )
    alert = f"  BUDGET {e.budget_alert} used" if e.budget_alert else ""
    return (
        f"{when}  {e.provider or '-':<10} {e.model:<28} {status:<3}  {tokens}  {cost}  "
        f"latency={_ms(e.latency_ms)} ttft={_ms(e.ttft_ms)}{who}{alert}"
    )


def format_json(e: UsageEvent) -> str:
    """The event as one JSON object (all fields, defaults filled in)."""
    return orjson.dumps(to_dict(e)).decode()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ekai-tail", description="Print gateway requests as they complete.")
    parser.add_argument("--endpoint", help="recorder PUB endpoint (default: TAIL_ENDPOINT)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--provider", help="only this provider (e.g. openai)")
    parser.add_argument("--model", help="only this model; glob patterns allowed (e.g. 'claude-*')")
    parser.add_argument("--status", type=status_spec, help="200, 4xx, error (>= 400) or ok (< 400)")
    return parser.parse_args(argv)


def _follow(
    sock: zmq.Socket[bytes], monitor: zmq.Socket[bytes], link: Link, show: Filter, as_json: bool
) -> None:
    fmt = format_json if as_json else format_line
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    while True:
        ready = dict(poller.poll(link.wait_ms(time.monotonic())))
        if monitor in ready:
            note = link.on_event(recv_monitor_message(monitor)["event"], time.monotonic())
        else:
            note = link.on_tick(time.monotonic())
        if note:
            print(note, file=sys.stderr, flush=True)
        if sock in ready:
            # One message per burst the recorder read: one event per frame.
            lines = [line for raw in sock.recv_multipart() if (line := _line(raw, show, fmt)) is not None]
            if lines:
                print("\n".join(lines), flush=True)


def _line(raw: bytes, show: Filter, fmt: Callable[[UsageEvent], str]) -> str | None:
    """The event's line, or None when it is filtered out or not an event."""
    try:
        event = decode(raw)
        if not show.matches(event):
            return None
        return fmt(event)
    except (ValueError, TypeError):
        return None  # the recorder republishes only valid events; be lenient with other publishers


_stopping: list[bool] = []


def _stop(signum: int, frame: FrameType | None) -> None:
    """The first SIGINT or SIGTERM leaves the loop (KeyboardInterrupt); the copies that follow do nothing.
    `timeout`, `kill -- -PGID` and a terminal with a supervisor signal the process twice or more, and a copy
    that came while the socket closed raised again, out of ``ctx.term()``: a traceback. (Not ``SIG_IGN``: a
    copy already caught then makes CPython raise "Signal 15 ignored due to race condition".)"""
    if not _stopping:
        _stopping.append(True)
        raise KeyboardInterrupt


def run(argv: Sequence[str] | None = None) -> int:
    """Follow until Ctrl-C (or SIGTERM). Returns the exit code. Until its ``try`` the start-up's handler
    (``shared.stopping.exit_0_while_starting``, set by :func:`services.recorder.tail.main`) stays in place: a
    stop before it exits 0 at once (nothing is connected yet)."""
    args = parse_args(argv)
    endpoint = args.endpoint or load_settings().tail_endpoint
    show = Filter(provider=args.provider, model=args.model, status=args.status)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, RCVHWM)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    monitor = sock.get_monitor_socket(EVENTS)  # before connect(), to see its first events
    try:
        # Ctrl-C and SIGTERM leave the loop and close the socket quietly (set inside the try: a signal
        # right after it raises KeyboardInterrupt, which the try takes).
        for sig in STOP_SIGNALS:
            signal.signal(sig, _stop)
        sock.connect(endpoint)
        print(f"ekai-tail: following {endpoint} (only events published from now on)", file=sys.stderr)
        _follow(sock, monitor, Link(endpoint, time.monotonic()), show, as_json=args.json)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # Reader went away (e.g. `| head`): silence the flush of the closed stdout at exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except zmq.ZMQError as exc:
        print(f"ekai-tail: {exc} ({endpoint})", file=sys.stderr)
        return 1
    finally:
        # From here on a copy of the signal does nothing (_stop), and then waits blocked: neither interrupts
        # ctx.term() (pyzmq raises on EINTR) nor meets the default action the interpreter restores at exit.
        _stopping.append(True)
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        sock.disable_monitor()
        monitor.close(linger=0)  # an open monitor socket would hold ctx.term() forever
        sock.close(linger=0)
        ctx.term()
    return 0
