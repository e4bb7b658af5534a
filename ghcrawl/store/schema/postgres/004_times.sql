-- ghcrawl schema version 4 (PostgreSQL): ISO 8601 times become TIMESTAMPTZ.
--
-- Each column keeps the instant its text named; NULL stays NULL. The declared
-- precision is the text the column reads back as (pgtime.py), the same text SQLite
-- holds: TIMESTAMPTZ(0) for whole seconds (GitHub's own timestamps, which it sends
-- as 2011-01-26T19:01:12Z, and the applied_at and opt-out times ghcrawl writes so),
-- TIMESTAMPTZ(3) for ghcrawl's millisecond times (2026-11-25T23:59:23.123Z).
--
-- The epoch-seconds columns (tasks.next_attempt_at, updated_at, lease_expires_at;
-- workers.started_at, heartbeat_at; rate_limits.reset_at, limited_until, probe_until,
-- updated_at) stay DOUBLE PRECISION: they are the scheduler's clock, compared with
-- the daemon's own time.time(), not data about GitHub.

-- Text without a zone would be read in the session's zone; there is none, but say which.
SET LOCAL TimeZone = 'UTC';

ALTER TABLE users
    ALTER COLUMN created_at TYPE TIMESTAMPTZ(0) USING created_at::timestamptz,
    ALTER COLUMN updated_at TYPE TIMESTAMPTZ(0) USING updated_at::timestamptz,
    ALTER COLUMN fetched_at TYPE TIMESTAMPTZ(3) USING fetched_at::timestamptz;

ALTER TABLE repos
    ALTER COLUMN created_at TYPE TIMESTAMPTZ(0) USING created_at::timestamptz,
    ALTER COLUMN updated_at TYPE TIMESTAMPTZ(0) USING updated_at::timestamptz,
    ALTER COLUMN pushed_at TYPE TIMESTAMPTZ(0) USING pushed_at::timestamptz,
    ALTER COLUMN fetched_at TYPE TIMESTAMPTZ(3) USING fetched_at::timestamptz;

ALTER TABLE contributors
    ALTER COLUMN seen_at TYPE TIMESTAMPTZ(3) USING seen_at::timestamptz;

ALTER TABLE tasks
    ALTER COLUMN pass_started_at TYPE TIMESTAMPTZ(3) USING pass_started_at::timestamptz;

ALTER TABLE optouts
    ALTER COLUMN created_at TYPE TIMESTAMPTZ(0) USING created_at::timestamptz;

ALTER TABLE schema_version
    ALTER COLUMN applied_at TYPE TIMESTAMPTZ(0) USING applied_at::timestamptz;
