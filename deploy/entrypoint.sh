#!/bin/sh
# The container's start command: migrate when asked, then become gunicorn.
# `exec` makes gunicorn PID 1's successor, so `docker stop` (SIGTERM) reaches
# it and it finishes the requests in flight (graceful_timeout) before exiting.
set -eu
if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    flask --app wsgi db upgrade
fi
exec gunicorn --config gunicorn.conf.py wsgi:app
