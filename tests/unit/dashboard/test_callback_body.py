"""``callback_body.problem``: what makes a body no Dash callback request of the dashboard (pure), and the guard's
place behind the admin check (a stranger gets the 401, not a description of the body)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.dashboard.access import protect
from services.dashboard.app import create_app
from services.dashboard.callback_body import problem
from services.gateway.keys.keyfile import KeyRing

CALLBACKS: dict[str, dict[str, Any]] = {
    "out.children": {
        "inputs": [{"id": "dates", "property": "start_date"}, {"id": "pick", "property": "value"}],
        "state": [],
    }
}


def body(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "output": "out.children",
        "outputs": {"id": "out", "property": "children"},
        "inputs": [
            {"id": "dates", "property": "start_date", "value": "2026-12-01"},
            {"id": "pick", "property": "value", "value": ["a"]},
        ],
        "changedPropIds": ["pick.value"],
    }
    return base | over


def test_a_well_formed_request_has_no_problem() -> None:
    assert problem(body(), CALLBACKS) is None
    assert problem(body(outputs=None), CALLBACKS) is None  # older renderers send no outputs
    with_time = body()
    with_time["inputs"][0]["value"] = "2026-12-01T10:00:00"
    assert problem(with_time, CALLBACKS) is None


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ([], "JSON object"),
        ({"output": ["x"]}, "'output' must be a string"),
        ({"output": "other.children"}, "names no callback"),
        ({"output": "out.children"}, "'inputs' must be a list of the callback's 2 inputs"),
        (body(state={}), "'state' must be a list of the callback's 0 state"),
        (body(outputs=[1]), "'outputs' must be"),
        (body(changedPropIds="pick.value"), "'changedPropIds'"),
        (
            body(inputs=[{"id": "dates", "property": "end_date"}, {"id": "pick", "property": "value"}]),
            "'inputs[0]'",
        ),
        (
            body(
                inputs=[
                    {"id": "dates", "property": "start_date", "value": 5},
                    {"id": "pick", "property": "value"},
                ]
            ),
            "ISO date",
        ),
    ],
)
def test_what_is_wrong_is_named(value: Any, said: str) -> None:
    found = problem(value, CALLBACKS)
    assert found is not None and said in found, found


def test_a_stranger_gets_the_admin_check_first(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "ledger.db"), 30)
    protect(app.server, ("admin", "secret"), KeyRing())
    client = app.server.test_client()
    assert (
        client.post("/_dash-update-component", data=b"{bad", content_type="application/json").status_code
        == 401
    )
    seen = client.post(
        "/_dash-update-component",
        data=b"{bad",
        content_type="application/json",
        headers={"Authorization": "Basic YWRtaW46c2VjcmV0"},  # admin:secret
    )
    assert seen.status_code == 400 and b"not valid JSON" in seen.data
