"""A login's session: its refresh token rotated at every refresh, and its end, recorded in the database.

Each login starts a session: its access and refresh tokens carry the same
``sid`` claim. The session ends, and neither kind of token of it works again,
when it is logged out or when one of its refresh tokens is used a second
time (RFC 9700, 4.14: a used refresh token presented again was stolen, or a
client holds a copy it should have thrown away; either way the whole login
is revoked, the tokens of whoever refreshed first included).

Revocations live in the ``revoked_sessions`` table, always: the database is
the record of every logout. Each is kept until the session's refresh token
expires (the token's own ``exp``, which every token of the session carries as ``sxp``),
whatever JWT_REFRESH_TOKEN_EXPIRES says later; expired ones are deleted at
each logout and by ``flask tokens purge``. The check rides in every statement
on a user's data (``checked``: app/signed_in.py), so it costs no round trip
of its own. Redis, when configured, holds rate-limit counters only: losing
it, flushing it or turning it on later can bring no session back.

A session's current refresh token is its row of ``token_families`` (by
``jti``), from its first refresh on; app/users/store.py rotates it in one
conditional UPDATE, so of two requests that present the same token only one
can match, and the other finds it used and revokes the session here.
"""

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from .connections import run
from .errors import not_authenticated
from .extensions import db
from .models import revoked_sessions, token_families, utcnow

SESSION_ID = bindparam("session_id")
NOT_REVOKED = ~exists().where(revoked_sessions.c.session_id == SESSION_ID)
IS_REVOKED = select(revoked_sessions.c.session_id).where(revoked_sessions.c.session_id == SESSION_ID)
REVOKE = insert(revoked_sessions)
NOW = bindparam("now")
PURGE = (
    delete(revoked_sessions).where(revoked_sessions.c.expires_at < NOW),
    delete(token_families).where(token_families.c.expires_at < NOW),
)


class DatabaseRevocations:
    """The check of a session against its revocation, in the statement that reads the user's data."""

    def checked(self, statement):
        """``statement`` narrowed to a session not revoked: one round trip for both.

        The session id is the statement's ``session_id`` parameter, which the
        caller binds (app/signed_in.py builds each checked statement once).
        """
        return statement.where(NOT_REVOKED)


def revocations():
    """The app's check of logged-out sessions."""
    return current_app.extensions["revocations"]


def revoke_session(user):
    """Log ``user`` out of the session of the token presented: none of its tokens works again."""
    user.confirm()  # a token that is no longer good gets its 401, and revokes nothing
    _revoke(user.session_id, user.session_ends)


def revoke_reused_session(user):
    """Revoke the session of ``user``'s refresh token, which was used before, and answer 401.

    Committed at once, alone: the revocation stands whatever this request
    answers (nothing else of it is kept).
    """
    db.session.rollback()
    _revoke(user.session_id, user.session_ends)
    db.session.commit()
    return not_authenticated()


def purge():
    """Forget revocations, and sessions' current refresh tokens, once their tokens have expired; how many of each."""
    return tuple(db.session.execute(statement, {"now": utcnow()}).rowcount for statement in PURGE)


def _revoke(session_id, session_ends):
    """Record the revocation until ``session_ends`` (a Unix time: the session's refresh token's exp)."""
    purge()
    if run(IS_REVOKED, {"session_id": session_id}):
        return
    try:
        run(REVOKE, {"session_id": session_id, "expires_at": datetime.fromtimestamp(session_ends, timezone.utc)})
    except IntegrityError:  # a concurrent revocation of the same session got there first
        db.session.rollback()


def init_revocations(app):
    app.extensions["revocations"] = DatabaseRevocations()
