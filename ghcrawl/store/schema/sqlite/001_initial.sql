-- ghcrawl schema version 1. Columns may be added by later versions, never renamed.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,       -- GitHub's numeric id: the identity
    login        TEXT NOT NULL,
    type         TEXT,                      -- User, Organization, Bot
    name         TEXT,
    company      TEXT,
    blog         TEXT,
    location     TEXT,
    bio          TEXT,
    public_repos INTEGER,
    followers    INTEGER,
    following    INTEGER,
    created_at   TEXT,
    updated_at   TEXT,
    depth        INTEGER NOT NULL,          -- shortest distance from a seed
    fetched_at   TEXT                       -- NULL: known only from a contributor listing
);
CREATE INDEX users_login ON users (login COLLATE NOCASE);

CREATE TABLE repos (
    id                  INTEGER PRIMARY KEY,
    owner_id            INTEGER NOT NULL REFERENCES users (id),
    full_name           TEXT NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT,
    fork                INTEGER NOT NULL,
    language            TEXT,
    stargazers_count    INTEGER,
    forks_count         INTEGER,
    open_issues_count   INTEGER,
    size                INTEGER,
    default_branch      TEXT,
    created_at          TEXT,
    updated_at          TEXT,
    pushed_at           TEXT,
    archived            INTEGER,
    fetched_at          TEXT,
    contributors_status TEXT                -- NULL until listed: ok, empty, too_large, blocked, not_found
);
CREATE INDEX repos_owner ON repos (owner_id);

CREATE TABLE contributors (
    repo_id       INTEGER NOT NULL REFERENCES repos (id),
    user_id       INTEGER NOT NULL REFERENCES users (id),
    contributions INTEGER NOT NULL,
    seen_at       TEXT,                     -- when a listing last showed this row
    seen_on_page  TEXT,                     -- which page showed it (a 304 on that page keeps it)
    PRIMARY KEY (repo_id, user_id)
) WITHOUT ROWID;
CREATE INDEX contributors_user ON contributors (user_id);

-- The frontier: every unit of pending, leased, finished or failed work.
CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('user', 'repos', 'contributors')),
    key             TEXT NOT NULL,          -- lower-case login, owner id, repo id
    first_url       TEXT NOT NULL,          -- where a (re)walk of this work starts
    url             TEXT NOT NULL,          -- the next page to fetch (the cursor)
    depth           INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'leased', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    outcome         TEXT,                   -- why it failed, or a final answer such as not_found
    pass_started_at TEXT,                   -- when the current walk of a listing began
    updated_at      REAL NOT NULL DEFAULT 0,
    UNIQUE (kind, key)
);
CREATE INDEX tasks_ready ON tasks (state, depth, id);

-- Validators for conditional requests, per URL and token.
CREATE TABLE http_cache (
    url           TEXT NOT NULL,
    token_id      TEXT NOT NULL,            -- a short hash of the token, never the token
    etag          TEXT,
    last_modified TEXT,
    next_url      TEXT,                     -- the page's rel="next", since a 304 carries none
    PRIMARY KEY (url, token_id)
) WITHOUT ROWID;

-- Rate-limit state per token, so a restart never fires a burst into a limit.
CREATE TABLE rate_limits (
    token_id      TEXT PRIMARY KEY,
    remaining     INTEGER,
    reset_at      REAL,
    limited_until REAL NOT NULL DEFAULT 0,
    updated_at    REAL NOT NULL
);

CREATE TABLE schema_version (
    version    INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);
