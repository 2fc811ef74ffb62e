"""``view.passthrough_view``: the view of an untranslated call, made once per distinct request shape."""

from __future__ import annotations

from services.gateway.dialects import view as view_module
from services.gateway.dialects.view import VIEWS_KEPT, View, passthrough_view


def test_a_passthrough_view_equals_the_one_built_in_full_and_is_shared() -> None:
    made = passthrough_view("gpt-4o-mini", True, False, True)
    assert made == View(model="gpt-4o-mini", include_usage=True, reasoning=False, tools=True)
    assert dict(made.tool_names) == {} and made.custom_tools == frozenset() and not made.compaction
    assert passthrough_view("gpt-4o-mini", True, False, True) is made
    assert passthrough_view("gpt-4o-mini", False, False, True) is not made  # each flag is in the key
    assert passthrough_view("gpt-4o-mini", True, False, True).include_usage


def test_a_client_inventing_model_names_cannot_grow_the_cache() -> None:
    for i in range(3 * VIEWS_KEPT):
        assert passthrough_view(f"model-{i}", False, True, False).model == f"model-{i}"
    assert len(view_module.KEPT_VIEWS) <= VIEWS_KEPT
