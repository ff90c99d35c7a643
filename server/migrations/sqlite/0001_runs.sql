-- Runs: one execution of a plan against an environment.
CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    plan TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    verdict TEXT,
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    finished_at_ms BIGINT
);
CREATE INDEX runs_created ON runs (created_at_ms DESC);
