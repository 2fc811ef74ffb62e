"""``python -m services.recorder.tail`` as a real process, fed by a real recorder."""

from __future__ import annotations

import json
import signal

from recorder_procs import (
    Launcher,
    RecorderConfig,
    gateway_socket,
    handshake,
    make_event,
    send_all,
    wait_for_output,
    wait_until,
)


def test_filters_and_readable_lines(cfg: RecorderConfig, launch: Launcher) -> None:
    launch.recorder()
    tail = launch.tail("--provider", "anthropic", "--status", "error")
    wait_for_output(tail, f"ekai-tail: connected to {cfg.tail}\n", timeout=30)
    probe = make_event(request_id="probe", provider="anthropic", status=529, model="probe-model")
    shown = make_event(
        provider="anthropic",
        model="claude-shown",
        status=529,
        error_type="overloaded_error",
        input_tokens=11,
        output_tokens=22,
        cache_read_tokens=33,
        cache_write_tokens=44,
        cost_usd=0.00123456,
        latency_ms=1500.4,
        ttft_ms=None,
    )
    hidden = [
        make_event(provider="openai", model="hidden-1", status=500),
        make_event(provider="anthropic", model="hidden-2", status=200),
        make_event(provider="xai", model="hidden-3", status=429),
    ]
    last = make_event(provider="anthropic", model="sentinel", status=400)
    with gateway_socket(cfg.events) as push:
        handshake(push, lambda: "probe-model" in tail.stdout(), probe)
        send_all(push, [hidden[0], shown, *hidden[1:], last])
        wait_until(lambda: "sentinel" in tail.stdout(), what="the last event in tail")
    lines = [ln for ln in tail.stdout().splitlines() if "probe-model" not in ln]
    assert [ln.split()[3] for ln in lines] == ["claude-shown", "sentinel"]  # date, time, provider, model
    line = lines[0]
    for part in (
        "anthropic",
        "529 overloaded_error",
        "in=11 out=22",
        "cache r/w=33/44",
        "$0.001235",
        "latency=1500ms",
        "ttft=-",
    ):
        assert part in line, (part, line)
    assert tail.stop(signal.SIGINT) == 0


def test_ctrl_c_exits_cleanly_without_a_recorder(cfg: RecorderConfig, launch: Launcher) -> None:
    tail = launch.tail("--json")  # nothing listens on the endpoint: ZeroMQ keeps retrying quietly
    assert tail.stop(signal.SIGINT) == 0
    assert tail.stdout() == "" and "Traceback" not in tail.stderr()


def test_sigterm_exits_cleanly(cfg: RecorderConfig, launch: Launcher) -> None:
    tail = launch.tail()
    assert tail.stop(signal.SIGTERM) == 0
    assert "Traceback" not in tail.stderr()


def test_repeated_signals_while_it_stops_exit_cleanly(cfg: RecorderConfig, launch: Launcher) -> None:
    """`timeout 60 ekai-tail`, `kill -- -PGID`, a terminal and a supervisor that both signal: the copies
    that come while it closes its socket used to raise KeyboardInterrupt again, out of ``ctx.term()``: a
    traceback (session 25's newcomer run, `timeout -s INT 30 ekai-tail`). Signals go until it exits."""
    tail = launch.tail()
    while tail.alive():
        try:
            tail.popen.send_signal(signal.SIGTERM)
            tail.popen.send_signal(signal.SIGINT)
        except ProcessLookupError:
            break
    assert tail.stop() == 0, tail.stderr()
    assert "Traceback" not in tail.stderr() and "Exception ignored" not in tail.stderr(), tail.stderr()


def test_says_whether_it_is_connected_on_stderr(cfg: RecorderConfig, launch: Launcher) -> None:
    """No recorder: after a few seconds it says nothing listens there (it used to print nothing, forever:
    session 25's newcomer run). Then the recorder starts: it says it connected, and events print on stdout,
    which holds only them (``--json`` stays machine-readable). The recorder stops: it says so."""
    tail = launch.tail("--json")
    wait_for_output(
        tail, f"ekai-tail: nothing listens at {cfg.tail} yet: is the recorder running", timeout=30
    )
    assert "connected to" not in tail.stderr()
    recorder = launch.recorder()
    wait_for_output(tail, f"ekai-tail: connected to {cfg.tail}\n", timeout=30)
    with gateway_socket(cfg.events) as push:
        handshake(push, lambda: "probe-model" in tail.stdout(), make_event(model="probe-model"))
    assert all(json.loads(line)["model"] == "probe-model" for line in tail.stdout().splitlines())
    assert recorder.stop(signal.SIGTERM) == 0
    wait_for_output(tail, f"ekai-tail: lost the connection to {cfg.tail}", timeout=30)
    assert tail.stop(signal.SIGINT) == 0
    assert "Traceback" not in tail.stderr(), tail.stderr()
