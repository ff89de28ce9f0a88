-- Survey returns (調査票, design.md §2.2), e.g. 地域支援事業 実施状況: one row per fiscal year, municipality
-- and program (事業) — long, so that a new template version with other programs needs no DDL.
-- A later accepted return of the same prefecture and year replaces the current rows; the replaced rows
-- move to survey_returns_history with the submission that replaced them (like home_care_reports).
CREATE TABLE IF NOT EXISTS survey_returns (
    survey            VARCHAR(40)  NOT NULL,            -- template kind, e.g. survey_return
    fiscal_year       INTEGER      NOT NULL,
    prefecture_code   VARCHAR(2)   NOT NULL,
    municipality_code VARCHAR(6)   NOT NULL,
    municipality_name TEXT,
    program           VARCHAR(40)  NOT NULL,            -- program id of the template (general, dementia …)
    implemented       BOOLEAN      NOT NULL,
    started           DATE,                             -- the first day of the 開始年月
    count             INTEGER,
    template_version  VARCHAR(40),
    submission_id     INTEGER      NOT NULL,
    source_sha256     CHAR(64)     NOT NULL,
    source_sheet      TEXT,
    source_row        INTEGER,
    loaded_at         TIMESTAMP    NOT NULL,
    CONSTRAINT pk_survey_returns PRIMARY KEY (survey, fiscal_year, municipality_code, program)
);

CREATE INDEX IF NOT EXISTS ix_survey_returns_pref ON survey_returns (survey, fiscal_year, prefecture_code);

CREATE TABLE IF NOT EXISTS survey_returns_history (
    survey            VARCHAR(40)  NOT NULL,
    fiscal_year       INTEGER      NOT NULL,
    prefecture_code   VARCHAR(2)   NOT NULL,
    municipality_code VARCHAR(6)   NOT NULL,
    municipality_name TEXT,
    program           VARCHAR(40)  NOT NULL,
    implemented       BOOLEAN      NOT NULL,
    started           DATE,
    count             INTEGER,
    template_version  VARCHAR(40),
    submission_id     INTEGER      NOT NULL,
    source_sha256     CHAR(64)     NOT NULL,
    source_sheet      TEXT,
    source_row        INTEGER,
    loaded_at         TIMESTAMP    NOT NULL,
    superseded_by     INTEGER      NOT NULL,
    superseded_at     TIMESTAMP    NOT NULL,
    CONSTRAINT pk_survey_returns_history PRIMARY KEY (survey, fiscal_year, municipality_code, program, submission_id)
);

CREATE INDEX IF NOT EXISTS ix_survey_returns_history_pref ON survey_returns_history (survey, fiscal_year, prefecture_code);
