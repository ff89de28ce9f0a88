-- The distribution cycle (定例報告の情報提供): releases, approvals and the cycle's action log.
--
-- releases: immutable snapshots of one prefecture's published package. The files are copied
-- read-only to $TSUNAGU_HOME/releases/<fy>/<code>_<romaji>/<version>/ and never overwritten;
-- version = the first 16 hex digits of sha256 over the sorted (name, sha256) of the data files
-- (CSV, xlsx, datapackage.json), so the same data always gives the same version.
-- head_seq orders the versions by when they became the prefecture's current data (latest = max);
-- it is the only column ever updated (when earlier data comes back after a correction).
CREATE TABLE IF NOT EXISTS releases (
    id               {{IDENTITY_PK}},
    fiscal_year      INTEGER      NOT NULL,
    prefecture_code  VARCHAR(2)   NOT NULL,
    version          VARCHAR(16)  NOT NULL,
    head_seq         INTEGER      NOT NULL,
    dir              TEXT         NOT NULL,
    files            TEXT         NOT NULL,            -- JSON {file name: sha256}, every file of the snapshot
    rows             INTEGER      NOT NULL,
    sources          TEXT         NOT NULL,            -- JSON [sha256 of the submissions whose rows are in it]
    template_version VARCHAR(40),
    previous_version VARCHAR(16),                      -- the latest release before this one, if any
    is_correction    SMALLINT     NOT NULL DEFAULT 0,  -- 1: made after an earlier version was delivered (訂正版)
    created_at       TIMESTAMP    NOT NULL,
    dataset          VARCHAR(40)  NOT NULL DEFAULT 'home_care_report',  -- the cycle it belongs to (evaluation, …); 0005
    CONSTRAINT uq_releases_version UNIQUE (fiscal_year, prefecture_code, version)
);

CREATE INDEX IF NOT EXISTS ix_releases_scope ON releases (fiscal_year, prefecture_code, head_seq);

-- Approval is a recorded act: who approved which version of which prefecture, and when.
CREATE TABLE IF NOT EXISTS approvals (
    id               {{IDENTITY_PK}},
    fiscal_year      INTEGER      NOT NULL,
    prefecture_code  VARCHAR(2)   NOT NULL,
    version          VARCHAR(16)  NOT NULL,
    approver         TEXT         NOT NULL,
    note             TEXT         NOT NULL DEFAULT '',
    approved_at      TIMESTAMP    NOT NULL,
    CONSTRAINT uq_approvals_version UNIQUE (fiscal_year, prefecture_code, version)
);

-- What the cycle planner did, one row per idempotency key (the key given to deliver.send).
-- The deliver ledger is the source of truth for "sent exactly once"; this log ties each key to the
-- cycle (kind, prefecture, release version, day handled) for the closing report.
CREATE TABLE IF NOT EXISTS cycle_actions (
    action_key       VARCHAR(200) NOT NULL PRIMARY KEY,
    fiscal_year      INTEGER      NOT NULL,
    kind             VARCHAR(40)  NOT NULL,            -- office_request | prefecture_notice | office_data_reminder |
                                                       -- request_reminder | pre_delivery_notice | delivery |
                                                       -- correction | closing_report
    prefecture_code  VARCHAR(2),
    version          VARCHAR(16),
    recipients       TEXT,                             -- JSON [address]
    status           VARCHAR(20)  NOT NULL,            -- sent | failed | refused
    attempts         INTEGER      NOT NULL DEFAULT 0,
    cycle_day        DATE,                             -- the day handled by the run that last tried it
    first_attempt_at TIMESTAMP,
    last_attempt_at  TIMESTAMP,
    sent_at          TIMESTAMP,
    detail           TEXT
);

CREATE INDEX IF NOT EXISTS ix_cycle_actions_scope ON cycle_actions (fiscal_year, kind, prefecture_code);
