"""The usage ledger, read side: used by the dashboard and ``GET /usage``. Never writes; no Dash, no aiohttp.

* :mod:`shared.ledger.params`: :class:`~shared.ledger.params.Query` and parsing of request parameters
  (time ranges, filters, group_by). Light: the recorder imports it without pandas.
* :mod:`shared.ledger.queries`: SQL over ``requests`` and the ``usage_hourly`` rollup.
* :mod:`shared.ledger.summary`: totals and per-group figures, as served by ``GET /usage``.
* :mod:`shared.ledger.export`: raw rows in batches, for the CSV export.
"""
