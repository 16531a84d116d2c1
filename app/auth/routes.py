"""Sign up, log in, refresh, log out, and reset a forgotten password: each endpoint's line of the contract."""

import hashlib

from flask_limiter.util import get_remote_address

from .. import password_reset
from ..blueprint import ApiBlueprint, body_fields
from ..idempotency import idempotent, signup_scope
from ..revocation import revoke_session
from ..schemas import (
    DetailSchema,
    IdempotencyHeaders,
    LoginSchema,
    MessageSchema,
    PasswordResetRequestSchema,
    PasswordResetSchema,
    SignupSchema,
    TokenSchema,
)
from ..tokens import issue_tokens
from ..users import store as accounts

bp = ApiBlueprint(
    "auth", __name__, url_prefix="/auth", description="Sign up, log in, refresh, log out, reset a forgotten password."
)


def email_key(prefix):
    """A rate-limit key for the e-mail address in the body, whatever the client's address.

    Hashed: the limiter's storage never holds e-mail addresses, and its keys
    have a fixed size however long the submitted value.
    """

    def key():
        email = body_fields().get("email")
        if not isinstance(email, str):
            return get_remote_address()
        return prefix + hashlib.sha256(email.lower().encode("utf-8", "surrogatepass")).hexdigest()

    return key


@bp.post("/signup")
@bp.doc(operationId="signup")
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
@bp.doc(operationId="login")
@bp.rate_limit("RATELIMIT_LOGIN")
# Per account, from any address, counted before the password is checked (so
# concurrent guesses cannot slip past the count).
@bp.rate_limit("RATELIMIT_LOGIN_PER_EMAIL", key_func=email_key("login-email:"))
@bp.arguments(LoginSchema)
@bp.response(200, TokenSchema)
@bp.alt_response(401, response="UNAUTHORIZED", description="Incorrect email or password")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def login(credentials):
    return issue_tokens(accounts.authenticate(credentials["email"], credentials["password"]))


@bp.post("/refresh")
@bp.doc(operationId="refreshTokens")
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
@bp.doc(operationId="logout")
@bp.login_required()
@bp.response(204)
def logout(user):
    """End this login's session: its access and refresh tokens stop working."""
    revoke_session(user)


@bp.post("/password-reset")
@bp.doc(operationId="requestPasswordReset")
@bp.rate_limit("RATELIMIT_PASSWORD_RESET")
# Per address asked for, from any client, counted whether or not it has an
# account: the limit says nothing about which addresses have one.
@bp.rate_limit("RATELIMIT_PASSWORD_RESET_PER_EMAIL", key_func=email_key("reset-email:"))
@bp.arguments(PasswordResetRequestSchema)
@bp.response(
    202,
    DetailSchema,
    description="The same answer, in the same time, whether or not the address has an "
    "account; only one that has gets the mail.",
)
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def request_password_reset(body):
    """Mail a one-time link to reset the password, if the address has an account.

    The link is `PASSWORD_RESET_URL` with the token in it; it works once, for
    `PASSWORD_RESET_TTL_SECONDS`, and asking again voids the older links.
    """
    return password_reset.request_reset(body["email"])


@bp.post("/password-reset/confirm")
@bp.doc(operationId="confirmPasswordReset")
@bp.rate_limit("RATELIMIT_PASSWORD_RESET_CONFIRM")
@bp.arguments(PasswordResetSchema)
@bp.response(204)
@bp.alt_response(400, response="BAD_REQUEST", description="Reset link is invalid or has expired")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def confirm_password_reset(reset):
    """Set a new password with the token of a reset link; every token issued before, on every device, stops working."""
    accounts.reset_password(reset["token"], reset["new_password"])
