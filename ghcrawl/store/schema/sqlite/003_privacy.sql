-- ghcrawl schema version 3: privacy. Who asked to be left out, and how the data is kept.

-- A person who opted out: GitHub's numeric id and a salted hash of the lower-case
-- login, never the login itself. 'forget' rows are permanent; 'file' rows mirror
-- the optout_file and follow its edits.
CREATE TABLE optouts (
    user_id    INTEGER,                     -- NULL until known
    login_hash TEXT,                        -- HMAC-SHA256 of the lower-case login with the salt below
    source     TEXT NOT NULL CHECK (source IN ('forget', 'file')),
    created_at TEXT NOT NULL
);
CREATE INDEX optouts_user ON optouts (user_id);
CREATE INDEX optouts_login ON optouts (login_hash);

-- Settings that belong to the data rather than to a run: the salt of the hashes
-- above (random, per database) and the personal_data mode it was crawled in.
CREATE TABLE privacy_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Logins are matched case-insensitively when a removal request names one.
CREATE INDEX users_login_lower ON users (lower(login));
