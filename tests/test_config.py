"""Settings come from the environment, and production refuses unsafe ones."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from config import GENERATE_A_SECRET, PLACEHOLDER_SECRETS, ConfigError, database_url, load_config, secret_bits
from tests.conftest import PRODUCTION_KEY

ROOT = Path(__file__).resolve().parent.parent
SECRET = PRODUCTION_KEY
PRODUCTION = {"APP_ENV": "production", "DATABASE_URL": "postgresql://u:p@db.example/app", "JWT_SECRET_KEY": SECRET}


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgres://u:p@host/db", "postgresql+psycopg2://u:p@host/db"),
        (
            "postgresql://u:p@host:5433/db?sslmode=require&channel_binding=require",
            "postgresql+psycopg2://u:p@host:5433/db?sslmode=require&channel_binding=require",
        ),
        ("postgresql+psycopg2://u@host/db", "postgresql+psycopg2://u@host/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_hosted_database_urls_use_psycopg2(given, expected):
    # Same driver, credentials, host and query options (their order may change).
    assert make_url(database_url(given)) == make_url(expected)


def test_development_defaults_to_sqlite_under_instance(tmp_path):
    config = load_config(tmp_path, env={})
    assert config["APP_ENV"] == "development"
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'app.db'}"
    assert config["BCRYPT_LOG_ROUNDS"] == 12
    assert config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds() == 900


def test_development_secret_is_random_and_shared_by_every_worker(tmp_path):
    first = load_config(tmp_path, env={})["JWT_SECRET_KEY"]
    assert len(first) >= 32
    assert load_config(tmp_path, env={})["JWT_SECRET_KEY"] == first
    assert load_config(tmp_path / "other", env={})["JWT_SECRET_KEY"] != first
    assert (tmp_path / "dev-secret").stat().st_mode & 0o077 == 0


def test_production_reads_its_settings(tmp_path):
    env = {
        **PRODUCTION,
        "JWT_ACCESS_TOKEN_EXPIRES": "60",
        "BCRYPT_LOG_ROUNDS": "13",
        "REDIS_URL": "redis://cache:6379/0",
        "RATELIMIT_ENABLED": "off",
        "CORS_ORIGINS": " https://a.example ,https://b.example,",
        "PROXY_FIX_X_FOR": "1",
    }
    config = load_config(tmp_path, env=env)
    assert config["RATELIMIT_ENABLED"] is False
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"  # limits shared through Redis too
    assert config["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert config["PROXY_FIX_X_FOR"] == 1
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://u:p@db.example/app"
    assert config["JWT_SECRET_KEY"] == SECRET
    assert config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds() == 60
    assert config["BCRYPT_LOG_ROUNDS"] == 13
    assert not (tmp_path / "dev-secret").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL must be set in production"),
        ({"JWT_SECRET_KEY": ""}, "JWT_SECRET_KEY must be set in production; " + GENERATE_A_SECRET),
        ({"JWT_SECRET_KEY": "short"}, "JWT_SECRET_KEY must be at least 32 bytes long; " + GENERATE_A_SECRET),
        (
            {"JWT_SECRET_KEY": "a" * 32},
            "JWT_SECRET_KEY is too easy to guess (about 0 bits, at least 128 wanted); " + GENERATE_A_SECRET,
        ),
        (
            {"JWT_SECRET_KEY": "password" * 4},
            "JWT_SECRET_KEY is too easy to guess (about 90 bits, at least 128 wanted); " + GENERATE_A_SECRET,
        ),
        (
            {"JWT_ACCESS_TOKEN_EXPIRES": "3600", "JWT_REFRESH_TOKEN_EXPIRES": "600"},
            "JWT_ACCESS_TOKEN_EXPIRES (3600 s) must not be longer than JWT_REFRESH_TOKEN_EXPIRES (600 s)",
        ),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a valid database URL"),
        ({"APP_ENV": "staging"}, "APP_ENV must be one of development, testing, production, got 'staging'"),
        ({"BCRYPT_LOG_ROUNDS": "twelve"}, "BCRYPT_LOG_ROUNDS must be a whole number, got 'twelve'"),
        ({"BCRYPT_LOG_ROUNDS": "3"}, "BCRYPT_LOG_ROUNDS must be at least 4, got 3"),
        ({"JWT_ACCESS_TOKEN_EXPIRES": "0"}, "JWT_ACCESS_TOKEN_EXPIRES must be at least 1, got 0"),
        ({"BCRYPT_LOG_ROUNDS": "32"}, "BCRYPT_LOG_ROUNDS must be at most 31, got 32"),
        (
            {"JWT_ACCESS_TOKEN_EXPIRES": "100000000000000"},
            "JWT_ACCESS_TOKEN_EXPIRES must be at most 315360000, got 100000000000000",
        ),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must be a PostgreSQL (or SQLite) URL"),
        ({"REDIS_URL": "notaurl"}, "REDIS_URL must be a URL starting with redis://, rediss://"),
        # It is only the rate limiter's default storage, which spells a socket redis+unix://.
        ({"REDIS_URL": "unix:///run/redis.sock"}, "REDIS_URL must be a URL starting with redis://, rediss://"),
        (
            {"RATELIMIT_STORAGE_URI": "bogus://x"},
            "RATELIMIT_STORAGE_URI must be a URL starting with memory://, "
            "redis://, rediss://, redis+unix://, redis+sentinel://, redis+cluster://",
        ),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'LOUD'"),
        ({"RATELIMIT_ENABLED": "maybe"}, "RATELIMIT_ENABLED must be true or false, got 'maybe'"),
        ({"RATELIMIT_LOGIN": "lots"}, "RATELIMIT_LOGIN must be a rate limit such as '5/minute', got 'lots'"),
        (
            {"RATELIMIT_PASSWORD_RESET_PER_EMAIL": "3/fortnight"},
            "RATELIMIT_PASSWORD_RESET_PER_EMAIL must be a rate limit such as '5/minute', got '3/fortnight'",
        ),
        (
            {"RATELIMIT_ACCOUNT_PASSWORD": "often"},
            "RATELIMIT_ACCOUNT_PASSWORD must be a rate limit such as '5/minute', got 'often'",
        ),
        (
            {"MAIL_SERVER": "smtp.example.com", "MAIL_DEFAULT_SENDER": "app@example.com"},
            "PASSWORD_RESET_URL must be set in production when MAIL_SERVER is set",
        ),
        (
            {"MAIL_SERVER": "smtp.example.com", "PASSWORD_RESET_URL": "https://app.example.com/reset?token={token}"},
            "MAIL_DEFAULT_SENDER must be set in production when MAIL_SERVER is set",
        ),
        (
            {"PASSWORD_RESET_URL": "https://app.example.com/reset"},
            "PASSWORD_RESET_URL must be an http(s) URL containing {token}, got 'https://app.example.com/reset'",
        ),
        (
            {"PASSWORD_RESET_URL": "javascript:alert(1)//{token}"},
            "PASSWORD_RESET_URL must be an http(s) URL containing {token}, got 'javascript:alert(1)//{token}'",
        ),
        ({"PASSWORD_RESET_TTL_SECONDS": "0"}, "PASSWORD_RESET_TTL_SECONDS must be at least 1, got 0"),
        ({"MAIL_PORT": "smtp"}, "MAIL_PORT must be a whole number, got 'smtp'"),
        ({"MAIL_PORT": "70000"}, "MAIL_PORT must be at most 65535, got 70000"),
        ({"MAIL_USE_TLS": "true", "MAIL_USE_SSL": "true"}, "MAIL_USE_TLS and MAIL_USE_SSL cannot both be true"),
        ({"MAIL_USERNAME": "app"}, "MAIL_USERNAME and MAIL_PASSWORD must be set together"),
        (
            {"MAIL_DEFAULT_SENDER": "nobody"},
            "MAIL_DEFAULT_SENDER must be an address such as 'Task API <no-reply@example.com>', got 'nobody'",
        ),
    ],
)
def test_unsafe_settings_are_refused(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, env={**PRODUCTION, **change})
    assert str(error.value) == message


def test_mail_settings(tmp_path):
    """No MAIL_SERVER: mail is logged (app/mail.py). Configured: the port follows TLS or SSL unless given."""
    config = load_config(tmp_path, env={})
    assert config["MAIL_SERVER"] is None and config["MAIL_PORT"] == 25 and config["MAIL_TIMEOUT"] == 10
    assert config["PASSWORD_RESET_URL"] == "http://localhost:3000/reset-password?token={token}"
    assert config["PASSWORD_RESET_TTL_SECONDS"] == 1800
    assert config["RATELIMIT_PASSWORD_RESET"] == "5/minute;20/hour"
    env = {
        **PRODUCTION,
        "MAIL_SERVER": "smtp.example.com",
        "MAIL_USE_TLS": "true",
        "MAIL_USERNAME": "app",
        "MAIL_PASSWORD": "secret",
        "MAIL_DEFAULT_SENDER": "Task API <tasks@example.com>",
        "PASSWORD_RESET_URL": "https://app.example.com/reset?token={token}",
    }
    config = load_config(tmp_path, env=env)
    assert (config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_USE_TLS"]) == ("smtp.example.com", 587, True)
    assert load_config(tmp_path, env={**env, "MAIL_USE_TLS": "", "MAIL_USE_SSL": "yes"})["MAIL_PORT"] == 465
    assert load_config(tmp_path, env={**env, "MAIL_PORT": "2525"})["MAIL_PORT"] == 2525


def shipped_secrets():
    """Every JWT_SECRET_KEY value this repository ships for someone to copy: compose's default, the
    Kubernetes example Secret's, .env.example's (empty: "must be set"), and the ones it shipped before."""
    compose = (ROOT / "docker-compose.yml").read_text()
    secret_example = (ROOT / "deploy" / "k8s" / "secret.example.yaml").read_text()
    env_example = (ROOT / ".env.example").read_text()
    found = set(PLACEHOLDER_SECRETS)
    found.update(re.findall(r"\$\{JWT_SECRET_KEY:-([^}]*)\}", compose))
    found.update(re.findall(r"^\s+JWT_SECRET_KEY: (\S.*)$", secret_example, re.MULTILINE))
    found.update(re.findall(r"^JWT_SECRET_KEY=(.*)$", env_example, re.MULTILINE))
    assert "JWT_SECRET_KEY" in compose and len(found) >= 3
    return sorted(found)


@pytest.mark.parametrize("shipped", shipped_secrets())
def test_production_refuses_every_key_the_repository_ships(tmp_path, shipped):
    with pytest.raises(ConfigError, match=r"^JWT_SECRET_KEY .*; generate one with: python3 -c"):
        load_config(tmp_path, env={**PRODUCTION, "JWT_SECRET_KEY": shipped})


def test_generated_keys_pass_and_guessable_ones_do_not():
    assert secret_bits(secrets.token_urlsafe(48)) > 300
    assert secret_bits(secrets.token_hex(32)) >= 230
    assert secret_bits("ab" * 40) == 80 and secret_bits("") == 0


def test_development_and_tests_need_only_32_bytes(tmp_path):
    """Only production asks for a generated key: a developer's own is theirs to choose."""
    assert load_config(tmp_path, env={"JWT_SECRET_KEY": "a" * 32})["JWT_SECRET_KEY"] == "a" * 32


def test_a_short_secret_is_refused_in_development_too(tmp_path):
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_config(tmp_path, env={"JWT_SECRET_KEY": "x" * 31})


def test_production_without_a_secret_will_not_start(tmp_path):
    """The operator sees one line and a non-zero exit, not a traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET_KEY", "DATABASE_URL")}
    env.update(APP_ENV="production", DATABASE_URL="sqlite:///" + str(tmp_path / "x.db"))
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert result.stderr == f"configuration error: JWT_SECRET_KEY must be set in production; {GENERATE_A_SECRET}\n"


def test_postgres_engine_survives_a_managed_server(tmp_path):
    options = load_config(tmp_path, env={**PRODUCTION, "DB_POOL_SIZE": "7", "DB_STATEMENT_TIMEOUT_MS": "5000"})[
        "SQLALCHEMY_ENGINE_OPTIONS"
    ]
    # Checked at checkout without a round trip instead (app/connections.py, tests/test_reliability.py).
    assert "pool_pre_ping" not in options and options["pool_recycle"] == 300
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"]) == (7, 5, 10)
    assert options["connect_args"] == {"connect_timeout": 5, "options": "-c statement_timeout=5000"}


def test_no_startup_options_through_neons_pooler(tmp_path):
    pooled = "postgresql://app:pw@ep-cool-name-123-pooler.eu-central-1.aws.neon.tech/app?sslmode=require"
    options = load_config(tmp_path, env={**PRODUCTION, "DATABASE_URL": pooled})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"connect_timeout": 5}


def test_sqlite_gets_no_pool_settings(tmp_path):
    assert load_config(tmp_path, env={})["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_pre_ping": True,
        "hide_parameters": True,
    }
