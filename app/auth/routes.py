"""Sign up, log in, refresh and log out: each endpoint's line of the contract."""

import hashlib

from flask import request
from flask_limiter.util import get_remote_address

from ..blueprint import ApiBlueprint
from ..idempotency import idempotent, signup_scope
from ..revocation import revoke_session
from ..schemas import IdempotencyHeaders, LoginSchema, MessageSchema, SignupSchema, TokenSchema
from ..tokens import issue_tokens
from ..users import store as accounts

bp = ApiBlueprint("auth", __name__, url_prefix="/auth", description="Sign up, log in, refresh, log out.")


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
@bp.rate_limit("RATELIMIT_SIGNUP")
@bp.arguments(SignupSchema)
@bp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@idempotent(signup_scope)  # keys of one client address; the body must match too
@bp.response(201, MessageSchema)
@bp.alt_response(400, response="BAD_REQUEST", description="Username or email already exists")
@bp.alt_response(409, response="CONFLICT", description="The same Idempotency-Key is still in progress")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def signup(account, **_headers):
    accounts.create_account(**account)
    return {"message": "User created successfully"}


@bp.post("/login")
@bp.rate_limit("RATELIMIT_LOGIN")
# Per account, from any address, counted before the password is checked (so
# concurrent guesses cannot slip past the count).
@bp.rate_limit("RATELIMIT_LOGIN_PER_EMAIL", key_func=login_email_key)
@bp.arguments(LoginSchema)
@bp.response(200, TokenSchema)
@bp.alt_response(401, response="UNAUTHORIZED", description="Incorrect email or password")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def login(credentials):
    return issue_tokens(accounts.authenticate(credentials["email"], credentials["password"]))


@bp.post("/refresh")
@bp.rate_limit("RATELIMIT_REFRESH")
@bp.login_required(refresh=True)
@bp.response(200, TokenSchema)
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def refresh(user):
    """Exchange a refresh token (as the bearer token) for a new access token and a new refresh token.

    The refresh token presented is used up: keep the new one in its place.
    Presenting a used one again ends the whole login (every token of it): 401.
    """
    return accounts.refresh_session(user)


@bp.post("/logout")
@bp.login_required()
@bp.doc(operationId="logout")
@bp.response(204)
def logout(user):
    """End this login's session: its access and refresh tokens stop working."""
    revoke_session(user)
