"""The example a "port taken" line gives (``shared.settings.another_port``): never the taken port itself, and the
launch commands a newcomer has (session 26: the lines said ``DASHBOARD_PORT=3010 make run`` whatever port was taken,
and ``make run`` under ``make demo``)."""

from __future__ import annotations

import pytest

from shared.settings import another_port


@pytest.mark.parametrize(
    ("name", "port", "endpoint", "example"),
    [
        ("GATEWAY_PORT", 3001, None, "GATEWAY_PORT=3011"),
        ("DASHBOARD_PORT", 3010, None, "DASHBOARD_PORT=3020"),  # 3010, the old fixed example, taken itself
        ("RECORDER_METRICS_PORT", 65530, None, "RECORDER_METRICS_PORT=65520"),  # no port above 65535
        ("EVENTS_ENDPOINT", 0, "tcp://127.0.0.1:5557", "EVENTS_ENDPOINT=tcp://127.0.0.1:5657"),
        ("TAIL_ENDPOINT", 0, "ipc:///tmp/tail", "TAIL_ENDPOINT=tcp://127.0.0.1:<free port>"),
    ],
)
def test_the_example_moves_the_taken_port(name: str, port: int, endpoint: str | None, example: str) -> None:
    assert another_port(name, port, endpoint) == f"e.g. {example} in front of `make run` or `make demo`"
