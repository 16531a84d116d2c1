"""The one gunicorn configuration, used by `make run` and by the container image.

Everything comes from the environment (see docs/configuration.md).
gunicorn reads this file itself: `gunicorn -c gunicorn.conf.py wsgi:app`.
"""

import json
import multiprocessing
import os
import shutil
import tempfile
from datetime import datetime, timezone

from gunicorn.glogging import Logger


def _int(name, default):
    return int(os.environ.get(name) or default)


# Where to listen: all interfaces in a container (the image sets HOST=0.0.0.0),
# loopback on a laptop.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000)}"

# Threads serve the requests that wait on the database; processes use the cores.
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count()))
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)  # a worker silent this long is restarted
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)  # SIGTERM: finish requests first
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then (a leak cannot grow for ever), not all at once.
# (Restarting a worker costs a second of CPU: not too often under load.)
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)
# The longest request line gunicorn's own limit allows: a long query string
# reaches the app, which refuses it in JSON (a 422), where gunicorn would answer
# an HTML 414 past its default of 4094 bytes.
limit_request_line = 8190
# Proxies whose X-Forwarded-Proto gunicorn believes (the app's own
# PROXY_FIX_X_FOR decides about client addresses).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeats on tmpfs: works with a read-only root filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No control socket: nothing to write in a container, nothing to attack.
control_socket_disable = True

# Metrics from every worker, added up by the master and served on a port of
# its own (prometheus_client's multiprocess mode, as its documentation sets it
# up for gunicorn): each worker writes its own files in this directory. Not on
# the API's port, where anyone who reaches the API could read them: a scraper
# reaches METRICS_PORT (inside a cluster, on the pod's own address).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="taskapi-metrics-")
metrics_bind = (os.environ.get("METRICS_HOST") or os.environ.get("HOST") or "127.0.0.1", _int("METRICS_PORT", 9100))


def on_starting(server):
    # Counters from a previous run must not be added to this one's.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def when_ready(server):
    """Serve every worker's counts from the master, at any path of METRICS_HOST:METRICS_PORT."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    host, port = metrics_bind
    start_http_server(port, host, registry)  # a port taken stops the start here, with the reason in the log
    server.log.info("Serving metrics at http://%s:%s/metrics", host, port)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class JSONLogger(Logger):
    """Every line as a JSON object: the access log (with the response's
    X-Request-ID), gunicorn's own messages and the libraries', like the app's."""

    def setup(self, cfg):
        super().setup(cfg)
        # Imported here, after PROMETHEUS_MULTIPROC_DIR is set above.
        from app.observability import JSONFormatter, configure_logging

        for handler in self.error_log.handlers:
            handler.setFormatter(JSONFormatter())
        # The libraries' lines too, in the master (the workers inherit it).
        configure_logging(self.loglevel)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_log.info(
            json.dumps(
                {
                    "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "level": "INFO",
                    "logger": "access",
                    "request_id": atoms.get("{x-request-id}o"),
                    "method": atoms["m"],
                    "path": atoms["U"],
                    "query": atoms["q"],
                    "status": int(atoms["s"]),
                    "bytes": atoms["B"],
                    "duration_ms": round(atoms["D"] / 1000, 3),
                    "remote": atoms["h"],
                    "user_agent": atoms["a"],
                }
            )
        )


logger_class = JSONLogger
accesslog = "-"  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
