"""Bearer tokens: issued at login and refresh, verified once per worker, and every problem with one a 401.

Each login starts a session: its access and refresh tokens carry the same
``sid`` claim (logging out revokes the session, app/revocation.py), the
user's ``ver`` (changing the password moves it on), and the time the session
ends: the refresh token's ``exp``, which an access token carries as ``sxp``
(and never outlives). Every refresh rotates the refresh token: the new one
has a new ``jti`` and the session's ``exp``; the one presented is used up
(app/revocation.py). app/signed_in.py checks the user, the version and the
session against the database on every request; this module vouches that a
token is ours, unexpired, well signed, and that its claims are of the types
we issue, before any of them is used.
"""

import time
import uuid
from functools import lru_cache

import flask_jwt_extended
import jwt as pyjwt
from flask import current_app, g, jsonify, request
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from flask_jwt_extended.exceptions import InvalidHeaderError, NoAuthorizationError, WrongTokenError

from .models import MAX_ID

# Tokens a worker remembers: a few thousand signed-in clients, about 1 KiB each.
VERIFIED_TOKENS = 4096


class CachingJWTManager(flask_jwt_extended.JWTManager):
    """Flask-JWT-Extended's manager, remembering the tokens it verified.

    A client sends the same token with every request for its lifetime, and
    the library decodes it several times per request (bench/README.md). A
    token that verified once is remembered, keyed by its whole text, signature
    included, in this app's memory (another app, with another key, has its
    own); its expiry is checked again on every use, and an expired or unusual
    token takes the library's full path, which raises exactly as before.

    This overrides one private method, through which every decode goes; the
    version is pinned in requirements.txt and tests/test_security.py checks
    the cache is in use, so an upgrade that moves it fails the suite.
    """

    def init_app(self, app, add_context_processor=False):
        super().init_app(app, add_context_processor=add_context_processor)
        app.extensions["verified_tokens"] = lru_cache(maxsize=VERIFIED_TOKENS)(self._verify)

    def _verify(self, encoded_token):
        claims = super()._decode_jwt_from_config(encoded_token)
        # The library makes a token without "type" an access token: it must say so itself.
        if "type" not in pyjwt.decode(encoded_token, options={"verify_signature": False}):
            raise pyjwt.InvalidTokenError("no type claim")
        return claims

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        if csrf_value is None and not allow_expired:
            claims = current_app.extensions["verified_tokens"](encoded_token)  # raises if not valid
            expires = claims.get("exp")
            if type(expires) is int and expires > time.time():
                return dict(claims)  # a copy: the remembered claims stay as verified
        # Expired since it was remembered, or another kind of decode: the full path.
        return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)


jwt = CachingJWTManager()


# The latest time a claim may name: a datetime holds it (sxp becomes a revocation's expiry).
LATEST = 253402300799  # 9999-12-31T23:59:59Z
# Session ids and token ids are UUIDs as text.
MAX_ID_LENGTH = 36


def new_token_id():
    return str(uuid.uuid4())


def issue_tokens(account):
    """Log in the user of ``account`` (a row of users): a new session, an access and a refresh token."""
    session_ends = int(time.time() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds())
    return session_tokens(account.id, new_token_id(), account.token_version, session_ends, new_token_id())


def session_tokens(user_id, session_id, version, session_ends, refresh_token_id):
    """An access and a refresh token of the session ``session_id``, which ends at ``session_ends`` (a Unix time).

    The refresh token expires as the session does, and the access token no
    later: a revocation, kept until the session ends, outlives every token
    of the session, whatever JWT_REFRESH_TOKEN_EXPIRES says by then.
    """
    claims = {"sid": session_id, "ver": version}
    access_ends = min(int(time.time() + current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()), session_ends)
    # The subject is a string, as RFC 7519 and PyJWT require; exp and jti are
    # given, not computed by the library.
    return {
        "access_token": create_access_token(
            identity=str(user_id), additional_claims={**claims, "sxp": session_ends, "exp": access_ends}
        ),
        "refresh_token": create_refresh_token(
            identity=str(user_id),
            additional_claims={**claims, "sxp": session_ends, "exp": session_ends, "jti": refresh_token_id},
        ),
    }


def _not_authenticated(*_reason):
    response = jsonify(detail="Not authenticated")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def bearer_claims(refresh=False):
    """The claims of this request's bearer token, verified (a refresh token's if ``refresh``, else an access token's).

    The header is read as Flask-JWT-Extended's ``jwt_required`` reads it, but
    with the scheme in any case (RFC 7235: clients that build it from login's
    ``"token_type": "bearer"`` send it in lower case), and the token decoded by
    the library's ``decode_token`` (remembered, above). ``jwt_required`` also
    parses the token's header a second time, unverified, for callbacks this
    app does not register: about 45 µs a request (bench/README.md). Every
    problem raises the library's own exceptions: its handlers answer our 401.
    """
    header = request.headers.get("Authorization", "")
    if not header.strip():
        raise NoAuthorizationError("Missing Authorization Header")
    credentials = [value.split() for value in header.split(",") if value.strip()]
    bearer = [parts for parts in credentials if parts[0].lower() == "bearer"]
    if len(bearer) != 1 or len(bearer[0]) != 2:
        raise InvalidHeaderError("Expected 'Authorization: Bearer <JWT>'")
    claims = decode_token(bearer[0][1])
    if claims.get("type") != ("refresh" if refresh else "access"):
        raise WrongTokenError(f"Only {'refresh' if refresh else 'access'} tokens are allowed")
    if not _as_issued(claims, refresh):
        raise pyjwt.InvalidTokenError("claims not as issued")
    g.verified_claims = claims  # for the per-user rate limits of this request (verified_user_key)
    return claims


def _as_issued(claims, refresh):
    """Every claim the app reads is there, of the type we issue it with: no other value reaches the database.

    The signature says a token is ours, not that its claims are as we issue
    them (a key that leaked, a bug of an older release): a value of another
    type must be a 401, never a database error. (``bool`` is an ``int``:
    compared by type.)
    """
    subject = claims.get("sub")
    # (int() of a few thousand digits raises: the length first.)
    return (
        type(subject) is str
        and len(subject) <= 10
        and subject.isascii()
        and subject.isdigit()
        and 1 <= int(subject) <= MAX_ID
        and _text_id(claims.get("sid"))
        and _whole(claims.get("ver"), MAX_ID)
        and _whole(claims.get("exp"), LATEST)
        # When the session ends, in both kinds: the previous release's tokens, without it, are refused.
        and _whole(claims.get("sxp"), LATEST)
        and (not refresh or _text_id(claims.get("jti")))
    )


def _whole(value, most):
    return type(value) is int and 0 <= value <= most


def _text_id(value):
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH


def verified_user_key():
    """The rate-limit key of the request's bearer token: its user, whichever session (ApiBlueprint.per_user_limit).

    The claims login_required verified for this request, not decoded again: a
    key function that raised would make Flask-Limiter take its storage for dead.
    """
    return "user:" + g.verified_claims["sub"]


def init_tokens(app):
    """Bind the manager; answer every token problem the same way: 401 ``Not authenticated``.

    Flask-JWT-Extended's defaults say ``msg`` and use 422 for some of them;
    a client only needs to know it must log in again.
    """
    jwt.init_app(app)
    for register in (
        jwt.unauthorized_loader,  # no token
        jwt.invalid_token_loader,  # malformed, forged, wrong type
        jwt.expired_token_loader,
        jwt.revoked_token_loader,  # unused: app/signed_in.py checks revocations
        jwt.needs_fresh_token_loader,
        jwt.token_verification_failed_loader,
        jwt.user_lookup_error_loader,  # unused: no user lookup loader (app/signed_in.py)
    ):
        register(_not_authenticated)
