-- The ledger: one row per request. Column names are UsageEvent's field names (shared/events.py).
-- Version 1. Migrations live in services/recorder/store.py (PRAGMA user_version).
CREATE TABLE IF NOT EXISTS requests (
    event_id            TEXT PRIMARY KEY,
    schema_version      INTEGER NOT NULL,
    request_id          TEXT NOT NULL,
    started_at          REAL NOT NULL,      -- unix seconds
    finished_at         REAL NOT NULL,
    endpoint            TEXT NOT NULL,
    client_format       TEXT NOT NULL,
    provider_format     TEXT,
    translated          INTEGER NOT NULL DEFAULT 0,
    provider            TEXT,
    model               TEXT NOT NULL,
    served_model        TEXT,
    status              INTEGER NOT NULL,
    error_type          TEXT,
    streamed            INTEGER NOT NULL DEFAULT 0,
    client_disconnected INTEGER NOT NULL DEFAULT 0,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_usd            REAL,               -- NULL when the price is unknown
    latency_ms          REAL NOT NULL,
    ttft_ms             REAL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    failed_attempts     TEXT NOT NULL DEFAULT '[]'   -- JSON list of {provider, status, error_type, message}
);
CREATE INDEX IF NOT EXISTS requests_started_at ON requests (started_at);
CREATE INDEX IF NOT EXISTS requests_provider_started ON requests (provider, started_at);
CREATE INDEX IF NOT EXISTS requests_model_started ON requests (model, started_at);
