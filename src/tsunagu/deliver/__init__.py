"""deliver: mails to offices and prefectures, at most once per key, scoped, logged in the delivery ledger.

    from tsunagu.deliver import Mail, send, ledger, was_sent, export_ledger_csv, ScopeViolation
    from tsunagu.deliver import problem_mails, unknown_mails, resolve_unknown, mail_history

A mail whose outcome is unknown (the server may have it) or that was refused for good is never sent
again automatically: :func:`problem_mails` lists them, an operator records a decision with
:func:`resolve_unknown` (see :mod:`tsunagu.deliver.mail`).

See :mod:`tsunagu.deliver.mail` for the behaviour of :func:`send`, :mod:`tsunagu.deliver.ledger` for the
ledger, :mod:`tsunagu.deliver.outbox` for the per-prefecture outbox folders and
:mod:`tsunagu.deliver.mailsink` for the loopback SMTP server used by the demo and the tests.
Nothing here imports Airflow at import time.
"""

from tsunagu.deliver.ledger import (
    LEDGER_STATUSES,
    DeliveryFailed,
    FileRecord,
    LedgerEntry,
    MailEvent,
    export_ledger_csv,
    ledger,
    mail_history,
    problem_mails,
    unknown_mails,
    was_sent,
)
from tsunagu.deliver.mail import DELIVERY_KINDS, MAIL_KINDS, Mail, resolve_unknown, send
from tsunagu.deliver.outbox import OutboxConflict, outbox_dir, place_in_outbox
from tsunagu.deliver.scope import ScopeViolation
from tsunagu.deliver.smtp import message_id_for

__all__ = [
    "DELIVERY_KINDS", "LEDGER_STATUSES", "MAIL_KINDS", "DeliveryFailed", "FileRecord", "LedgerEntry", "Mail",
    "MailEvent", "OutboxConflict", "ScopeViolation", "export_ledger_csv", "ledger", "mail_history", "message_id_for",
    "outbox_dir", "place_in_outbox", "problem_mails", "resolve_unknown", "send", "unknown_mails", "was_sent",
]
