# Two stages: the virtualenv is built in the first, and only it and the
# application's files reach the second, which runs as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# Every requirement is pinned, dependencies included, and ships as a wheel.
RUN /opt/venv/bin/pip install --no-deps -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
COPY config.py wsgi.py gunicorn.conf.py ./
COPY app ./app
COPY migrations ./migrations
COPY deploy/entrypoint.sh /usr/local/bin/entrypoint
USER 10001
# The API, and the metrics (METRICS_PORT) for a scraper inside the network only.
EXPOSE 8000 9100
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
ENTRYPOINT ["/usr/local/bin/entrypoint"]
