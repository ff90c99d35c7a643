-- The demo target's state: runs, their events and results, worker
-- heartbeats, and the universe graph. IF NOT EXISTS: an api and a worker
-- may migrate the same fresh file at the same moment.
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    worker_id TEXT,
    lease_until_ms BIGINT,
    artifact_bucket TEXT,
    artifact_key TEXT,
    artifact_sha256 TEXT,
    error TEXT,
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    finished_at_ms BIGINT
);
CREATE INDEX IF NOT EXISTS runs_status_created ON runs (status, created_at_ms);

CREATE TABLE IF NOT EXISTS run_events (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE IF NOT EXISTS run_results (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    attempt BIGINT NOT NULL,
    worker_id TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_results_run ON run_results (run_id);

CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY NOT NULL,
    pid BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    state TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS universe_nodes (
    id TEXT PRIMARY KEY NOT NULL,
    parent_id TEXT,
    depth BIGINT NOT NULL,
    digest TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS universe_edges (
    id BIGSERIAL PRIMARY KEY,
    from_id TEXT NOT NULL,
    to_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
