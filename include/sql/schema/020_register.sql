-- The bureau's register of accepted notifications (届出受理医療機関名簿), one row per register row,
-- and the roster derived from it (在支診/在支病 that must file 様式11の3).
-- A new register file for a prefecture replaces that prefecture's rows; the raw archive keeps history.
-- No key on the lineage columns: rows are only ever replaced per prefecture in one transaction, so
-- (source_sha256, source_sheet, source_row) is unique by construction, and a 135k-row bulk load
-- should not pay for a 64-character composite index.
CREATE TABLE IF NOT EXISTS register_entries (
    prefecture_code     VARCHAR(2)   NOT NULL,
    as_of               DATE,
    score_table         VARCHAR(1),
    institution_number  VARCHAR(7),
    institution_code    VARCHAR(10),
    institution_name    TEXT,
    postal_code         VARCHAR(10),
    address             TEXT,
    phone               VARCHAR(40),
    beds                TEXT,
    notification_name   TEXT,
    notification_symbol TEXT,
    notification_number TEXT,
    start_date          DATE,
    municipality_code   VARCHAR(6),
    municipality_name   TEXT,
    submission_id       INTEGER,
    source_sha256       CHAR(64)     NOT NULL,
    source_sheet        TEXT         NOT NULL,
    source_row          INTEGER      NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_register_entries_pref ON register_entries (prefecture_code);

CREATE INDEX IF NOT EXISTS ix_register_entries_code ON register_entries (institution_code);

CREATE TABLE IF NOT EXISTS home_care_roster (
    institution_code    VARCHAR(10)  NOT NULL PRIMARY KEY,
    institution_number  VARCHAR(7)   NOT NULL,
    prefecture_code     VARCHAR(2)   NOT NULL,
    institution_name    TEXT         NOT NULL,
    facility_type       VARCHAR(20)  NOT NULL,
    notification_class  VARCHAR(20)  NOT NULL,
    notification_symbol TEXT         NOT NULL,
    address             TEXT,
    municipality_code   VARCHAR(6),
    as_of               DATE,
    submission_id       INTEGER,
    source_sha256       CHAR(64)     NOT NULL,
    source_sheet        TEXT,
    source_row          INTEGER
);

CREATE INDEX IF NOT EXISTS ix_home_care_roster_pref ON home_care_roster (prefecture_code);
