"""Operator commands, besides Flask-Migrate's ``flask db``."""

import click
from flask import current_app
from flask.cli import AppGroup

from .extensions import db

tokens = AppGroup("tokens", help="Token revocations.")


@tokens.command("purge")
def purge_tokens():
    """Forget revocations of sessions whose tokens have expired anyway."""
    purged = current_app.extensions["revocations"].purge()
    db.session.commit()
    click.echo(f"purged {purged} expired revocations")


def init_cli(app):
    app.cli.add_command(tokens)
