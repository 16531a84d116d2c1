"""E-mail, sent by a worker thread so that no request waits on a mail server.

A request queues its message once its transaction has committed
(``send_after_commit``) and answers at once. Each process has one worker
thread, started by the first message (never at import, nor in gunicorn's
master) and ended when idle; it renders the message (a plain-text and an HTML
body, from ``app/templates/mail/``) and sends it over SMTP, each step within
``MAIL_TIMEOUT``. With no ``MAIL_SERVER`` the message is logged instead: the
whole of it in development and testing, so that the flow works on a laptop;
in production only that it was not sent (a reset link in a log would open the
account to whoever reads the log).

Every outcome is one JSON log line carrying the id of the request that asked
for the message: ``mail sent``, ``mail not sent`` (the SMTP error),
``mail logged`` (no server), or ``mail dropped`` (the queue was full, or the
process exited first: at exit the thread gets ``MAIL_TIMEOUT`` to finish).
Nothing is retried: the person asks again.
"""

import atexit
import os
import queue
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import after_this_request, current_app, render_template

from .observability import request_id

# Messages waiting in one process: past this a request's message is dropped
# (and logged), rather than the request waiting or memory growing.
QUEUE_SIZE = 100
# A worker thread with nothing to send for this long ends; the next message starts another.
IDLE_SECONDS = 30


@dataclass
class Mail:
    to: str
    subject: str
    template: str  # app/templates/mail/<template>.txt and .html
    context: dict
    request_id: str
    message_id: str = field(default="")


class Outbox:
    """One app's queue of messages, and the thread that sends them."""

    def __init__(self, app):
        self.app = app
        self.settings = {
            name: app.config[name]
            for name in (
                "MAIL_SERVER",
                "MAIL_PORT",
                "MAIL_USERNAME",
                "MAIL_PASSWORD",
                "MAIL_USE_TLS",
                "MAIL_USE_SSL",
                "MAIL_DEFAULT_SENDER",
                "MAIL_TIMEOUT",
            )
        }
        self.log_whole_messages = app.config["APP_ENV"] != "production"
        self.domain = parseaddr(self.settings["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2]
        self._pid = None  # the process the queue and the thread belong to
        self._exit_registered = False

    def send(self, mail):
        """Queue ``mail`` without waiting; False (and logged) when the queue is full."""
        # make_msgid with a domain: without one it asks the resolver for this host's name.
        mail.message_id = make_msgid(domain=self.domain)
        with self._process_lock():
            try:
                self._queue.put_nowait(mail)
            except queue.Full:
                self._log("error", "mail dropped: the queue is full", mail)
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="mail", daemon=True)
                self._thread.start()
                if not self._exit_registered:
                    atexit.register(self.finish, self.settings["MAIL_TIMEOUT"])
                    self._exit_registered = True
        return True

    def finish(self, seconds):
        """At exit: let the thread send what is queued for up to ``seconds``; log what is left as dropped."""
        if self._pid != os.getpid():
            return
        deadline = time.monotonic() + seconds
        while (self._sending or not self._queue.empty()) and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            sending, queued = self._sending, []
            while not self._queue.empty():
                queued.append(self._queue.get_nowait())
        if sending:
            self._log("error", "mail dropped: the process exited while it was being sent", sending)
        for mail in queued:
            self._log("error", "mail dropped: the process exited before it was sent", mail)

    def _process_lock(self):
        # A forked child (a gunicorn worker of a preloaded app) has no thread: start afresh.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._queue = queue.Queue(QUEUE_SIZE)
            self._thread = None
            self._sending = None
        return self._lock

    def _work(self):
        while True:
            try:
                mail = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # no message slips in between: send() starts a thread under the lock
                        self._thread = None
                        return
                continue
            self._sending = mail
            try:
                with self.app.app_context():
                    self._deliver(mail)
            except Exception:  # a bug must not end the thread with messages still queued
                self.app.logger.exception("mail not sent: unexpected error", extra={"fields": self._fields(mail)})
            finally:
                self._sending = None

    def _deliver(self, mail):
        message = self._compose(mail)
        settings = self.settings
        if not settings["MAIL_SERVER"]:
            if self.log_whole_messages:
                whole = {
                    "from": message["From"],
                    "to": mail.to,
                    "subject": mail.subject,
                    "text": message.get_body(("plain",)).get_content(),
                }
                self._log("info", "mail logged: no MAIL_SERVER", mail, mail=whole)
            else:
                self._log("warning", "mail not sent: no MAIL_SERVER", mail)
            return
        try:
            self._smtp_send(message)
        except (OSError, smtplib.SMTPException) as error:  # refused, timed out, TLS, login, recipient refused
            self._log("error", "mail not sent", mail, error=f"{type(error).__name__}: {error}")
        else:
            self._log("info", "mail sent", mail)

    def _compose(self, mail):
        message = EmailMessage()
        message["From"] = self.settings["MAIL_DEFAULT_SENDER"]
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = mail.message_id
        message.set_content(render_template(f"mail/{mail.template}.txt", **mail.context))
        message.add_alternative(render_template(f"mail/{mail.template}.html", **mail.context), subtype="html")
        return message

    def _smtp_send(self, message):
        settings = self.settings
        address, timeout = (settings["MAIL_SERVER"], settings["MAIL_PORT"]), settings["MAIL_TIMEOUT"]
        if settings["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(*address, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(*address, timeout=timeout)
        with smtp:
            if settings["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if settings["MAIL_USERNAME"]:
                smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"])
            smtp.send_message(message)

    def _log(self, level, text, about, **extra):
        getattr(self.app.logger, level)(text, extra={"fields": {**self._fields(about), **extra}})

    @staticmethod
    def _fields(mail):
        # The request's id and the message's: no address or link (only development logs the whole message).
        return {"request_id": mail.request_id, "mail_id": mail.message_id, "template": mail.template}


def send_after_commit(to, subject, template, **context):
    """Queue a message once this request has answered with success (its write committed), never before."""
    outbox = current_app.extensions["mail"]
    mail = Mail(to, subject, template, context, request_id())

    @after_this_request
    def queue_it(response):
        if response.status_code < 400:
            outbox.send(mail)
        return response


def init_mail(app):
    app.extensions["mail"] = Outbox(app)
