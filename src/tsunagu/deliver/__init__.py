"""deliver: mails to offices and prefectures, exactly once per key, scoped, logged in the delivery ledger.

    from tsunagu.deliver import Mail, send, ledger, was_sent, export_ledger_csv, ScopeViolation

See :mod:`tsunagu.deliver.mail` for the behaviour of :func:`send`, :mod:`tsunagu.deliver.ledger` for the
ledger, :mod:`tsunagu.deliver.outbox` for the per-prefecture outbox folders and
:mod:`tsunagu.deliver.mailsink` for the loopback SMTP server used by the demo and the tests.
Nothing here imports Airflow at import time.
"""

from tsunagu.deliver.ledger import DeliveryFailed, FileRecord, LedgerEntry, export_ledger_csv, ledger, was_sent
from tsunagu.deliver.mail import DELIVERY_KINDS, MAIL_KINDS, Mail, send
from tsunagu.deliver.outbox import OutboxConflict, outbox_dir, place_in_outbox
from tsunagu.deliver.scope import ScopeViolation
from tsunagu.deliver.smtp import message_id_for

__all__ = [
    "DELIVERY_KINDS", "MAIL_KINDS", "DeliveryFailed", "FileRecord", "LedgerEntry", "Mail", "OutboxConflict",
    "ScopeViolation", "export_ledger_csv", "ledger", "message_id_for", "outbox_dir", "place_in_outbox", "send",
    "was_sent",
]
