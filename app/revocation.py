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
from functools import lru_cache

import redis
from sqlalchemy import bindparam, delete, exists

from .extensions import db
from .models import RevokedSession, utcnow


class DatabaseRevocations:
    def revoke(self, session_id, lifetime):
        """Record the revocation; the caller commits it with the request's transaction."""
        self.purge()
        if db.session.get(RevokedSession, session_id) is None:
            db.session.add(RevokedSession(session_id=session_id, expires_at=utcnow() + lifetime))

    def unless_revoked(self, query, session_id):
        """``query`` narrowed to sessions not revoked: checked in the same statement.

        The session id is the statement's ``session_id`` parameter, which the
        caller binds, so the statement is built once, not per request.
        """
        return _not_revoked(query)

    def check(self):
        """Readiness: the table lives in the database, which /readyz checks anyway."""

    def purge(self):
        """Forget revocations whose tokens have expired; returns how many."""
        return db.session.execute(delete(RevokedSession).where(RevokedSession.expires_at < utcnow())).rowcount


# Every statement that checks a token: the user lookup, a task, the change
# number and the list in each of its (at most 64) sort orders.
@lru_cache(maxsize=128)
def _not_revoked(query):
    return query.where(~exists().where(RevokedSession.session_id == bindparam("session_id")))


class RedisRevocations:
    PREFIX = "revoked-session:"

    def __init__(self, url):
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def revoke(self, session_id, lifetime):
        # Written at once (Redis has no part in the request's transaction);
        # a revocation that outlives a failed request does no harm.
        self.redis.set(self.PREFIX + session_id, 1, ex=lifetime + timedelta(seconds=1))

    def unless_revoked(self, query, session_id):
        """``query``, or None when the session is revoked (asked of Redis first)."""
        return None if self.redis.exists(self.PREFIX + session_id) else query

    def check(self):
        """Readiness: Redis answers (raises RedisError, a 503, otherwise)."""
        self.redis.ping()

    def purge(self):
        return 0  # keys expire by themselves


def init_revocations(app):
    url = app.config["REDIS_URL"]
    app.extensions["revocations"] = RedisRevocations(url) if url else DatabaseRevocations()
