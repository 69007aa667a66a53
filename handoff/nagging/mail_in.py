"""The small SMTP server that takes replies to reminders in (`flask mail-in`), on aiosmtpd.

The organisation's mail server hands it the mail for reply+…@ the reply domain (a transport
or forward rule). It accepts only those recipients, takes each message in the app
(nagging.replies.take_reply) and answers 250; a failure of its own (the database away)
answers 451, so that the sending server tries again later: no reply is lost.
"""

import asyncio
import logging

from aiosmtpd.controller import Controller
from flask import Flask

from handoff.kernel.clock import utcnow
from handoff.nagging.replies import ADDRESS, MAX_BYTES, take_reply

log = logging.getLogger(__name__)


class ReplyHandler:
    def __init__(self, app: Flask):
        self.app = app

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not ADDRESS.search(address + "@" if "@" not in address else address):
            return "550 Not a reply address of Handoff's"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        try:
            recipients, sender = list(envelope.rcpt_tos), envelope.mail_from or ""
            outcome = await asyncio.to_thread(self._take, raw, recipients, sender)
        except Exception:
            log.exception("a reply could not be taken in; the sender will try again")
            return "451 Try again later"
        log.info("reply from %s: %s (%s)", envelope.mail_from, outcome.outcome, outcome.detail)
        return "250 OK"

    def _take(self, raw: bytes, recipients: list[str], sender: str):
        with self.app.app_context():
            return take_reply(raw, recipients, utcnow(), envelope_from=sender)


def listener(app: Flask, host: str, port: int) -> Controller:
    """An SMTP server for replies, not started yet."""
    return Controller(ReplyHandler(app), hostname=host, port=port, data_size_limit=MAX_BYTES)
