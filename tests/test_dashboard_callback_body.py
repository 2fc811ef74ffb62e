"""A malformed callback request to the real dashboard process (``python -m services.dashboard``), over a real
socket: a 400 in plain text naming what is wrong, never a 500 from inside Dash (with its traceback in the log).
A well-formed one still gets its callback's answer. ``services/dashboard/callback_body.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.procs import Service, base_env, http_ok, start, wait_until

CONTROLS = [  # the table's callback inputs (services/dashboard/pages/overview.py, _CONTROLS), in order
    ("ov-range", "value"),
    ("ov-dates", "start_date"),
    ("ov-dates", "end_date"),
    ("ov-provider", "value"),
    ("ov-model", "value"),
    ("ov-key", "value"),
    ("ov-client", "value"),
    ("ov-interval", "n_intervals"),
]


def table_request(*values: Any) -> dict[str, Any]:
    values = values or ("24h", None, None, None, None, None, None, 1)
    return {
        "output": "ov-table.data",
        "outputs": {"id": "ov-table", "property": "data"},
        "inputs": [{"id": i, "property": p, "value": v} for (i, p), v in zip(CONTROLS, values, strict=True)],
        "changedPropIds": ["ov-range.value"],
    }


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    tmp = tmp_path_factory.mktemp("dashbody")
    env = base_env(tmp)
    svc = start("dashboard", "services.dashboard", env, tmp)
    url = f"http://127.0.0.1:{env['DASHBOARD_PORT']}"
    try:
        wait_until(lambda: svc.proc.poll() is not None or http_ok(url + "/"), 60)
        assert svc.proc.poll() is None, svc.log()
        yield url, svc
    finally:
        svc.stop()


MALFORMED = [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b"null", "must be a JSON object"),
    (b"{}", "'output' must be a string"),
    (b'{"output": "no-such.children", "inputs": []}', "names no callback"),
    (b'{"output": "ov-table.data", "inputs": "x"}', "'inputs' must be a list of the callback's 8 inputs"),
    (b'{"output": "ov-table.data", "inputs": [1, 2]}', "'inputs' must be a list of the callback's 8 inputs"),
]


@pytest.mark.parametrize(("body", "said"), MALFORMED)
def test_a_malformed_callback_request_is_a_clear_400(
    dashboard: tuple[str, Service], body: bytes, said: str
) -> None:
    url, svc = dashboard
    answer = httpx.post(
        url + "/_dash-update-component", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("text/plain") and said in answer.text, answer.text
    assert "Traceback" not in svc.log(), svc.log()


def test_wrong_shapes_inside_a_well_formed_object(dashboard: tuple[str, Service]) -> None:
    url, svc = dashboard
    renamed = table_request()
    renamed["inputs"][0] = {"id": "ov-other", "property": "value", "value": "24h"}
    bad_date = table_request("custom", "garbage", "2026-13-99", None, None, None, None, 1)
    not_ids = table_request() | {"changedPropIds": [1]}
    for body, said in [
        (renamed, "'inputs[0]' must be {'id': 'ov-range'"),
        (bad_date, "'inputs[1].value' must be an ISO date"),
        (not_ids, "'changedPropIds' must be a list of strings"),
    ]:
        answer = httpx.post(url + "/_dash-update-component", json=body)
        assert answer.status_code == 400 and said in answer.text, answer.text
    sent_as_text = httpx.post(
        url + "/_dash-update-component", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert sent_as_text.status_code == 415 and "application/json" in sent_as_text.text
    assert "Traceback" not in svc.log(), svc.log()


def test_a_well_formed_callback_request_is_still_answered(dashboard: tuple[str, Service]) -> None:
    url, _ = dashboard
    answer = httpx.post(url + "/_dash-update-component", json=table_request())
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"]["ov-table"]["data"] == []  # an empty ledger
