"""Evaluation results (保険者機能強化推進交付金・介護保険保険者努力支援交付金, design.md §2.4): five new tables.

Revision ID: 0004
Revises: 0003

``evaluation_loads``, ``evaluation_indicators``, ``evaluation_insurers``, ``evaluation_scores`` and
``evaluation_national_stats``, as in include/sql/schema/100_evaluation.sql at this revision (the SQL is
copied here: a released migration never changes with the DDL file).
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DDL = """
-- Evaluation results of 保険者機能強化推進交付金・介護保険保険者努力支援交付金 (design.md §2.4), the frames of
-- tsunagu.evaluation.model, written by tsunagu.warehouse.evaluation. The ministry sends one file per year:
-- an accepted file replaces the whole year (every table below); each row keeps the submission it came
-- from, and evaluation_loads keeps every load of a year with what replaced it (lineage).
CREATE TABLE IF NOT EXISTS evaluation_loads (
    fiscal_year      INTEGER      NOT NULL,
    submission_id    INTEGER      NOT NULL,
    source_sha256    CHAR(64)     NOT NULL,
    scale            INTEGER      NOT NULL,            -- 400 (2024 on) | 2185 (up to 2023)
    insurers         INTEGER      NOT NULL,
    indicators       INTEGER      NOT NULL,
    loaded_at        TIMESTAMP    NOT NULL,
    superseded_by    INTEGER,
    superseded_at    TIMESTAMP,
    CONSTRAINT pk_evaluation_loads PRIMARY KEY (fiscal_year, submission_id)
);

CREATE TABLE IF NOT EXISTS evaluation_indicators (
    fiscal_year      INTEGER      NOT NULL,
    indicator_key    VARCHAR(60)  NOT NULL,            -- {grant}-{goal}-{number}-{branch}, e.g. suishin-I-3-2
    grant_id         VARCHAR(10)  NOT NULL,            -- suishin | doryoku | both (目標Ⅳ)
    goal             VARCHAR(3)   NOT NULL,            -- I | II | III | IV
    part             VARCHAR(10)  NOT NULL,            -- structure | activity | outcome
    group_label      TEXT         NOT NULL,            -- 指標群 as printed
    number           VARCHAR(20)  NOT NULL,            -- 指標番号 (half-width)
    branch           VARCHAR(20)  NOT NULL,            -- 枝番 ('' when none)
    name             TEXT         NOT NULL,            -- 指標名
    max_points       INTEGER      NOT NULL,            -- 配点
    scale            INTEGER      NOT NULL,
    comparable       BOOLEAN      NOT NULL,            -- scale = 400
    submission_id    INTEGER      NOT NULL,
    CONSTRAINT pk_evaluation_indicators PRIMARY KEY (fiscal_year, indicator_key)
);

CREATE TABLE IF NOT EXISTS evaluation_insurers (
    fiscal_year      INTEGER      NOT NULL,
    insurer_number   VARCHAR(6)   NOT NULL,            -- 介護保険 保険者番号
    prefecture_code  VARCHAR(2)   NOT NULL,
    municipality_name TEXT        NOT NULL,
    population       INTEGER,
    first_insured    INTEGER,                          -- 第1号被保険者数
    depopulated      BOOLEAN      NOT NULL,            -- 過疎
    size_class       VARCHAR(40),                      -- 規模区分 (2025 on)
    submission_id    INTEGER      NOT NULL,
    source_sha256    CHAR(64)     NOT NULL,
    source_sheet     TEXT,
    source_row       INTEGER,
    CONSTRAINT pk_evaluation_insurers PRIMARY KEY (fiscal_year, insurer_number)
);

CREATE INDEX IF NOT EXISTS ix_evaluation_insurers_pref ON evaluation_insurers (fiscal_year, prefecture_code);

-- One row per insurer × indicator (目標Ⅳ once): about 1,741 × 300 a year.
CREATE TABLE IF NOT EXISTS evaluation_scores (
    fiscal_year      INTEGER      NOT NULL,
    insurer_number   VARCHAR(6)   NOT NULL,
    indicator_key    VARCHAR(60)  NOT NULL,
    prefecture_code  VARCHAR(2)   NOT NULL,
    points           DOUBLE PRECISION NOT NULL,
    submission_id    INTEGER      NOT NULL,
    CONSTRAINT pk_evaluation_scores PRIMARY KEY (fiscal_year, insurer_number, indicator_key)
);

CREATE INDEX IF NOT EXISTS ix_evaluation_scores_pref ON evaluation_scores (fiscal_year, prefecture_code);

-- The file's national statistics rows (平均, 中央値, 標準偏差, 該当数, 該当率) per indicator.
CREATE TABLE IF NOT EXISTS evaluation_national_stats (
    fiscal_year      INTEGER      NOT NULL,
    indicator_key    VARCHAR(60)  NOT NULL,
    mean             DOUBLE PRECISION,
    median           DOUBLE PRECISION,
    sd               DOUBLE PRECISION,
    count_hit        INTEGER,
    rate_hit         DOUBLE PRECISION,                 -- 0–1
    submission_id    INTEGER      NOT NULL,
    CONSTRAINT pk_evaluation_national_stats PRIMARY KEY (fiscal_year, indicator_key)
);
"""


def upgrade() -> None:
    bind = op.get_bind()
    lines = [line.split("--", 1)[0] for line in DDL.splitlines()]  # comments out, then one statement per ;
    for stmt in (s.strip() for s in "\n".join(lines).split(";")):
        if not stmt:
            continue
        bind.exec_driver_sql(stmt)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is not downgraded: restore a backup")
