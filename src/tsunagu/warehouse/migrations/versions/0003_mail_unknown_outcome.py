"""The mail ledger knows `unknown` and `failed_permanent`, and keeps each mail's history (mail_events).

Revision ID: 0003
Revises: 0002

* ``mail_ledger.status`` becomes VARCHAR(20) with the six statuses in its CHECK. PostgreSQL alters the
  column and the constraint; SQLite cannot alter a CHECK, so the table is rebuilt (same columns, rows
  copied, the index recreated).
* Rows stored in the interim form of a ledger that could not hold the new statuses (``sending`` /
  ``failed`` with ``last_error`` starting ``[unknown] `` / ``[failed_permanent] ``, see
  tsunagu.deliver.ledger) are converted to the real status.
* ``mail_events`` is created (append-only history: attempts, the ``data`` marker, operator decisions).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATUSES = "('sending', 'sent', 'failed', 'blocked', 'unknown', 'failed_permanent')"
COLUMNS = (
    "id, key, kind, fiscal_year, prefecture_code, recipients, cc, subject, data_version, files, delivery_mode, "
    "outbox_path, status, smtp_status, smtp_reply, message_id, attempts, first_attempt_at, last_attempt_at, "
    "sent_at, last_error"
)
SQLITE_LEDGER = f"""
CREATE TABLE mail_ledger_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              VARCHAR(200) NOT NULL,
    kind             VARCHAR(40)  NOT NULL,
    fiscal_year      INTEGER      NOT NULL,
    prefecture_code  VARCHAR(2),
    recipients       TEXT         NOT NULL,
    cc               TEXT,
    subject          TEXT         NOT NULL,
    data_version     VARCHAR(80),
    files            TEXT         NOT NULL,
    delivery_mode    VARCHAR(10),
    outbox_path      TEXT,
    status           VARCHAR(20)  NOT NULL,
    smtp_status      INTEGER,
    smtp_reply       TEXT,
    message_id       VARCHAR(200) NOT NULL,
    attempts         INTEGER      NOT NULL DEFAULT 0,
    first_attempt_at TIMESTAMP    NOT NULL,
    last_attempt_at  TIMESTAMP    NOT NULL,
    sent_at          TIMESTAMP,
    last_error       TEXT,
    CONSTRAINT uq_mail_ledger_key UNIQUE (key),
    CONSTRAINT ck_mail_ledger_status CHECK (status IN {STATUSES})
)"""
EVENTS = """
CREATE TABLE IF NOT EXISTS mail_events (
    key              VARCHAR(200) NOT NULL,
    seq              INTEGER      NOT NULL,
    attempt          INTEGER      NOT NULL,
    event            VARCHAR(20)  NOT NULL,
    event_at         TIMESTAMP    NOT NULL,
    actor            VARCHAR(200),
    stage            VARCHAR(10),
    smtp_status      INTEGER,
    detail           TEXT,
    CONSTRAINT pk_mail_events PRIMARY KEY (key, seq)
)"""
INTERIM = (
    "UPDATE mail_ledger SET status = 'unknown', last_error = NULLIF(substr(last_error, 11), '') "
    "WHERE status = 'sending' AND substr(last_error, 1, 10) = '[unknown] '",
    "UPDATE mail_ledger SET status = 'failed_permanent', last_error = NULLIF(substr(last_error, 20), '') "
    "WHERE status = 'failed' AND substr(last_error, 1, 19) = '[failed_permanent] '",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("ALTER TABLE mail_ledger ALTER COLUMN status TYPE VARCHAR(20)")
        bind.exec_driver_sql("ALTER TABLE mail_ledger DROP CONSTRAINT IF EXISTS ck_mail_ledger_status")
        bind.exec_driver_sql(f"ALTER TABLE mail_ledger ADD CONSTRAINT ck_mail_ledger_status CHECK (status IN {STATUSES})")
    else:
        bind.exec_driver_sql(SQLITE_LEDGER)
        bind.exec_driver_sql(f"INSERT INTO mail_ledger_new ({COLUMNS}) SELECT {COLUMNS} FROM mail_ledger")
        bind.exec_driver_sql("DROP TABLE mail_ledger")
        bind.exec_driver_sql("ALTER TABLE mail_ledger_new RENAME TO mail_ledger")
        bind.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_mail_ledger_scope ON mail_ledger (fiscal_year, kind, prefecture_code)")
    for stmt in INTERIM:
        bind.exec_driver_sql(stmt)
    bind.exec_driver_sql(EVENTS)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is not downgraded: restore a backup")
