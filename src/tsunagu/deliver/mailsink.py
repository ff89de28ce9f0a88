"""A real SMTP server on loopback that keeps every message as an ``.eml`` file (demo and tests).

    with MailSink(folder) as sink:                 # port 0 -> a free port
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_conn_uri(sink.port)
        ...
        sink.messages                              # parsed email.message.EmailMessage objects

Files are named ``<NNN>_<X-Tsunagu-Key, sanitised>.eml`` (NNN counts on from the files already in the
folder), so a demo run gives the same names every time. Faults can be simulated:
``sink.fail_next(2)`` answers 451 to the next two messages, ``sink.reject_recipients(r"@evil\\.")``
answers 550 to matching recipients; stopping the sink simulates a server that is down.

Two faults leave the outcome unknown to the client, as a real relay can: the message is stored (the
relay has it and will deliver it), but the client never sees the 250 —
``sink.drop_after_data()`` closes the TCP connection instead of replying (``reset=True``: an RST),
``sink.delay_reply(seconds)`` replies only after ``seconds`` (longer than the client's timeout).
Such messages are in :attr:`MailSink.received` with the reply the client did not get.

``python -m tsunagu.deliver.mailsink FOLDER [--port 2525]`` runs one until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

HOST = "127.0.0.1"
DEFAULT_FROM = "tsunagu@localhost"
_UNSAFE = re.compile(r"[^0-9A-Za-z._-]+")


def smtp_conn_uri(port: int, host: str = HOST, *, from_email: str = DEFAULT_FROM, timeout: int = 10) -> str:
    """An Airflow connection URI (for ``AIRFLOW_CONN_SMTP_DEFAULT``) to a plain SMTP server: no TLS, no SSL,
    no login, no connection retries (the daily task retries on its next run)."""
    return (f"smtp://{host}:{int(port)}?disable_tls=true&disable_ssl=true&timeout={int(timeout)}"
            f"&retry_limit=0&from_email={quote(from_email, safe='')}")


def sanitise(text: str, limit: int = 80) -> str:
    return _UNSAFE.sub("_", text).strip("_")[:limit] or "message"


@dataclass(frozen=True)
class Received:
    path: Path
    mail_from: str
    rcpt_tos: tuple[str, ...]
    reply: str


class _Handler:
    def __init__(self, sink: MailSink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd API)
        reply = self.sink._rcpt_fault(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        reply, fault = self.sink._receive(envelope.mail_from, tuple(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content)
        if fault is not None and fault[0] == "drop":
            # Stored, and the connection goes away before the reply: abort() sends an RST, close() a FIN.
            if fault[1]:
                server.transport.abort()
            else:
                server.transport.close()
            await asyncio.Event().wait()  # cancelled by connection_lost(): no reply is ever written
        if fault is not None and fault[0] == "delay":
            await asyncio.sleep(fault[1])  # the client gives up meanwhile; its EOF cancels this handler
        return reply


class MailSink:
    def __init__(self, folder: str | Path, port: int = 0, host: str = HOST):
        self.folder = Path(folder)
        self.host = host
        self.port = port
        self._controller = None
        self._lock = threading.Lock()
        self._fail_next: list[str] = []
        self._after_store: list[tuple[str, float | bool]] = []
        self._rcpt_rules: list[tuple[re.Pattern[str], str]] = []
        self.received: list[Received] = []

    # ------------------------------------------------------------ faults
    def fail_next(self, n: int = 1, code: int = 451, text: str = "4.3.0 Temporary failure (simulated by MailSink)") -> None:
        """Answer the DATA of the next ``n`` messages with ``code`` (451: try again later; 554: rejected)."""
        with self._lock:
            self._fail_next += [f"{code} {text}"] * n

    def drop_after_data(self, n: int = 1, *, reset: bool = False) -> None:
        """Store the next ``n`` messages, then drop the connection before the 250 reply (``reset``: RST, else FIN)."""
        with self._lock:
            self._after_store += [("drop", bool(reset))] * n

    def delay_reply(self, seconds: float, n: int = 1) -> None:
        """Store the next ``n`` messages and send the 250 only after ``seconds`` (beyond the client's timeout)."""
        with self._lock:
            self._after_store += [("delay", float(seconds))] * n

    def reject_recipients(self, pattern: str, code: int = 550, text: str = "5.1.1 Mailbox unavailable (simulated)") -> None:
        with self._lock:
            self._rcpt_rules.append((re.compile(pattern, re.IGNORECASE), f"{code} {text}"))

    def clear_faults(self) -> None:
        with self._lock:
            self._fail_next.clear()
            self._after_store.clear()
            self._rcpt_rules.clear()

    def _rcpt_fault(self, address: str) -> str | None:
        with self._lock:
            for pattern, reply in self._rcpt_rules:
                if pattern.search(address):
                    return reply
        return None

    # ------------------------------------------------------------ receiving
    def _receive(self, mail_from: str, rcpt_tos: tuple[str, ...], content: bytes
                 ) -> tuple[str, tuple[str, float | bool] | None]:
        """Store the message (unless a failure is due) -> (the reply, a fault to apply after storing)."""
        with self._lock:
            if self._fail_next:
                return self._fail_next.pop(0), None
            fault = self._after_store.pop(0) if self._after_store else None
            self.folder.mkdir(parents=True, exist_ok=True)
            n = len(list(self.folder.glob("*.eml"))) + 1
            msg = email.message_from_bytes(content, policy=email.policy.default)
            label = msg.get("X-Tsunagu-Key") or (msg.get("Message-ID") or "").strip("<>")
            path = self.folder / f"{n:03d}_{sanitise(str(label))}.eml"
            path.write_bytes(content)
            reply = f"250 2.0.0 Ok: queued as TSU{n:06d}"
            self.received.append(Received(path, mail_from, rcpt_tos, reply))
            return reply, fault

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages this sink accepted, parsed, in order of arrival."""
        with self._lock:
            paths = [r.path for r in self.received]
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]

    # ------------------------------------------------------------ lifecycle
    def start(self) -> MailSink:
        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
        self.folder.mkdir(parents=True, exist_ok=True)
        last: OSError | None = None
        for _ in range(5):
            port = self.port or _free_port(self.host)
            controller = Controller(_Handler(self), hostname=self.host, port=port, ready_timeout=10)
            try:
                controller.start()
            except (OSError, RuntimeError) as exc:  # the free port was taken in between
                last = exc if isinstance(exc, OSError) else OSError(str(exc))
                if self.port:
                    raise
                time.sleep(0.05)
                continue
            self._controller, self.port = controller, port
            return self
        raise OSError(f"could not start the mail sink: {last}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Loopback SMTP server writing .eml files (tsunagu demo)")
    ap.add_argument("folder")
    ap.add_argument("--port", type=int, default=2525)
    args = ap.parse_args(argv)
    with MailSink(args.folder, port=args.port) as sink:
        print(f"listening on {sink.host}:{sink.port}; AIRFLOW_CONN_SMTP_DEFAULT='{smtp_conn_uri(sink.port)}'", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
