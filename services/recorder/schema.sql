-- The ledger: one row per request. Column names AND order are UsageEvent's fields (shared/events.py),
-- so store.event_row() is in table order and `SELECT *` reads back in the dataclass order.
-- Version 1. Later versions are migrations in services/recorder/store.py (PRAGMA user_version); they only
-- append columns (ALTER TABLE ... ADD COLUMN), matching new UsageEvent fields appended at its end.
-- Booleans are 0/1; failed_attempts is JSON text: a list of {provider, status, error_type, message}.
CREATE TABLE IF NOT EXISTS requests (
    request_id          TEXT NOT NULL,
    endpoint            TEXT NOT NULL,
    client_format       TEXT NOT NULL,
    model               TEXT NOT NULL,      -- the model name the client asked for
    event_id            TEXT NOT NULL PRIMARY KEY,  -- ON CONFLICT DO NOTHING on it makes replays harmless
    schema_version      INTEGER NOT NULL,
    started_at          REAL NOT NULL,      -- unix seconds
    finished_at         REAL NOT NULL,
    provider            TEXT,
    provider_format     TEXT,
    translated          INTEGER NOT NULL DEFAULT 0,
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
    cost_usd            REAL,               -- NULL when the price is unknown: never a silent 0
    latency_ms          REAL NOT NULL,
    ttft_ms             REAL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    failed_attempts     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS requests_started_at ON requests (started_at);
CREATE INDEX IF NOT EXISTS requests_provider_started ON requests (provider, started_at);
CREATE INDEX IF NOT EXISTS requests_model_started ON requests (model, started_at);
