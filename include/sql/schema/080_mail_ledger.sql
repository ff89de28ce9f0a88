-- The delivery ledger: one row per outgoing mail, keyed by the caller's idempotency key (one mail per key, ever).
-- status: sending (an attempt is under way or crashed) | sent (the server accepted it) |
--         failed (SMTP/network error: retryable) | blocked (a scope check refused it: nothing was sent).
CREATE TABLE IF NOT EXISTS mail_ledger (
    id               {{IDENTITY_PK}},
    key              VARCHAR(200) NOT NULL,
    kind             VARCHAR(40)  NOT NULL,            -- office_request | prefecture_notice | … | delivery | correction
    fiscal_year      INTEGER      NOT NULL,
    prefecture_code  VARCHAR(2),
    recipients       TEXT         NOT NULL,            -- To then Cc, ", "-separated
    cc               TEXT,                             -- the Cc part of recipients
    subject          TEXT         NOT NULL,
    data_version     VARCHAR(80),
    files            TEXT         NOT NULL,            -- JSON list of {"name", "sha256", "bytes"}
    delivery_mode    VARCHAR(10),                      -- attached | link | none
    outbox_path      TEXT,                             -- where the files were placed (deliveries, links)
    status           VARCHAR(10)  NOT NULL,
    smtp_status      INTEGER,                          -- reply code to DATA (250) or of the failure (451, 550)
    smtp_reply       TEXT,                             -- the server's reply text (e.g. queue id)
    message_id       VARCHAR(200) NOT NULL,            -- <sha256(key)[:32]@tsunagu.kantoshinetsu>
    attempts         INTEGER      NOT NULL DEFAULT 0,
    first_attempt_at TIMESTAMP    NOT NULL,
    last_attempt_at  TIMESTAMP    NOT NULL,
    sent_at          TIMESTAMP,
    last_error       TEXT,
    CONSTRAINT uq_mail_ledger_key UNIQUE (key),
    CONSTRAINT ck_mail_ledger_status CHECK (status IN ('sending', 'sent', 'failed', 'blocked'))
);

CREATE INDEX IF NOT EXISTS ix_mail_ledger_scope ON mail_ledger (fiscal_year, kind, prefecture_code);
