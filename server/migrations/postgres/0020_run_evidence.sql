-- The evidence pack a run's report is bound to: its newest version and the
-- sha256 of that version's manifest.
ALTER TABLE runs ADD COLUMN evidence_version BIGINT;
ALTER TABLE runs ADD COLUMN manifest_digest TEXT;
