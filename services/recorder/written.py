"""What one batch's commit did to its rows (``Written``), as every ledger writer reports it."""

from __future__ import annotations

import typing


class Written(typing.NamedTuple):
    """One batch's rows after its commit: ``inserted`` new, ``rejected`` refused by the database (a
    constraint or a value it cannot store: logged and skipped); the rest were replays already stored.

    Counted per batch, not as the difference of a writer's running total: several batches may be
    committing at once (``writer.WriterProcess.IN_FLIGHT``)."""

    inserted: int
    rejected: int
