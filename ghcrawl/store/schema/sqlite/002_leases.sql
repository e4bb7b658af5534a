-- ghcrawl schema version 2: leases with owners, so several daemons share one frontier.

-- A lease names its daemon and runs out unless that daemon heart-beats it; the
-- sequence number changes with every claim, so a write checks it still holds its claim.
ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
ALTER TABLE tasks ADD COLUMN lease_expires_at REAL;
ALTER TABLE tasks ADD COLUMN lease_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_lease_owner ON tasks (lease_owner);
-- Leases from before owners existed belong to no live daemon.
UPDATE tasks SET state = 'pending' WHERE state = 'leased';

-- Every daemon that shares the database, as it last reported itself.
CREATE TABLE workers (
    name                 TEXT PRIMARY KEY,  -- worker_name, host:pid by default
    host                 TEXT NOT NULL,
    pid                  INTEGER NOT NULL,
    started_at           REAL NOT NULL,
    heartbeat_at         REAL NOT NULL,
    requests_last_minute INTEGER NOT NULL DEFAULT 0,
    lease_timeout        REAL NOT NULL DEFAULT 60  -- silent longer than this: gone
);

-- The budget ledger: daemons sharing a token reserve requests from its row, so
-- together they never send more than the account's budget; one probe at a time
-- learns a new window.
ALTER TABLE rate_limits ADD COLUMN probe_until REAL NOT NULL DEFAULT 0;
