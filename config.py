"""Settings, read once from the environment and checked before the app starts.

One class per ``APP_ENV``. ``load_config`` returns a plain dict for
``app.config.from_mapping``; nothing else in the app reads ``os.environ``.
"""

import math
import os
import secrets
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

import limits
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENVIRONMENTS = ("development", "testing", "production")
MIN_SECRET_BYTES = 32  # HS256 wants a key at least as long as its 256-bit output
# Production's JWT_SECRET_KEY: at least this many bits by a crude estimate (its length
# times log2 of its distinct characters), and none of the placeholders this repository
# ships or shipped (tests/test_config.py reads each from its file).
MIN_SECRET_BITS = 128
PLACEHOLDER_SECRETS = frozenset(
    {
        "compose-development-secret-not-for-production-0123456789",  # docker-compose.yml's, before issue 18
        "CHANGE-ME-to-48-random-characters-CHANGE-ME-CHANGE-ME",  # deploy/k8s/secret.example.yaml
    }
)
GENERATE_A_SECRET = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
TEN_YEARS = 10 * 365 * 24 * 3600  # longer token lifetimes overflow dates, and make no sense


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line for the operator."""


def database_url(raw):
    """Return a SQLAlchemy URL for what hosting providers hand out.

    Neon, Heroku and others give ``postgres://`` or ``postgresql://`` URLs.
    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which we do not
    ship, so name the psycopg2 driver explicitly. Query options such as
    ``sslmode=require`` pass through untouched.
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a valid database URL") from None
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg2")
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise ConfigError("DATABASE_URL must be a PostgreSQL (or SQLite) URL")
    return url.render_as_string(hide_password=False)


# The only URLs our stores are tested with (and limits' own redis schemes). REDIS_URL is only the
# rate limiter's default storage, which spells a socket redis+unix:// (in RATELIMIT_STORAGE_URI).
REDIS_SCHEMES = ("redis", "rediss")
RATELIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")


def _url_with_scheme(env, name, schemes, default=None):
    value = env.get(name) or default
    if value is not None and value.split("://", 1)[0] not in schemes:
        raise ConfigError(f"{name} must be a URL starting with {', '.join(s + '://' for s in schemes)}")
    return value


def engine_options(url, env):
    """SQLAlchemy engine options that survive a managed PostgreSQL (Neon).

    Connections are checked before use and recycled before the server (or its
    pooler) drops them when idle; connecting and each statement have a time
    limit, so an outage answers 503 within seconds instead of hanging workers.
    """
    # hide_parameters: a logged database error never shows the values (hashes, e-mails).
    if make_url(url).get_backend_name() != "postgresql":
        return {"pool_pre_ping": True, "hide_parameters": True}
    connect_args = {"connect_timeout": _int(env, "DB_CONNECT_TIMEOUT", 5, minimum=1)}
    statement_timeout = _int(env, "DB_STATEMENT_TIMEOUT_MS", 30_000, minimum=0)
    # PgBouncer (Neon's "-pooler" endpoints) refuses the `options` startup
    # parameter: there, set statement_timeout on the role (see docs/operations.md).
    if statement_timeout and "-pooler" not in (make_url(url).host or ""):
        connect_args["options"] = f"-c statement_timeout={statement_timeout}"
    return {
        # No pool_pre_ping: app/connections.py checks a connection without a round trip.
        "hide_parameters": True,
        "pool_recycle": _int(env, "DB_POOL_RECYCLE", 300, minimum=1),
        "pool_size": _int(env, "DB_POOL_SIZE", 5, minimum=1),
        "max_overflow": _int(env, "DB_MAX_OVERFLOW", 5, minimum=0),
        "pool_timeout": _int(env, "DB_POOL_TIMEOUT", 10, minimum=1),
        "connect_args": connect_args,
    }


def _int(env, name, default, minimum, maximum=None):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(env, name, default):
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _rate_limit(env, name, default):
    value = env.get(name) or default
    try:
        limits.parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate limit such as '5/minute', got {value!r}") from None
    return value


def mail_settings(env, app_env):
    """SMTP for the mail the service sends (app/mail.py); with no ``MAIL_SERVER``, mail is logged instead."""
    server = env.get("MAIL_SERVER") or None
    use_tls, use_ssl = _bool(env, "MAIL_USE_TLS", False), _bool(env, "MAIL_USE_SSL", False)
    if use_tls and use_ssl:
        # STARTTLS upgrades a plain connection; SSL starts encrypted: a server speaks one or the other.
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be true")
    username, password = env.get("MAIL_USERNAME") or None, env.get("MAIL_PASSWORD") or None
    if (username is None) != (password is None):
        raise ConfigError("MAIL_USERNAME and MAIL_PASSWORD must be set together")
    sender = env.get("MAIL_DEFAULT_SENDER")
    if server and app_env == "production" and not sender:
        raise ConfigError("MAIL_DEFAULT_SENDER must be set in production when MAIL_SERVER is set")
    sender = sender or "Task API <no-reply@localhost>"
    if "@" not in parseaddr(sender)[1] or any(c in sender for c in "\r\n"):
        raise ConfigError(
            f"MAIL_DEFAULT_SENDER must be an address such as 'Task API <no-reply@example.com>', got {sender!r}"
        )
    return {
        "MAIL_SERVER": server,
        "MAIL_PORT": _int(env, "MAIL_PORT", 465 if use_ssl else 587 if use_tls else 25, minimum=1, maximum=65535),
        "MAIL_USERNAME": username,
        "MAIL_PASSWORD": password,
        "MAIL_USE_TLS": use_tls,
        "MAIL_USE_SSL": use_ssl,
        "MAIL_DEFAULT_SENDER": sender,
        # Each SMTP step waits at most this long: a slow server delays the mail, never a request.
        "MAIL_TIMEOUT": _int(env, "MAIL_TIMEOUT", 10, minimum=1, maximum=300),
    }


def password_reset_settings(env, app_env):
    """The link a reset e-mail carries, and how long it works."""
    url = env.get("PASSWORD_RESET_URL")
    if not url and app_env == "production" and env.get("MAIL_SERVER"):
        # The link must lead to the operator's own front end, which asks for the new password.
        raise ConfigError("PASSWORD_RESET_URL must be set in production when MAIL_SERVER is set")
    url = url or "http://localhost:3000/reset-password?token={token}"
    if "{token}" not in url or url.split("://", 1)[0] not in ("http", "https"):
        raise ConfigError(f"PASSWORD_RESET_URL must be an http(s) URL containing {{token}}, got {url!r}")
    return {
        "PASSWORD_RESET_URL": url,
        "PASSWORD_RESET_TTL_SECONDS": _int(env, "PASSWORD_RESET_TTL_SECONDS", 1800, minimum=1, maximum=7 * 24 * 3600),
    }


def _token_lifetimes(env):
    """How long an access and a refresh token live: an access token no longer than a refresh token."""
    access = _int(env, "JWT_ACCESS_TOKEN_EXPIRES", 15 * 60, minimum=1, maximum=TEN_YEARS)
    refresh = _int(env, "JWT_REFRESH_TOKEN_EXPIRES", 30 * 24 * 3600, minimum=1, maximum=TEN_YEARS)
    if access > refresh:
        raise ConfigError(
            f"JWT_ACCESS_TOKEN_EXPIRES ({access} s) must not be longer than JWT_REFRESH_TOKEN_EXPIRES ({refresh} s)"
        )
    return {
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=access),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=refresh),
    }


def _log_level(env):
    level = (env.get("LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}")
    return level


def _secret(env, name, fallback, production):
    value = env.get(name) or fallback
    if value is None:
        raise ConfigError(f"{name} must be set in production; {GENERATE_A_SECRET}")
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"{name} must be at least {MIN_SECRET_BYTES} bytes long; {GENERATE_A_SECRET}")
    if production and (value in PLACEHOLDER_SECRETS or "change-me" in value.lower()):
        raise ConfigError(f"{name} is a placeholder this repository ships; {GENERATE_A_SECRET}")
    if production and secret_bits(value) < MIN_SECRET_BITS:
        raise ConfigError(
            f"{name} is too easy to guess (about {secret_bits(value):.0f} bits, at least "
            f"{MIN_SECRET_BITS} wanted); {GENERATE_A_SECRET}"
        )
    return value


def secret_bits(value):
    """A crude upper estimate of a secret's entropy: its length times log2 of its distinct characters.

    "a" * 32 has none, a word repeated little; 48 random bytes in base64 (64
    characters of about 50 kinds) about 360 bits. It cannot see a phrase
    someone could guess: only generated keys are good ones.
    """
    return len(value) * math.log2(len(set(value))) if value else 0.0


def _development_secret(instance_path):
    """A random secret kept in instance/ so every worker and restart shares it.

    Only for development: production must be given its secrets.
    """
    path = Path(instance_path) / "dev-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(instance_path, env=None):
    """Build the settings for ``APP_ENV`` from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    app_env = env.get("APP_ENV") or "development"
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")
    if app_env == "production" and not env.get("DATABASE_URL"):
        raise ConfigError("DATABASE_URL must be set in production")
    raw_url = env.get("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'app.db'}"
    redis_url = _url_with_scheme(env, "REDIS_URL", REDIS_SCHEMES)

    if app_env == "development":
        fallback_secret = _development_secret(instance_path)
    elif app_env == "testing":  # tokens live no longer than the test process
        fallback_secret = secrets.token_urlsafe(48)
    else:
        fallback_secret = None  # production must be given its secrets
    return {
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        # Flask signs nothing this API relies on; a random key just keeps it non-empty.
        "SECRET_KEY": env.get("SECRET_KEY") or fallback_secret or secrets.token_urlsafe(48),
        "SQLALCHEMY_DATABASE_URI": database_url(raw_url),
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url(raw_url), env),
        # Migrations may need another endpoint: Neon's direct one, not the pooler.
        "MIGRATIONS_DATABASE_URL": database_url(env["MIGRATIONS_DATABASE_URL"])
        if env.get("MIGRATIONS_DATABASE_URL")
        else None,
        "JWT_SECRET_KEY": _secret(env, "JWT_SECRET_KEY", fallback_secret, production=app_env == "production"),
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_COOKIE_CSRF_PROTECT": False,  # bearer headers only: no CSRF claim needed
        **_token_lifetimes(env),
        # Rate-limit counters shared by every worker and replica, unless
        # RATELIMIT_STORAGE_URI names another store. (Revocations live in the
        # database, always: app/revocation.py.)
        "REDIS_URL": redis_url,
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": _url_with_scheme(
            env, "RATELIMIT_STORAGE_URI", RATELIMIT_SCHEMES, default=redis_url or "memory://"
        ),
        "RATELIMIT_KEY_PREFIX": "taskapi",
        "RATELIMIT_HEADERS_ENABLED": True,  # Retry-After on every 429
        # If Redis goes away, count in memory rather than fail every request.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SIGNUP": _rate_limit(env, "RATELIMIT_SIGNUP", "5/minute;50/hour"),
        "RATELIMIT_LOGIN": _rate_limit(env, "RATELIMIT_LOGIN", "20/minute"),
        "RATELIMIT_LOGIN_PER_EMAIL": _rate_limit(env, "RATELIMIT_LOGIN_PER_EMAIL", "5/minute"),
        "RATELIMIT_REFRESH": _rate_limit(env, "RATELIMIT_REFRESH", "30/minute"),
        "RATELIMIT_PASSWORD_RESET": _rate_limit(env, "RATELIMIT_PASSWORD_RESET", "5/minute;20/hour"),
        "RATELIMIT_PASSWORD_RESET_PER_EMAIL": _rate_limit(env, "RATELIMIT_PASSWORD_RESET_PER_EMAIL", "3/hour"),
        "RATELIMIT_PASSWORD_RESET_CONFIRM": _rate_limit(env, "RATELIMIT_PASSWORD_RESET_CONFIRM", "10/minute"),
        # Per signed-in user: every check of current_password (one budget for the routes that
        # check it), and every change of the account.
        "RATELIMIT_ACCOUNT_PASSWORD": _rate_limit(env, "RATELIMIT_ACCOUNT_PASSWORD", "5/minute"),
        "RATELIMIT_ACCOUNT_CHANGES": _rate_limit(env, "RATELIMIT_ACCOUNT_CHANGES", "10/minute"),
        # Task creates, updates and deletes, one budget per user (whichever session).
        "RATELIMIT_TASK_WRITES": _rate_limit(env, "RATELIMIT_TASK_WRITES", "600/minute"),
        # Ending a membership (removing a member, leaving) or deleting a list, per user: each writes a
        # departure per task of the list (up to MAX_TASKS_PER_LIST), kept SYNC_TOMBSTONE_DAYS.
        "RATELIMIT_LIST_ENDINGS": _rate_limit(env, "RATELIMIT_LIST_ENDINGS", "30/hour"),
        # A create past them is a 409: a user's private tasks (users.task_count), a shared list's
        # tasks (lists.task_count), both kept by app/signed_in.py.
        "MAX_TASKS_PER_USER": _int(env, "MAX_TASKS_PER_USER", 100_000, minimum=1, maximum=2**31 - 1),
        "MAX_TASKS_PER_LIST": _int(env, "MAX_TASKS_PER_LIST", 100_000, minimum=1, maximum=2**31 - 1),
        # The lists a user may be a member of (their own included): each is a part of every page
        # and sync of theirs (app/tasks/keyset.py, app/tasks/sync.py), and a position in their sync
        # cursor (200 of them: under 4 KB, within the sync's `since` and gunicorn's request line).
        "MAX_LISTS_PER_USER": _int(env, "MAX_LISTS_PER_USER", 100, minimum=1, maximum=200),
        # How many proxies in front of the app set X-Forwarded-For/-Proto; 0
        # trusts none, so a client cannot pick its own address for the limits.
        # Idempotency-Key records: kept a day; a reservation whose request died
        # (a crashed worker) is taken over after a minute.
        "IDEMPOTENCY_TTL_SECONDS": _int(env, "IDEMPOTENCY_TTL_SECONDS", 24 * 3600, minimum=60, maximum=TEN_YEARS),
        "IDEMPOTENCY_LOCK_SECONDS": _int(env, "IDEMPOTENCY_LOCK_SECONDS", 60, minimum=1, maximum=3600),
        # Delta sync: deleted tasks are remembered this long (older cursors: 410).
        "SYNC_TOMBSTONE_DAYS": _int(env, "SYNC_TOMBSTONE_DAYS", 30, minimum=1, maximum=3650),
        "PROXY_FIX_X_FOR": _int(env, "PROXY_FIX_X_FOR", 0, minimum=0),
        # The OpenAPI document, built by flask-smorest from the schemas.
        "API_TITLE": "Task API",
        "API_VERSION": "1.0.0",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
        },
        "CORS_ORIGINS": [o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",") if o.strip()],
        # bcrypt's floor is 4; tests use it, production keeps the default of 12.
        "BCRYPT_LOG_ROUNDS": _int(env, "BCRYPT_LOG_ROUNDS", 12, minimum=4, maximum=31),
        "LOG_LEVEL": _log_level(env),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
        **mail_settings(env, app_env),
        **password_reset_settings(env, app_env),
    }
