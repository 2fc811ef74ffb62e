"""Which thinking form a Claude model takes, and the other form after a refusal of one (pure).

Anthropic's adaptive-thinking docs (as Amazon Bedrock's user guide repeats them): adaptive thinking
(``{"type": "adaptive"}`` with ``output_config.effort``) came with Claude Opus 4.6 and Sonnet 4.6, where
``{"type": "enabled", "budget_tokens": N}`` is deprecated; Opus 4.7, Opus 4.8, the Mythos models and every later
model take only adaptive (a budget is a 400: "\\"thinking.type.enabled\\" is not supported for this model. Use
\\"thinking.type.adaptive\\" and \\"output_config.effort\\" …"); "Older models (Claude Sonnet 4.5, Claude Opus 4.5,
etc.) do not support adaptive thinking and require thinking.type: \\"enabled\\" with budget_tokens". So the rule
is the model's version, read from its id whatever host names it, not a list of names a new model falls out of.
"""

from __future__ import annotations

import re
from typing import Any

# "claude-<family>-<major>[-<minor>]" (claude-opus-4-8, claude-sonnet-4-6-20260101, anthropic/claude-opus-4.7,
# anthropic.claude-opus-4-7-v1:0) or the 3.x form "claude-<major>-<minor>-<family>" (claude-3-7-sonnet-20250219);
# a minor of more than two digits is a snapshot date (claude-opus-4-20250514 is 4.0)
_VERSION = re.compile(r"claude-(?:[a-z]+-)?(\d{1,2})(?:[-.](\d{1,2}))?(?![\d.])")
_ADAPTIVE_FROM = (4, 6)
# families with no version in their id that take only adaptive (claude-mythos-preview)
_ADAPTIVE_NAMES = ("claude-mythos",)


def takes_adaptive(model: str) -> bool:
    """True when the Claude ``model`` (any host's id) is version 4.6 or later, or a Mythos model: its thinking is
    ``{"type": "adaptive"}``; False for an older one (budget thinking) or an id with no version (budget, and a
    refusal of that form gets one retry in the other: ``other_form``)."""
    low = model.lower()
    if any(name in low for name in _ADAPTIVE_NAMES):
        return True
    m = _VERSION.search(low)
    return m is not None and (int(m.group(1)), int(m.group(2) or 0)) >= _ADAPTIVE_FROM


# Anthropic's (and Bedrock's) refusal of a budget on an adaptive-only model, and of adaptive on an older model
# ("adaptive thinking is not supported on this model"; a validator's "Input tag 'adaptive' … does not match")
_BUDGET_REFUSED = re.compile(r"thinking\.type\.enabled\W+is\s+not\s+supported", re.I)
_ADAPTIVE_REFUSED = re.compile(
    r"adaptive\s+thinking\s+is\s+not\s+supported|thinking\.type\.adaptive\W+is\s+not\s+supported|"
    r"input\s+tag\s+\W?adaptive\W?\s+found",
    re.I,
)
# Budget ↔ effort, as ``_request_to_anthropic.THINKING_BUDGETS`` maps an effort to a budget
_BUDGETS = (("low", 1024), ("medium", 8192), ("high", 24576), ("max", 32768))
_MIN_BUDGET = 1024  # Anthropic: budget_tokens >= 1024, and below max_tokens


def other_form(status: int | None, message: str, body: dict[str, Any]) -> bool:
    """After a 400 refusing the body's thinking form (``_BUDGET_REFUSED``/``_ADAPTIVE_REFUSED``), the body with the
    other form, for one retry: a budget becomes ``{"type": "adaptive"}`` with the effort nearest the budget in
    ``output_config.effort``; adaptive becomes a budget for its effort (``high`` when none; below ``max_tokens``,
    no thinking when that leaves under 1024) and ``output_config.effort`` goes (older models do not all take it).
    ``output_config`` is copied, never changed in place. True when the body changed."""
    thinking = body.get("thinking")
    if status != 400 or not isinstance(thinking, dict):
        return False
    kind = thinking.get("type")
    config = body.get("output_config")
    config = dict(config) if isinstance(config, dict) else {}
    if kind == "enabled" and _BUDGET_REFUSED.search(message):
        budget = thinking.get("budget_tokens")
        size = budget if isinstance(budget, int) else 0
        config["effort"] = next((lvl for lvl, b in _BUDGETS if size <= b), "max")
        body["thinking"], body["output_config"] = {"type": "adaptive"}, config
        return True
    if kind == "adaptive" and _ADAPTIVE_REFUSED.search(message):
        effort = config.pop("effort", "high")
        budget = dict(_BUDGETS).get(effort, 24576) if isinstance(effort, str) else 24576
        limit = body.get("max_tokens")
        budget = min(budget, limit - 1) if isinstance(limit, int) else budget
        if config:
            body["output_config"] = config
        else:
            body.pop("output_config", None)
        if budget >= _MIN_BUDGET:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            del body["thinking"]
        return True
    return False
