"""Which sessions were logged out, shared by every worker and every replica.

Each login starts a session: its access and refresh tokens carry the same
``sid`` claim, and logging out revokes the session, so neither token works
afterwards. The record is kept until the longest-lived token of the session
(the refresh token) would have expired anyway.

Kept in Redis when ``REDIS_URL`` is set (keys expire by themselves), else in
the ``revoked_sessions`` table (expired rows are deleted at each logout and by
``flask tokens purge``). Never in process memory: another worker or replica
would still accept the token.
"""

from datetime import timedelta
import redis
from flask import current_app
from sqlalchemy import bindparam, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from .connections import run
from .extensions import db
from .models import revoked_sessions, utcnow

NOT_REVOKED = ~exists().where(revoked_sessions.c.session_id == bindparam("session_id"))
IS_REVOKED = select(revoked_sessions.c.session_id).where(revoked_sessions.c.session_id == bindparam("session_id"))
REVOKE = insert(revoked_sessions)
PURGE = delete(revoked_sessions).where(revoked_sessions.c.expires_at < bindparam("now"))


class DatabaseRevocations:
    def revoke(self, session_id, lifetime):
        """Record the revocation, in the request's transaction."""
        self.purge()
        if run(IS_REVOKED, {"session_id": session_id}):
            return
        try:
            run(REVOKE, {"session_id": session_id, "expires_at": utcnow() + lifetime})
        except IntegrityError:  # a concurrent logout of the same session got there first
            db.session.rollback()

    def revoked(self, _session_id):
        return False  # asked in the statement itself (checked)

    def checked(self, statement):
        """``statement`` narrowed to a session not revoked: one round trip for both.

        The session id is the statement's ``session_id`` parameter, which the
        caller binds (app/signed_in.py builds each checked statement once).
        """
        return statement.where(NOT_REVOKED)

    def check(self):
        """Readiness: the table lives in the database, which /readyz checks anyway."""

    def purge(self):
        """Forget revocations whose tokens have expired; returns how many."""
        return db.session.execute(PURGE, {"now": utcnow()}).rowcount


class RedisRevocations:
    PREFIX = "revoked-session:"

    def __init__(self, url):
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def revoke(self, session_id, lifetime):
        # Written at once (Redis has no part in the request's transaction);
        # a revocation that outlives a failed request does no harm.
        self.redis.set(self.PREFIX + session_id, 1, ex=lifetime + timedelta(seconds=1))

    def revoked(self, session_id):
        return bool(self.redis.exists(self.PREFIX + session_id))

    def checked(self, statement):
        return statement  # asked of Redis once per request (revoked)

    def check(self):
        """Readiness: Redis answers (raises RedisError, a 503, otherwise)."""
        self.redis.ping()

    def purge(self):
        return 0  # keys expire by themselves


def revocations():
    """The app's record of logged-out sessions."""
    return current_app.extensions["revocations"]


def revoke_session(user):
    """Log ``user`` out of the session of the token presented: neither of its tokens works again."""
    user.confirm()  # a token that is no longer good gets its 401, and revokes nothing
    revocations().revoke(user.session_id, current_app.config["JWT_REFRESH_TOKEN_EXPIRES"])


def init_revocations(app):
    url = app.config["REDIS_URL"]
    app.extensions["revocations"] = RedisRevocations(url) if url else DatabaseRevocations()
