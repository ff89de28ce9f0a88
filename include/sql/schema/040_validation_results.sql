-- Findings of the latest validation of each submission (replaced on every re-run).
CREATE TABLE IF NOT EXISTS validation_results (
    submission_id INTEGER      NOT NULL,
    seq           INTEGER      NOT NULL,
    code          VARCHAR(80)  NOT NULL,
    severity      VARCHAR(10)  NOT NULL,
    sheet         TEXT,
    row           INTEGER,
    column_letter VARCHAR(8),
    field         VARCHAR(80),
    message_ja    TEXT         NOT NULL,
    message_en    TEXT         NOT NULL,
    CONSTRAINT pk_validation_results PRIMARY KEY (submission_id, seq)
);
