-- Baselines pinned by approvers: the run relative criteria of a plan
-- compare with in an environment (`baseline.L1.p95_ms`), instead of the
-- last GO run. One per plan and environment; pinning again replaces it.
CREATE TABLE baseline_pins (
    plan TEXT NOT NULL,
    environment TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id),
    pinned_by TEXT NOT NULL,
    pinned_at_ms BIGINT NOT NULL,
    PRIMARY KEY (plan, environment)
);
