"""Sign up, log in, refresh and log out."""

import hashlib

from flask import current_app, request
from flask_limiter.util import get_remote_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..blueprint import ApiBlueprint
from ..errors import APIError
from ..extensions import db, limiter
from ..idempotency import complete, idempotent, signup_scope
from ..models import User
from ..schemas import IdempotencyHeaders, LoginSchema, MessageSchema, SignupSchema, TokenSchema
from ..security import (
    current_user,
    hash_password,
    issue_tokens,
    refresh_access_token,
    revoke_current_session,
    verify_password,
)

bp = ApiBlueprint("auth", __name__, url_prefix="/auth", description="Sign up, log in, refresh, log out.")


@limiter.request_filter
def _not_an_auth_route():
    """Only these routes have limits: every other request skips the limiter's
    bookkeeping, which cost more than a third of a database round trip each.

    A limit on a route of another blueprint would be skipped too: widen this first.
    """
    return request.blueprint != bp.name


def configured_limit(name):
    """A limit read from the app's settings at request time (see config.py)."""
    return lambda: current_app.config[name]


def login_email_key():
    """Rate-limit key for the account being tried, whatever the client's address.

    Hashed: the limiter's storage never holds e-mail addresses, and its keys
    have a fixed size however long the submitted value.
    """
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str):
        return get_remote_address()
    return "login-email:" + hashlib.sha256(email.lower().encode("utf-8", "surrogatepass")).hexdigest()


@bp.post("/signup")
@limiter.limit(configured_limit("RATELIMIT_SIGNUP"))
@bp.arguments(SignupSchema)
@bp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@bp.response(201, MessageSchema)
@bp.alt_response(400, response="BAD_REQUEST", description="Username or email already exists")
@bp.alt_response(409, response="CONFLICT", description="The same Idempotency-Key is still in progress")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
@idempotent(signup_scope)  # keys of one client address; the body must match too
def signup(data, **_headers):
    db.session.add(User(username=data["username"], email=data["email"],
                        hashed_password=hash_password(data["password"])))
    try:
        complete(201, lambda: {"message": "User created successfully"})  # flushes the user first
        db.session.commit()
    except IntegrityError:
        # The unique indexes decide, so two signups racing for one name or
        # address end in one 201 and one 400, never a 500.
        db.session.rollback()
        raise APIError(400, "Username or email already exists") from None
    return {"message": "User created successfully"}


@bp.post("/login")
@limiter.limit(configured_limit("RATELIMIT_LOGIN"))
# Per account, from any address, counted before the password is checked (so
# concurrent guesses cannot slip past the count).
@limiter.limit(configured_limit("RATELIMIT_LOGIN_PER_EMAIL"), key_func=login_email_key)
@bp.arguments(LoginSchema)
@bp.response(200, TokenSchema)
@bp.alt_response(401, response="UNAUTHORIZED", description="Incorrect email or password")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def login(data):
    user = db.session.scalar(select(User).where(User.email == data["email"].lower()))
    if not verify_password(user, data["password"]):
        raise APIError(401, "Incorrect email or password")
    return issue_tokens(user)


@bp.post("/refresh")
@limiter.limit(configured_limit("RATELIMIT_REFRESH"))
@bp.login_required(refresh=True)
@bp.response(200, TokenSchema)
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def refresh():
    """Exchange a refresh token (as the bearer token) for a new access token."""
    return {"access_token": refresh_access_token(current_user)}


@bp.post("/logout")
@bp.login_required()
@bp.doc(operationId="logout")
@bp.response(204)
def logout():
    """End this login's session: its access and refresh tokens stop working."""
    revoke_current_session()
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent logout of the same session got there first
        db.session.rollback()
