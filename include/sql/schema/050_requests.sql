-- 情報提供依頼書 (request forms, design.md §2.2): one row per accepted form. The latest accepted form of
-- (prefecture, fiscal year, dataset) is 'active'; earlier ones stay as history ('superseded', with the
-- submission that replaced them). cc is a JSON array of addresses (text, the same on both dialects).
CREATE TABLE IF NOT EXISTS request_forms (
    submission_id   INTEGER      NOT NULL PRIMARY KEY,
    prefecture_code VARCHAR(2)   NOT NULL,
    fiscal_year     INTEGER      NOT NULL,
    dataset         VARCHAR(40)  NOT NULL,
    department      TEXT         NOT NULL,
    contact_name    TEXT         NOT NULL,
    email           TEXT         NOT NULL,
    cc              TEXT         NOT NULL DEFAULT '[]',
    phone           VARCHAR(40),
    purpose         TEXT,
    request_date    DATE,
    terms_accepted  BOOLEAN      NOT NULL,
    source_sha256   CHAR(64)     NOT NULL,
    source_sheet    TEXT,
    received_at     TIMESTAMP    NOT NULL,
    loaded_at       TIMESTAMP    NOT NULL,
    status          VARCHAR(20)  NOT NULL,
    superseded_by   INTEGER,
    superseded_at   TIMESTAMP,
    CONSTRAINT ck_request_forms_status CHECK (status IN ('active', 'superseded')),
    CONSTRAINT ck_request_forms_terms CHECK (terms_accepted)
);

CREATE INDEX IF NOT EXISTS ix_request_forms_scope ON request_forms (prefecture_code, fiscal_year, dataset, status);
