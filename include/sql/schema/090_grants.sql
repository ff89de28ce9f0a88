-- Grant applications (交付金, design.md §2.3): every program and stage in the same tables, keyed by
-- (program, stage, fiscal_year, filer_code, item_key) — an insurer × 事業区分, a 区分 × 事業, … —
-- so a new program or stage needs no DDL. Written by tsunagu.warehouse.grants.
--
-- grant_rows: the current row of each key (with its lineage). A later accepted file replaces the
-- rows of the filers it holds (per-filer upsert); the replaced rows move to grant_rows_history.
CREATE TABLE IF NOT EXISTS grant_rows (
    program          VARCHAR(40)  NOT NULL,            -- community_support | care_fund | integrated_health
    stage            VARCHAR(40)  NOT NULL,            -- e.g. application
    fiscal_year      INTEGER      NOT NULL,            -- the grant's fiscal year (交付年度)
    prefecture_code  VARCHAR(2)   NOT NULL,            -- the sending prefecture
    filer_code       VARCHAR(16)  NOT NULL,            -- 保険者番号 | prefecture code | 広域連合 code
    item_key         VARCHAR(80)  NOT NULL,            -- 事業区分 id, 区分/事業, municipality code …
    submission_id    INTEGER      NOT NULL,
    source_sha256    CHAR(64)     NOT NULL,
    source_sheet     TEXT,
    source_row       INTEGER,
    loaded_at        TIMESTAMP    NOT NULL,
    CONSTRAINT pk_grant_rows PRIMARY KEY (program, stage, fiscal_year, filer_code, item_key)
);

CREATE INDEX IF NOT EXISTS ix_grant_rows_pref ON grant_rows (program, fiscal_year, prefecture_code);

CREATE TABLE IF NOT EXISTS grant_rows_history (
    program          VARCHAR(40)  NOT NULL,
    stage            VARCHAR(40)  NOT NULL,
    fiscal_year      INTEGER      NOT NULL,
    prefecture_code  VARCHAR(2)   NOT NULL,
    filer_code       VARCHAR(16)  NOT NULL,
    item_key         VARCHAR(80)  NOT NULL,
    submission_id    INTEGER      NOT NULL,
    source_sha256    CHAR(64)     NOT NULL,
    source_sheet     TEXT,
    source_row       INTEGER,
    loaded_at        TIMESTAMP    NOT NULL,
    superseded_by    INTEGER      NOT NULL,
    superseded_at    TIMESTAMP    NOT NULL,
    CONSTRAINT pk_grant_rows_history PRIMARY KEY (program, stage, fiscal_year, filer_code, item_key, submission_id)
);

CREATE INDEX IF NOT EXISTS ix_grant_rows_history_pref ON grant_rows_history (program, fiscal_year, prefecture_code);

-- grant_amounts: the integer-yen values of a row, long (one per field id), so any program's columns
-- fit. Keyed by the row's key AND the submission that stated them: amounts are never updated or
-- deleted, so the amounts of a row in grant_rows_history are still here (join on submission_id).
CREATE TABLE IF NOT EXISTS grant_amounts (
    program          VARCHAR(40)  NOT NULL,
    stage            VARCHAR(40)  NOT NULL,
    fiscal_year      INTEGER      NOT NULL,
    filer_code       VARCHAR(16)  NOT NULL,
    item_key         VARCHAR(80)  NOT NULL,
    submission_id    INTEGER      NOT NULL,
    field            VARCHAR(60)  NOT NULL,            -- canonical field id, e.g. grant
    amount           BIGINT       NOT NULL,            -- integer yen (or a count, e.g. 第1号被保険者数)
    CONSTRAINT pk_grant_amounts PRIMARY KEY (program, stage, fiscal_year, filer_code, item_key, submission_id, field)
);

-- 個別協議 approvals (総合事業 上限額 above the cap: 上限超過承認額), recorded by the bureau. Each
-- approval of a key is a revision: approving the current amount again is a no-op, a different amount
-- is a new revision that becomes current (the earlier ones stay, for the record).
CREATE TABLE IF NOT EXISTS grant_cap_approvals (
    program          VARCHAR(40)  NOT NULL,
    fiscal_year      INTEGER      NOT NULL,
    prefecture_code  VARCHAR(2)   NOT NULL,
    filer_code       VARCHAR(16)  NOT NULL,
    item_key         VARCHAR(80)  NOT NULL,
    revision         INTEGER      NOT NULL,            -- 1, 2, …: the highest is current
    approved_cap     BIGINT       NOT NULL,            -- yen
    approver         TEXT         NOT NULL,
    note             TEXT         NOT NULL DEFAULT '',
    approved_at      TIMESTAMP    NOT NULL,
    CONSTRAINT pk_grant_cap_approvals PRIMARY KEY (program, fiscal_year, filer_code, item_key, revision)
);

CREATE INDEX IF NOT EXISTS ix_grant_cap_approvals_pref ON grant_cap_approvals (program, fiscal_year, prefecture_code);
