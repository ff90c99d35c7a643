-- Which server process (replica) runs each queued or running run, until
-- when: the owner pushes expires_at_ms forward with each heartbeat; a run
-- whose lease lapsed is marked interrupted by any replica.
CREATE TABLE run_leases (
    run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs (id),
    owner TEXT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX run_leases_owner ON run_leases (owner);
