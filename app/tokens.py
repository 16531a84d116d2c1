"""Bearer tokens: issued at login, verified once per worker, and every problem with one a 401.

Each login starts a session: its access and refresh tokens carry the same
``sid`` claim (logging out revokes the session, app/revocation.py) and the
user's ``ver`` (changing the password moves it on). app/signed_in.py checks
both against the database on every request; this module only vouches that a
token is ours, unexpired and well signed.
"""

import time
import uuid
from functools import lru_cache

import flask_jwt_extended
from flask import current_app, jsonify, request
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from flask_jwt_extended.exceptions import InvalidHeaderError, JWTExtendedException, NoAuthorizationError, WrongTokenError
from jwt import PyJWTError

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
        return super()._decode_jwt_from_config(encoded_token)

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        if csrf_value is None and not allow_expired:
            claims = current_app.extensions["verified_tokens"](encoded_token)  # raises if not valid
            expires = claims.get("exp")
            if type(expires) is int and expires > time.time():
                return dict(claims)  # a copy: the remembered claims stay as verified
        # Expired since it was remembered, or another kind of decode: the full path.
        return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)


jwt = CachingJWTManager()


def _claims(account, session_id):
    return {"sid": session_id, "ver": account.token_version}


def issue_tokens(account):
    """Log in the user of ``account`` (a row of users): a new session, an access and a refresh token."""
    # The subject is a string, as RFC 7519 and PyJWT require.
    claims = _claims(account, str(uuid.uuid4()))
    return {
        "access_token": create_access_token(identity=str(account.id), additional_claims=claims),
        "refresh_token": create_refresh_token(identity=str(account.id), additional_claims=claims),
    }


def refresh_access_token(user):
    """A new access token for the signed-in ``user``, in the session of the refresh token presented."""
    claims = _claims(user.account(), user.session_id)
    return {"access_token": create_access_token(identity=str(user.id), additional_claims=claims)}


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
    if (claims.get("type") == "refresh") != refresh:
        raise WrongTokenError(f"Only {'refresh' if refresh else 'access'} tokens are allowed")
    return claims


def bearer_subject():
    """The user id (a string) this request's bearer access token names, or None when the token does not verify.

    For per-user rate limits, which count before the view runs: the token's
    user is then checked as on every request, and a token that does not
    verify gets its 401 from ``login_required``.
    """
    try:
        subject = bearer_claims().get("sub")
    except (JWTExtendedException, PyJWTError):
        return None
    return subject if isinstance(subject, str) else None


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
