"""Idempotency-Key: a retried request answers once, and writes once.

The first request with a key reserves it (committed at once, so a concurrent
repeat sees it and gets 409); its answer then completes the record in the
write's own transaction, which commits both; a repeat with the same key
and the same body replays that answer with ``Idempotent-Replayed: true``; the
same key with another body is a 422. A request that fails releases its key,
so a retry runs again. A request whose commit fails keeps its reservation
(the commit may have gone through, and a released key could let a retry write
twice), and so does a worker that crashed: a retry takes it over after
IDEMPOTENCY_LOCK_SECONDS.

Records live in the database even when REDIS_URL is set: only there can a
record commit together with the write it answers.
"""

import hashlib
import hmac
import json
import re
from contextlib import suppress
from datetime import timedelta
from functools import wraps

from flask import current_app, request
from flask_limiter.util import get_remote_address
from marshmallow import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .errors import APIError
from .extensions import db
from .models import IdempotencyRecord, utcnow

HEADER = "Idempotency-Key"
# What a replay sends again besides the body: the task's version, for instance.
REPLAYED_HEADERS = ("ETag",)
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces


def request_fingerprint():
    """Keyed hash of the method, path and body: equal for equal requests.

    Keyed (HMAC with the server's secret), since a signup body holds a
    password: a plain hash kept a day would be a fast way to guess it.
    """
    body = request.get_data()
    with suppress(ValueError, RecursionError):  # the same JSON written differently is the same request
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    secret = ("idempotency:" + current_app.config["JWT_SECRET_KEY"]).encode()
    message = request.method.encode() + b" " + request.path.encode() + b"\n" + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _reserve(scope, key, fingerprint):
    """Reserve the key: (its reservation token, None), or (None, the record that holds it)."""
    config = current_app.config
    for _ in range(3):  # a holder may release its record between our INSERT and SELECT
        now = utcnow()
        token = now + timedelta(seconds=config["IDEMPOTENCY_LOCK_SECONDS"])
        expires = now + timedelta(seconds=config["IDEMPOTENCY_TTL_SECONDS"])
        db.session.add(
            IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint, locked_until=token, expires_at=expires)
        )
        try:
            db.session.commit()
            return token, None
        except IntegrityError:
            db.session.rollback()
        existing = db.session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
        if existing is None:
            continue
        expired = existing.expires_at < now
        abandoned = existing.status_code is None and existing.locked_until < now  # its worker died mid-request
        if not (expired or abandoned):
            return None, existing
        # Take it over, unless another request just did (compare and set).
        taken = db.session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.locked_until == existing.locked_until,
            )
            .values(
                fingerprint=fingerprint,
                status_code=None,
                response_body=None,
                response_headers=None,
                locked_until=token,
                expires_at=expires,
            )
        ).rowcount
        db.session.commit()
        if taken:
            return token, None
    raise APIError(409, "A request with this Idempotency-Key is still in progress")


def _own(scope, key, token):
    """The reservation this request made, and no later one."""
    return (
        (IdempotencyRecord.scope == scope) & (IdempotencyRecord.key == key) & (IdempotencyRecord.locked_until == token)
    )


def idempotent(scope_of):
    """Honour an Idempotency-Key header on this write; ``scope_of(*args)`` names whose keys these are.

    Placed above ``@bp.response``: what it records is the answer the client
    gets, in the write's own transaction, which the blueprint commits.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return view(*args, **kwargs)
            if not VALID_KEY.fullmatch(key):
                raise ValidationError({HEADER: ["Must be 1 to 255 printable ASCII characters."]})
            scope, fingerprint = scope_of(*args), request_fingerprint()
            token, existing = _reserve(scope, key, fingerprint)
            if existing is not None:
                return _replay(existing, fingerprint)
            try:
                response = view(*args, **kwargs)
            except Exception:
                # Nothing was written: release the key, so that a retry runs again.
                db.session.rollback()
                db.session.execute(delete(IdempotencyRecord).where(_own(scope, key, token)))
                db.session.commit()
                raise
            _record(scope, key, token, response)
            return response

        return wrapper

    return decorator


def _replay(record, fingerprint):
    """The answer ``record`` holds for this request, or why it has none."""
    if record.fingerprint != fingerprint:
        raise APIError(422, "Idempotency-Key was already used with another request")
    if record.status_code is None:
        raise APIError(409, "A request with this Idempotency-Key is still in progress")
    response = current_app.response_class(record.response_body, record.status_code, mimetype="application/json")
    response.headers.extend(json.loads(record.response_headers or "{}"))
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _record(scope, key, token, response):
    """Complete the reservation with ``response``: its status, its exact bytes and the headers that belong to it."""
    headers = {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
    db.session.execute(
        update(IdempotencyRecord)
        .where(_own(scope, key, token))
        .values(
            status_code=response.status_code,
            response_body=response.get_data(as_text=True),
            response_headers=json.dumps(headers),
        )
    )


def user_scope(user, *_args):
    """The signed-in user's keys. The user is checked first: nothing is reserved for a token no longer good."""
    return f"user:{user.confirm().id}"


def signup_scope(*_args):
    # Hashed: an address (IPv6, or a long forwarded value) has no length limit.
    return "signup:" + hashlib.sha256(get_remote_address().encode()).hexdigest()[:40]


def purge():
    """Forget expired keys; returns how many."""
    return db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow())).rowcount
