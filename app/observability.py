"""Request ids, structured logs and Prometheus metrics.

Every response carries ``X-Request-ID``: the client's (or the proxy's) when it
is sane, else a new one. Every log line is one JSON object that carries it, so
a client's report and the server's logs meet on one id. Requests and their
latency are counted by route and status; gunicorn's master serves the counts
of every worker on a port of its own, METRICS_PORT (prometheus_client's
multiprocess mode, set up in gunicorn.conf.py), never on the API's port.
"""

import json
import logging
import os
import re
import secrets
import sys
from datetime import datetime, timezone

from flask import g, has_request_context, request
from flask.logging import default_handler
from prometheus_client import CollectorRegistry
from prometheus_flask_exporter import PrometheusMetrics

# Letters, digits and a few separators, as proxies and tracing systems send
# them; anything else (or anything long) is replaced, never logged as sent.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id():
    """This request's id, chosen on first use."""
    chosen = g.get("request_id")
    if chosen is None:
        # From the environ: no headers object built for it. A new id is 128
        # random bits in hex, as uuid4().hex was, from os.urandom alone.
        incoming = request.environ.get("HTTP_X_REQUEST_ID")
        chosen = g.request_id = incoming if incoming and SANE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
    return chosen


def add_request_id_header(response):
    response.headers["X-Request-ID"] = request_id()
    return response


class JSONFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            line.update(request_id=request_id(), method=request.method, path=request.path)
        # A line's own fields (logger.info(..., extra={"fields": {...}})): the mail thread's, with the request id
        # of the request that queued the message.
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _JSONToStderr(logging.StreamHandler):
    """JSON lines to sys.stderr as it is when each line is written, not when
    the handler was made (pytest's capsys, for one, replaces it per test)."""

    def __init__(self):
        logging.Handler.__init__(self)
        self.setFormatter(JSONFormatter())

    @property
    def stream(self):
        return sys.stderr


def configure_logging(level):
    """Every logger's lines as JSON on stderr, through one handler on the root logger.

    The libraries' loggers (Flask-Limiter, SQLAlchemy's pool, werkzeug, alembic)
    reach it by propagation, so their lines take the app's shape. Called by
    create_app and by gunicorn's master; again is harmless: one handler stays.
    """
    root = logging.getLogger()
    if not any(isinstance(handler, _JSONToStderr) for handler in root.handlers):
        root.addHandler(_JSONToStderr())
    root.setLevel(level)


def init_observability(app):
    configure_logging(app.config["LOG_LEVEL"])
    app.logger.removeHandler(default_handler)  # Flask's plain one, had the logger been made before
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.after_request(add_request_id_header)


def init_metrics(app):
    """Count requests; no route serves the counts (path=None): anyone who reaches the API could read them.

    Labelled by route (/api/v1/tasks/<task_id>), not by URL: one series per
    endpoint however many ids there are. Each app has its own registry.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:  # set by gunicorn.conf.py (or the operator): each worker writes its counts there
        # prometheus_client writes there as soon as a metric exists, in a CLI
        # command run with the same environment too.
        os.makedirs(directory, exist_ok=True)
    PrometheusMetrics(app, path=None, group_by="url_rule", registry=CollectorRegistry(), defaults_prefix="taskapi")
