-- The delivery ledger: one row per outgoing mail, keyed by the caller's idempotency key (one mail per key, ever).
-- status: sending (an attempt is under way or crashed) | sent (the server accepted it) |
--         failed (SMTP/network error, 4xx: retryable) | blocked (a scope check refused it: nothing was sent) |
--         unknown (the message content went out and no reply came back: never retried, an operator decides) |
--         failed_permanent (refused for good: 550/551/553/554, or a 5xx on max_attempts attempts: never retried).
-- A ledger created before unknown/failed_permanent (VARCHAR(10), the four-status CHECK) keeps them as
-- sending/failed with last_error starting "[unknown] "/"[failed_permanent] " (tsunagu.deliver.ledger).
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
    status           VARCHAR(20)  NOT NULL,
    smtp_status      INTEGER,                          -- reply code to DATA (250) or of the failure (451, 550)
    smtp_reply       TEXT,                             -- the server's reply text (queue id; a permanent refusal)
    message_id       VARCHAR(200) NOT NULL,            -- <sha256(key)[:32]@tsunagu.kantoshinetsu>
    attempts         INTEGER      NOT NULL DEFAULT 0,
    first_attempt_at TIMESTAMP    NOT NULL,
    last_attempt_at  TIMESTAMP    NOT NULL,
    sent_at          TIMESTAMP,
    last_error       TEXT,
    CONSTRAINT uq_mail_ledger_key UNIQUE (key),
    CONSTRAINT ck_mail_ledger_status CHECK (status IN ('sending', 'sent', 'failed', 'blocked', 'unknown',
                                                      'failed_permanent'))
);

CREATE INDEX IF NOT EXISTS ix_mail_ledger_scope ON mail_ledger (fiscal_year, kind, prefecture_code);

-- The history of each ledger row, append-only: every attempt's steps (claimed, data: the message content is
-- about to go out) and outcome, every operator decision on an unknown or refused mail (who, when, why).
CREATE TABLE IF NOT EXISTS mail_events (
    key              VARCHAR(200) NOT NULL,            -- mail_ledger.key
    seq              INTEGER      NOT NULL,            -- 1, 2, … per key
    attempt          INTEGER      NOT NULL,            -- mail_ledger.attempts when it happened
    event            VARCHAR(20)  NOT NULL,            -- claimed | data | sent | failed | failed_permanent | unknown |
                                                       -- blocked | resolved_sent | resolved_resend
    event_at         TIMESTAMP    NOT NULL,            -- UTC
    actor            VARCHAR(200),                     -- the operator of a decision; NULL: tsunagu itself
    stage            VARCHAR(10),                      -- where an attempt failed: connect | mail | rcpt | data
    smtp_status      INTEGER,
    detail           TEXT,                             -- the error, the server's reply, the operator's note
    CONSTRAINT pk_mail_events PRIMARY KEY (key, seq)
);
