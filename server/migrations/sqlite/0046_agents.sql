-- Load agents (`shakedown agent`): each registration, who it runs as (the
-- user behind its API token) and its last heartbeat.
CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    registered_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL
);

-- A test's shares (execution segments) offered to agents. An agent claims
-- a waiting one, says it is ready, runs it from start_at_ms (server clock)
-- and reports it done; its heartbeat pushes lease_until_ms forward, and a
-- running shard whose lease lapsed is lost (ended_at_ms: its agent's last
-- heartbeat). spec is the share's http_load table and target the
-- environment the agent builds its target from, both JSON.
CREATE TABLE agent_shards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (id),
    test_id TEXT NOT NULL,
    segment TEXT NOT NULL,
    sequence TEXT NOT NULL,
    spec TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    agent_id BIGINT REFERENCES agents (id),
    lease_until_ms BIGINT,
    start_at_ms BIGINT,
    ended_at_ms BIGINT,
    outcome TEXT,
    loss TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX agent_shards_state ON agent_shards (state, id);
CREATE INDEX agent_shards_run ON agent_shards (run_id);
CREATE INDEX agent_shards_agent ON agent_shards (agent_id);

-- What each shard's agent measured, one snapshot a second, by its number
-- (a snapshot sent again is stored once).
CREATE TABLE agent_snapshots (
    shard_id BIGINT NOT NULL REFERENCES agent_shards (id),
    seq BIGINT NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (shard_id, seq)
);
