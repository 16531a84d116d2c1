"""Passwords and tokens: the one place that turns a bearer token into a user."""

import uuid
from functools import lru_cache

from flask import current_app, g, has_request_context, jsonify, request
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt
from sqlalchemy import bindparam, event, exists, select
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from .connections import read_rows
from .errors import APIError
from .extensions import bcrypt, jwt
from .models import MAX_ID, users

PASSWORD_MIN_LENGTH = 8
# bcrypt reads only the first 72 bytes of a password (bcrypt 5 raises past
# that). We refuse longer passwords at signup instead of cutting them.
PASSWORD_MAX_BYTES = 72


def hash_password(password):
    return bcrypt.generate_password_hash(password).decode("ascii")


@lru_cache(maxsize=4)
def _dummy_hash(rounds):
    return bcrypt.generate_password_hash("dummy password", rounds).decode("ascii")


def verify_password(user, password):
    """True when ``password`` is ``user``'s; ``user`` may be None.

    An unknown user is checked against a dummy hash of the same cost, so the
    answer takes as long as for a wrong password and timing does not tell
    which e-mail addresses have an account.
    """
    stored = user.hashed_password if user else _dummy_hash(current_app.config["BCRYPT_LOG_ROUNDS"])
    try:
        matches = bcrypt.check_password_hash(stored, password)
    except ValueError:  # longer than bcrypt accepts, or a malformed stored hash
        return False
    return matches and user is not None


def _claims(user, session_id):
    # sid: the login session, which logout revokes; ver: the user's token
    # version, which a password change moves on.
    return {"sid": session_id, "ver": user.token_version}


def issue_tokens(user):
    """Log ``user`` in: a new session with an access and a refresh token."""
    # The subject is a string, as RFC 7519 and PyJWT require.
    claims = _claims(user, str(uuid.uuid4()))
    return {
        "access_token": create_access_token(identity=str(user.id), additional_claims=claims),
        "refresh_token": create_refresh_token(identity=str(user.id), additional_claims=claims),
    }


def refresh_access_token(user):
    """A new access token in the session of the refresh token presented."""
    return create_access_token(identity=str(user.id), additional_claims=_claims(user, get_jwt()["sid"]))


def revoke_current_session():
    """Log out: neither token of the presented token's session works again."""
    lifetime = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    current_app.extensions["revocations"].revoke(get_jwt()["sid"], lifetime)


def _not_authenticated(*_reason):
    response = jsonify(detail="Not authenticated")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


# A token's user is signed in while the user exists at the token's version (a
# password change moves it on) and the token's session is not logged out.
# The token's values are bound parameters (token_params), so a statement that
# includes this condition is built once, not per request. Hot reads and the
# writes' change counter include it in their own statement (see
# ApiBlueprint.login_required): authentication and data in one round trip.
TOKEN_USER = (users.c.id == bindparam("user_id")) & (users.c.token_version == bindparam("version"))
# The user as a row of the table, not an ORM object: read-only, and a tenth
# cheaper to load (every write goes through an UPDATE statement anyway).
USER_BY_TOKEN = select(*users.c).where(TOKEN_USER)
# The same, in a statement on another table. (An EXISTS rather than a join:
# PostgreSQL plans it in half the time, which counts as it plans every statement.)
SIGNED_IN = exists().where(TOKEN_USER)


def token_params():
    """The verified token's user, version and session, as statement parameters.

    401 when the claims are not those of a token of ours.
    """
    if "token_params" not in g:
        claims = get_jwt()
        subject, session_id = claims.get("sub"), claims.get("sid")
        if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()
                and isinstance(session_id, str)):
            raise APIError(401, "Not authenticated")
        user_id = int(subject)
        if not 1 <= user_id <= MAX_ID:
            raise APIError(401, "Not authenticated")
        g.token_params = {"user_id": user_id, "version": claims.get("ver"), "session_id": session_id}
    return g.token_params


def token_user_id():
    """The id the token names; a signed-in user's once the request has checked it."""
    return token_params()["user_id"]


def token_checked(statement):
    """``statement`` (which includes TOKEN_USER or SIGNED_IN) with the session's revocation checked too.

    In the same statement where revocations live in the database, built once
    per statement; with Redis, asked of Redis first (401 if logged out).
    """
    statement = current_app.extensions["revocations"].unless_revoked(statement, token_params()["session_id"])
    if statement is None:
        raise APIError(401, "Not authenticated")
    return statement


def signed_in_user():
    """The token's user (a row of users), checked in the database once per request; 401 if not signed in."""
    if "signed_in_user" not in g:
        rows = read_rows(token_checked(USER_BY_TOKEN), token_params())
        if not rows:  # deleted, password changed since, or logged out
            raise APIError(401, "Not authenticated")
        g.signed_in_user = rows[0]
        found_signed_in()
    return g.signed_in_user


current_user = LocalProxy(signed_in_user)


def found_signed_in():
    """A statement with the token's checks (token_checked) found its row: the user is signed in."""
    g.token_user_checked = True


def ensure_signed_in():
    """401 unless the token's user was found signed in during this request (one query if not yet)."""
    if not g.get("token_user_checked"):
        signed_in_user()


@event.listens_for(Session, "before_commit")
def _no_commit_before_the_token_is_checked(_session):
    # A route that checks the token in its own statements (login_required's
    # user_checked_by_view) cannot commit a write for a token that is no
    # longer good, even if one of its paths forgot to check.
    if has_request_context() and g.get("token_check_deferred"):
        ensure_signed_in()


def _forget_the_token(_error):
    # g outlives the request where a script or a test holds the app context
    # around several requests: the next request's token is checked again.
    for name in ("token_params", "signed_in_user", "token_user_checked", "token_check_deferred"):
        g.pop(name, None)


def accept_any_case_bearer():
    """Read ``bearer <token>`` as ``Bearer <token>``.

    The scheme is case-insensitive (RFC 7235), and clients that build the
    header from login's ``"token_type": "bearer"`` send it in lower case;
    Flask-JWT-Extended compares it exactly.
    """
    header = request.environ.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer " and not header.startswith("Bearer "):
        request.environ["HTTP_AUTHORIZATION"] = "Bearer " + header[7:]


def init_jwt(app):
    """Answer every token problem the same way: 401 ``Not authenticated``.

    Flask-JWT-Extended's defaults say ``msg`` and use 422 for some of them;
    a client only needs to know it must log in again.
    """
    app.before_request(accept_any_case_bearer)
    app.teardown_request(_forget_the_token)
    for register in (
        jwt.unauthorized_loader,  # no token
        jwt.invalid_token_loader,  # malformed, forged, wrong type
        jwt.expired_token_loader,
        jwt.revoked_token_loader,  # unused: revocation is checked with the user (signed_in_user)
        jwt.needs_fresh_token_loader,
        jwt.token_verification_failed_loader,
        jwt.user_lookup_error_loader,  # unused: no user lookup loader (signed_in_user)
    ):
        register(_not_authenticated)
