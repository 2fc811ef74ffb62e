"""The "listening on" line names the address the gateway really listens on (review of s11's listening log).

``GATEWAY_PORT=0`` is accepted by a single gateway process (the port probe is skipped for it, and the system
picks a free port): the line must then give the port it got, the only place a user can learn it. The real
``python -m services.gateway`` process; its logged URL is then asked for ``/health``.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.procs import base_env, start, wait_until


def test_a_gateway_on_port_0_says_the_port_the_system_gave_it(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"GATEWAY_PORT": "0"}
    svc = start("gateway", "services.gateway", env, tmp_path)
    try:
        wait_until(lambda: "gateway listening on" in svc.log() or svc.proc.poll() is not None, 30)
        log = svc.log()
        said = re.search(r"gateway listening on (http://\S+)", log)
        assert said is not None, log
        url = said.group(1)
        assert not url.endswith(":0"), log  # the branch said http://127.0.0.1:0
        assert httpx.get(url + "/health", timeout=10).status_code == 200, log
    finally:
        svc.stop()
