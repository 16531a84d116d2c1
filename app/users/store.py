"""Accounts: every statement on ``users`` that signs people up, logs them in or changes an account, and on their
password reset links."""

import hashlib
import secrets
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import String, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..connections import run
from ..errors import APIError
from ..extensions import db
from ..guards import owned
from ..lists import store as list_store
from ..models import UTCDateTime, new_account_values, password_resets, token_families, username_key, users, utcnow
from ..passwords import hash_password, password_matches
from ..revocation import revoke_reused_session
from ..tokens import new_token_id, session_tokens

BY_EMAIL = select(users).where(users.c.email == bindparam("email"))
CREATE = insert(users).returning(users.c.id)
# PATCH changes what it names: a column given no new value (NULL) keeps its own.
CHANGE_ACCOUNT = (
    update(users)
    .where(owned(users))
    .values(
        username=func.coalesce(bindparam("new_username"), users.c.username),
        username_key=func.coalesce(bindparam("new_username_key"), users.c.username_key),
        email=func.coalesce(bindparam("new_email"), users.c.email),
    )
    .returning(*users.c)
)
# A new password; the version moves on (in SQL, so no change is lost), so every token issued before stops working.
SET_PASSWORD = (
    update(users)
    .where(owned(users))
    .values(hashed_password=bindparam("new_hash"), token_version=users.c.token_version + 1)
    .returning(users.c.id)
)
# Only if the password is still the one just verified: of two concurrent changes one wins.
CHANGE_PASSWORD = SET_PASSWORD.where(users.c.hashed_password == bindparam("verified_hash"))
# Tasks, tombstones and reset links go with the account (ON DELETE CASCADE).
DELETE_ACCOUNT = delete(users).where(owned(users)).returning(users.c.id)
# The refresh token presented is the session's current one: the new one takes its place (one of two racing wins).
ROTATE = (
    update(token_families)
    .where(
        owned(token_families),
        token_families.c.id == bindparam("session_id"),
        token_families.c.jti == bindparam("presented_jti"),
    )
    .values(jti=bindparam("new_jti"))
    .returning(token_families.c.id)
)
FIRST_ROTATION = insert(token_families)

# Reset links. Asking for one runs the same two statements whether or not the address has an account
# (they then change nothing), so the answer takes as long either way: the account's older links go (and
# anyone's expired ones), and the new one is inserted from the account's row, if there is one.
FORGET_OLD_RESETS = delete(password_resets).where(
    or_(
        password_resets.c.owner_id == select(users.c.id).where(users.c.email == bindparam("email")).scalar_subquery(),
        password_resets.c.expires_at <= bindparam("now"),
    )
)
ISSUE_RESET = (
    insert(password_resets)
    .from_select(
        ["token_hash", "owner_id", "expires_at"],
        select(bindparam("token_hash", type_=String), users.c.id, bindparam("expires_at", type_=UTCDateTime)).where(
            users.c.email == bindparam("email")
        ),
    )
    .returning(password_resets.c.owner_id)
)
# Used once: of two concurrent uses of a link, one deletes it.
USE_RESET = (
    delete(password_resets)
    .where(password_resets.c.token_hash == bindparam("token_hash"), password_resets.c.expires_at > bindparam("now"))
    .returning(password_resets.c.owner_id)
)
# Every link of the account, once its password or e-mail address changes.
FORGET_RESETS = delete(password_resets).where(owned(password_resets))


def create_account(username, email, password):
    """Sign up (SignupSchema's fields): the new account's id; 400 if the username or the e-mail address is taken."""
    with _unique_names():
        return run(CREATE, new_account_values(username, email, hash_password(password)))[0].id


def authenticate(email, password):
    """The account (a row of users) whose e-mail address and password these are; 401 otherwise."""
    found = run(BY_EMAIL, {"email": email.lower()})
    account = found[0] if found else None
    if not password_matches(account.hashed_password if account else None, password):
        raise APIError(401, "Incorrect email or password")
    return account


def change_account(user, changes):
    """Change the signed-in user's username, e-mail address, or both; the account's row after.

    ``current_password``, when given (AccountUpdateSchema requires it with an e-mail address), must be the
    account's: the e-mail address is the login name, and a reset link goes to it.
    """
    username, email = changes.get("username"), changes.get("email")
    if "current_password" in changes:
        _verified_hash(user, changes["current_password"])
    if email is not None:
        user.rows(FORGET_RESETS)  # a link sent to the old address must not outlive it
    with _unique_names():
        return user.row(
            CHANGE_ACCOUNT,
            new_username=username,
            new_email=email,
            new_username_key=username_key(username) if username is not None else None,
        )


def change_password(user, current_password, new_password):
    """Set a new password; its version moves on, so every token issued before stops working."""
    verified_hash = _verified_hash(user, current_password)
    user.rows(FORGET_RESETS)  # and every reset link not used yet
    if not user.rows(CHANGE_PASSWORD, verified_hash=verified_hash, new_hash=hash_password(new_password)):
        raise _wrong_password()


def delete_account(user, current_password):
    """Delete the signed-in user's account with all its tasks, once ``current_password`` is found to be its password."""
    _verified_hash(user, current_password)
    list_store.forget_account(user)  # (the user's row held first, then lists in ascending order)
    user.rows(DELETE_ACCOUNT)


def issue_reset(email):
    """A new reset token for the account with this e-mail address (None if there is none).

    Random (32 bytes), stored only as its SHA-256, valid PASSWORD_RESET_TTL_SECONDS; the account's
    older tokens stop working.
    """
    token, now = secrets.token_urlsafe(32), utcnow()
    expires_at = now + timedelta(seconds=current_app.config["PASSWORD_RESET_TTL_SECONDS"])
    run(FORGET_OLD_RESETS, {"email": email, "now": now})
    issued = run(ISSUE_RESET, {"email": email, "token_hash": _reset_hash(token), "expires_at": expires_at})
    return token if issued else None


def reset_password(token, new_password):
    """Set the password of the account a reset token is for, as a password change does: every token issued
    before stops working, and so does every reset token of the account, this one included. 400 for a token
    that is wrong, used or expired."""
    new_hash = hash_password(new_password)  # before the link's row is held: bcrypt takes a while
    used = run(USE_RESET, {"token_hash": _reset_hash(token), "now": utcnow()})
    if not used:
        raise APIError(400, "Reset link is invalid or has expired")
    owner = {"me": used[0].owner_id}
    if not run(SET_PASSWORD, {**owner, "new_hash": new_hash}):  # the account was deleted meanwhile
        raise APIError(400, "Reset link is invalid or has expired")
    run(FORGET_RESETS, owner)


def refresh_session(user):
    """New tokens for the session of ``user``'s refresh token, which is used up (RFC 9700, 4.14).

    One UPDATE, with the user's check in it. A session that never refreshed
    has no row yet (its login's token is its only one): its first refresh
    inserts it, and two racing meet on its primary key. A refresh token that
    is not the session's current one was used before: the session is revoked
    (app/revocation.py), every token of it, and the answer is 401.
    """
    token_id = new_token_id()
    if not user.rows(ROTATE, presented_jti=user.token_id, new_jti=token_id):
        # (rows answered 401 already if the user is not signed in)
        try:
            run(
                FIRST_ROTATION,
                {
                    "id": user.session_id,
                    "owner_id": user.id,
                    "jti": token_id,
                    "expires_at": datetime.fromtimestamp(user.session_ends, timezone.utc),
                },
            )
        except IntegrityError:  # the session has refreshed before: this token is used up
            raise revoke_reused_session(user) from None
    return session_tokens(user.id, user.session_id, user.version, user.session_ends, token_id)


def all_accounts():
    """For the operator's ``flask users list``."""
    return run(select(users).order_by(users.c.id), {})


def seed_accounts(accounts):
    """For the operator's ``flask seed`` only: the new accounts' ids, in the order given."""
    return [row.id for row in run(insert(users).returning(users.c.id, sort_by_parameter_order=True), accounts)]


def _verified_hash(user, current_password):
    """The account's password hash, once ``current_password`` is found to be its password; 400 otherwise."""
    verified_hash = user.account().hashed_password
    if not password_matches(verified_hash, current_password):
        raise _wrong_password()
    return verified_hash


def _wrong_password():
    return APIError(400, "Current password is incorrect")


def _reset_hash(token):
    # Plain SHA-256 is enough: the token is 256 random bits, not a password to guess.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@contextmanager
def _unique_names():
    """400 when the unique indexes refuse a username or an e-mail address: they decide races too."""
    try:
        yield
    except IntegrityError:
        db.session.rollback()  # the transaction is spoilt, and the user's check may still need the session
        raise APIError(400, "Username or email already exists") from None
