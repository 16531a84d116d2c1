"""Accounts: every statement on ``users`` that signs people up, logs them in or changes an account."""

from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..connections import run
from ..errors import APIError
from ..extensions import db
from ..models import new_account_values, token_families, username_key, users
from ..passwords import hash_password, password_matches
from ..revocation import revoke_reused_session
from ..signed_in import owned
from ..tokens import new_token_id, session_tokens

BY_EMAIL = select(users).where(users.c.email == bindparam("email"))
CREATE = insert(users).returning(users.c.id)
# PATCH changes what it names: a column given no new value (NULL) keeps its own.
CHANGE_ACCOUNT = update(users).where(owned(users)).values(
    username=func.coalesce(bindparam("new_username"), users.c.username),
    username_key=func.coalesce(bindparam("new_username_key"), users.c.username_key),
    email=func.coalesce(bindparam("new_email"), users.c.email),
).returning(*users.c)
# Only if the password is still the one just verified: of two concurrent
# changes one wins. The version moves in SQL, so no change is lost.
CHANGE_PASSWORD = update(users).where(owned(users), users.c.hashed_password == bindparam("verified_hash")).values(
    hashed_password=bindparam("new_hash"), token_version=users.c.token_version + 1).returning(users.c.id)
# Tasks and tombstones go with the account (ON DELETE CASCADE).
DELETE_ACCOUNT = delete(users).where(owned(users)).returning(users.c.id)
# The refresh token presented is the session's current one: the new one takes its place (one of two racing wins).
ROTATE = (update(token_families)
          .where(owned(token_families), token_families.c.id == bindparam("session_id"),
                 token_families.c.jti == bindparam("presented_jti"))
          .values(jti=bindparam("new_jti")).returning(token_families.c.id))
FIRST_ROTATION = insert(token_families)


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
    """Change the signed-in user's username, e-mail address, or both; the account's row after."""
    username = changes.get("username")
    with _unique_names():
        return user.row(CHANGE_ACCOUNT, new_username=username, new_email=changes.get("email"),
                        new_username_key=username_key(username) if username is not None else None)


def change_password(user, current_password, new_password):
    """Set a new password; its version moves on, so every token issued before stops working."""
    verified_hash = user.account().hashed_password
    if not (password_matches(verified_hash, current_password)
            and user.rows(CHANGE_PASSWORD, verified_hash=verified_hash, new_hash=hash_password(new_password))):
        raise APIError(400, "Current password is incorrect")


def delete_account(user):
    """Delete the signed-in user's account with all its tasks."""
    # The user's row first, as every task write locks it first (no deadlock).
    user.rows(DELETE_ACCOUNT)


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
            run(FIRST_ROTATION, {"id": user.session_id, "owner_id": user.id, "jti": token_id,
                                 "expires_at": datetime.fromtimestamp(user.session_ends, timezone.utc)})
        except IntegrityError:  # the session has refreshed before: this token is used up
            raise revoke_reused_session(user) from None
    return session_tokens(user.id, user.session_id, user.version, user.session_ends, token_id)


def all_accounts():
    """For the operator's ``flask users list``."""
    return run(select(users).order_by(users.c.id), {})


def seed_accounts(accounts):
    """For the operator's ``flask seed`` only: the new accounts' ids, in the order given."""
    return [row.id for row in run(insert(users).returning(users.c.id, sort_by_parameter_order=True), accounts)]


@contextmanager
def _unique_names():
    """400 when the unique indexes refuse a username or an e-mail address: they decide races too."""
    try:
        yield
    except IntegrityError:
        db.session.rollback()  # the transaction is spoilt, and the user's check may still need the session
        raise APIError(400, "Username or email already exists") from None
