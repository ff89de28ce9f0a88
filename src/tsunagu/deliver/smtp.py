"""Building a Japanese mail and handing it to the server through Airflow's SMTP provider.

The connection comes from Airflow (``smtp_default``: a connection in the metadata DB, a secrets
backend, or the env var ``AIRFLOW_CONN_SMTP_DEFAULT``); it works outside a running task. The hook
logs in (STARTTLS/SSL unless the connection's extras ``disable_tls``/``disable_ssl`` say otherwise);
the envelope is then sent step by step (MAIL, RCPT, DATA) so that the server's final reply (code and
text, e.g. ``250 2.0.0 Ok: queued as 4Xy…``) is kept for the ledger. All recipients must be accepted,
or nothing is sent (RSET): a mail is never delivered to only some of its recipients.

DATA goes in two steps, because they differ in what a failure means. Until the server has answered
354 to the DATA command, it has no message: any failure is a known "not sent" (:class:`SmtpFailure`
with its ``stage``: ``connect``, ``mail``, ``rcpt`` or ``data``). Once the content is on its way, only
the server's final reply tells; if the connection drops or times out before it, the server may
well have stored the message: :class:`SmtpOutcomeUnknown`, which the caller must not retry blindly.
``before_content`` runs between the two (the ledger records that the content is about to go out);
if it raises, the connection is closed without the terminating dot, so the server discards the
message.

Airflow is imported lazily: importing tsunagu.deliver does not import Airflow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import os
import re
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import Path

MESSAGE_ID_DOMAIN = "tsunagu.kantoshinetsu"
JST = dt.timezone(dt.timedelta(hours=9), "JST")


def message_id_for(key: str) -> str:
    """The Message-ID of the mail with this idempotency key: the same on every attempt."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{MESSAGE_ID_DOMAIN}>"


@dataclass(frozen=True)
class SmtpReply:
    code: int
    text: str


class SmtpFailure(Exception):
    """The server did not accept the mail (or could not be reached). ``code`` is the SMTP code when there is one,
    ``reply`` the server's text, ``stage`` where it happened (connect | mail | rcpt | data)."""

    def __init__(self, message: str, code: int | None = None, *, stage: str = "connect", reply: str | None = None):
        super().__init__(message)
        self.code = code
        self.stage = stage
        self.reply = reply


class SmtpOutcomeUnknown(SmtpFailure):
    """The message content was sent and no final reply came back (connection dropped, timeout, garbage):
    the server may have accepted it. Never retried blindly."""

    def __init__(self, message: str, code: int | None = None, *, reply: str | None = None):
        super().__init__(message, code, stage="data", reply=reply)


def _reply_text(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


def build_message(
    *, key: str, from_addr: str, from_name: str | None, to: Sequence[str], cc: Sequence[str], subject: str,
    body: str, attachments: Sequence[Path], date: dt.datetime,
) -> EmailMessage:
    """A UTF-8 plain-text message; attachment names (Japanese) are RFC 2231-encoded."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = Address(display_name=from_name or "", addr_spec=from_addr)
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = format_datetime(date.astimezone(JST))
    msg["Message-ID"] = message_id_for(key)
    msg["X-Tsunagu-Key"] = key
    msg.set_content(body if body.endswith("\n") else body + "\n", charset="utf-8", cte="base64")  # 7-bit clean
    for path in attachments:
        ctype, _ = mimetypes.guess_type(path.name)
        if path.suffix.lower() == ".csv":
            ctype = "text/csv"
        maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
        data = path.read_bytes()
        params = {}
        if maintype == "text":
            params["charset"] = _charset(data)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name, params=params)
    return msg


def _charset(data: bytes) -> str:
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "shift_jis"  # CP932 text as sent by offices; mail clients know it as Shift_JIS


def envelope_recipients(msg: EmailMessage) -> list[str]:
    out: list[str] = []
    for header in ("To", "Cc"):
        for value in msg.get_all(header, []):
            for part in str(value).split(","):
                addr = parseaddr(part)[1]
                if addr and addr not in out:
                    out.append(addr)
    return out


class Session:
    """One logged-in SMTP session opened by Airflow's SmtpHook."""

    def __init__(self, conn_id: str):
        self.conn_id = conn_id
        self._hook = None
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> Session:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        hook = SmtpHook(smtp_conn_id=self.conn_id)
        hook.get_conn()  # login, STARTTLS/SSL per the connection
        self._hook = hook
        # The 3.x provider has no public accessor for the logged-in smtplib client; send_email_smtp() would
        # build its own HTML message and discard the server's reply, which the ledger needs.
        self.client = hook._smtp_client
        return self

    @property
    def from_email(self) -> str | None:
        return (self._hook.from_email if self._hook is not None else None) or os.environ.get("TSUNAGU_MAIL_FROM")

    def send(self, msg: EmailMessage, from_addr: str, recipients: Sequence[str], *,
             before_content: Callable[[], None] | None = None) -> SmtpReply:
        """MAIL, RCPT, DATA; the server's acceptance, or SmtpFailure / SmtpOutcomeUnknown (module docstring)."""
        client = self.client
        assert client is not None
        payload = _dot_stuffed(msg.as_bytes(policy=SMTP_POLICY))  # before the transaction: nothing can fail mid-way
        stage = "mail"
        try:
            client.ehlo_or_helo_if_needed()
            code, resp = client.mail(from_addr)
            if code != 250:
                client.rset()
                raise SmtpFailure(f"MAIL FROM {from_addr} refused: {code} {_reply_text(resp)}", code, stage="mail",
                                  reply=_reply_text(resp))
            stage = "rcpt"
            refused: list[tuple[str, int, str]] = []
            for rcpt in recipients:
                code, resp = client.rcpt(rcpt)
                if code not in (250, 251):
                    refused.append((rcpt, code, _reply_text(resp)))
            if refused:
                client.rset()
                shown = "; ".join(f"{r}: {c} {t}" for r, c, t in refused)
                raise SmtpFailure(f"recipient(s) refused, nothing sent: {shown}", refused[0][1], stage="rcpt",
                                  reply=refused[0][2])
            stage = "data"
            code, resp = client.docmd("DATA")
            if code != 354:
                raise SmtpFailure(f"DATA refused: {code} {_reply_text(resp)}", code, stage="data", reply=_reply_text(resp))
        except SmtpFailure:
            raise
        except (smtplib.SMTPException, OSError) as exc:  # before the content: the server has no message
            failure = failure_of(exc)
            failure.stage = stage
            raise failure from exc
        if before_content is not None:
            try:
                before_content()
            except BaseException:
                client.close()  # no terminating dot: the server discards what it has
                raise
        try:
            client.send(payload)
            code, resp = client.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpOutcomeUnknown(f"no reply after the message content was sent: {type(exc).__name__}: {exc}"
                                     ) from exc
        text = _reply_text(resp)
        if code == 250:
            return SmtpReply(code=code, text=text)
        if 400 <= code < 600:
            raise SmtpFailure(f"DATA refused: {code} {text}", code, stage="data", reply=text)
        raise SmtpOutcomeUnknown(f"unreadable reply after the message content was sent: {code} {text}", reply=text)

    def __exit__(self, *exc) -> None:
        try:
            if self.client is not None:
                try:
                    self.client.quit()
                except (smtplib.SMTPException, OSError):
                    pass
        finally:
            if self._hook is not None:
                self._hook._smtp_client = None
            self.client = None
            self._hook = None


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload as smtplib.SMTP.data() sends it: leading dots doubled, CRLF, the terminating dot."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def failure_of(exc: BaseException) -> SmtpFailure:
    """Any error while talking to the server, as an SmtpFailure with the SMTP code when there is one."""
    if isinstance(exc, SmtpFailure):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        first = next(iter(exc.recipients.values()), (None, b""))
        return SmtpFailure(f"recipients refused: {exc.recipients}", first[0])
    if isinstance(exc, smtplib.SMTPResponseException):
        return SmtpFailure(f"{type(exc).__name__}: {exc.smtp_code} {_reply_text(exc.smtp_error)}", exc.smtp_code)
    return SmtpFailure(f"{type(exc).__name__}: {exc}")
