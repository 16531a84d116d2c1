"""Operator commands, besides Flask-Migrate's ``flask db``.

They apply the same rules as the API (the same schemas), so an account made
here could have been made through signup.
"""

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError

from . import idempotency, revocation
from .errors import APIError
from .extensions import db
from .models import new_account_values, utcnow
from .password_reset import operator_reset_link
from .passwords import hash_password
from .schemas import SignupSchema
from .tasks import store as task_store
from .tasks import sync
from .users import store as accounts

accounts_group = AppGroup("users", help="Accounts.")


def valid_signup(fields):
    """``fields`` checked by the signup schema, or a one-line error for the operator."""
    try:
        return SignupSchema().load(fields)
    except ValidationError as error:
        raise click.ClickException(f"invalid: {error.messages}") from None


tokens = AppGroup("tokens", help="Token revocations.")
idempotency_keys = AppGroup("idempotency", help="Idempotency-Key records.")
tombstones = AppGroup("tombstones", help="Deleted tasks remembered for syncing clients.")
maintenance = AppGroup("maintenance", help="The scheduled upkeep: every purge.")

# Every purge: the function that forgets, and how its result reads. Each runs in its own
# transaction, alone (its group's command) or with the others (maintenance run).
PURGES = {
    "tokens": (revocation.purge, "purged {0[0]} expired revocations and {0[1]} expired token families"),
    "idempotency": (idempotency.purge, "purged {} expired idempotency keys"),
    "tombstones": (sync.purge_tombstones, "purged {} tombstones"),
}


def purge(name):
    """Run one purge and commit it; returns the line that says what it forgot."""
    forget, result = PURGES[name]
    purged = forget()
    db.session.commit()
    return result.format(purged)


@accounts_group.command("create")
@click.option("--username", prompt=True)
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(username, email, password):
    """Create an account (asks for what is not given)."""
    account = valid_signup({"username": username, "email": email, "password": password})
    try:
        user_id = accounts.create_account(**account)
    except APIError:
        raise click.ClickException("username or email already exists") from None
    db.session.commit()
    click.echo(f"created user {user_id} ({account['username']})")


@accounts_group.command("list")
def list_users():
    """Every account: id, username, e-mail, created."""
    for account in accounts.all_accounts():
        click.echo(f"{account.id}\t{account.username}\t{account.email}\t{account.created_at.isoformat()}")


@accounts_group.command("reset-link")
@click.argument("email")
def reset_link(email):
    """Print a one-time password reset link for the account with EMAIL (for support without mail).

    The same link the e-mail would carry: it works once, for PASSWORD_RESET_TTL_SECONDS, and the
    account's older links stop working.
    """
    link = operator_reset_link(email.strip().lower())
    if link is None:
        raise click.ClickException("no account has that e-mail address")
    db.session.commit()
    click.echo(link)


@tokens.command("purge")
def purge_tokens():
    """Forget revocations, and sessions' refresh tokens, once the sessions' tokens have expired anyway."""
    click.echo(purge("tokens"))


@idempotency_keys.command("purge")
def purge_idempotency_keys():
    """Forget Idempotency-Key records older than IDEMPOTENCY_TTL_SECONDS."""
    click.echo(purge("idempotency"))


@tombstones.command("purge")
def purge_tombstones():
    """Forget tasks deleted over SYNC_TOMBSTONE_DAYS ago (older sync cursors then get 410)."""
    click.echo(purge("tombstones"))


@maintenance.command("run")
def run_maintenance():
    """Every purge, for a daily schedule (the Kubernetes CronJob, compose's maintenance service).

    Each result is a log line, JSON like the server's, for the scheduler's log.
    A purge that fails is logged and the others still run; the exit status is then 1.
    """
    failed = []
    for name in PURGES:
        try:
            current_app.logger.info(purge(name))
        except Exception:  # whatever it was, the other purges need not wait for its fix
            db.session.rollback()
            current_app.logger.exception("%s purge failed", name)
            failed.append(name)
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)}")


@click.command("seed")
@with_appcontext
@click.option("--users", "user_count", type=click.IntRange(1), default=10, show_default=True)
@click.option(
    "--tasks",
    "task_count",
    type=click.IntRange(0),
    default=100,
    show_default=True,
    help="Tasks in all, spread evenly over the users.",
)
@click.option("--prefix", default="user", show_default=True, help="Usernames are PREFIX1, PREFIX2, ...")
@click.option("--password", default="password123", show_default=True, help="Every seeded user's password.")
def seed(user_count, task_count, prefix, password):
    """Demo and benchmark data: PREFIXn / PREFIXn@example.com, with tasks."""
    names = [f"{prefix}{n}" for n in range(1, user_count + 1)]
    for name in {names[0], names[-1]}:  # the shortest and the longest name: the signup rules
        valid_signup({"username": name, "email": f"{name.lower()}@example.com", "password": password})
    hashed = hash_password(password)  # once: bcrypt per user would take minutes
    now = utcnow()
    # Task n belongs to user n % count and is that user's change number n // count + 1
    # (app/tasks/sync.py), so seeded tasks show in delta sync like any other.
    tasks_of = [len(range(i, task_count, user_count)) for i in range(user_count)]
    try:
        user_ids = accounts.seed_accounts(
            [
                {
                    **new_account_values(name, f"{name.lower()}@example.com", hashed),
                    "change_seq": tasks_of[i],
                    "task_count": tasks_of[i],
                }
                for i, name in enumerate(names)
            ]
        )
    except IntegrityError:
        raise click.ClickException(f"users named {prefix}N exist already: choose another --prefix") from None
    batch = 10_000
    for start in range(0, task_count, batch):
        task_store.seed_tasks(
            [
                {
                    "owner_id": user_ids[n % user_count],
                    "change_seq": n // user_count + 1,
                    "title": f"Task {n + 1}",
                    "description": None,
                    "due_date": None,
                    "completed": n % 3 == 0,
                    "completed_at": now if n % 3 == 0 else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(start, min(start + batch, task_count))
            ]
        )
    db.session.commit()
    click.echo(f"seeded {user_count} users and {task_count} tasks; password: {password}")


def init_cli(app):
    app.cli.add_command(accounts_group)
    app.cli.add_command(tokens)
    app.cli.add_command(idempotency_keys)
    app.cli.add_command(tombstones)
    app.cli.add_command(maintenance)
    app.cli.add_command(seed)
