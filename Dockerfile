# A first working image; issue 5 hardens it (multi-stage, healthcheck, entrypoint).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production \
    PORT=8000

WORKDIR /srv
COPY requirements.txt .
RUN pip install -r requirements.txt \
    && useradd --create-home --uid 10001 app

COPY config.py wsgi.py ./
COPY app ./app
COPY migrations ./migrations

USER app
EXPOSE 8000
# Run `flask --app wsgi db upgrade` once per release (a job), then this.
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT} --workers 2 --worker-class gthread --threads 4 --no-control-socket --access-logfile - wsgi:app"]
