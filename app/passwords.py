"""Passwords: hashed with bcrypt, checked in the same time whether or not the account exists."""

from functools import lru_cache

from flask import current_app

from .extensions import bcrypt

PASSWORD_MIN_LENGTH = 8
# bcrypt reads only the first 72 bytes of a password (bcrypt 5 raises past
# that). We refuse longer passwords at signup instead of cutting them.
PASSWORD_MAX_BYTES = 72


def hash_password(password):
    return bcrypt.generate_password_hash(password).decode("ascii")


@lru_cache(maxsize=4)
def _dummy_hash(rounds):
    return bcrypt.generate_password_hash("dummy password", rounds).decode("ascii")


def password_matches(stored_hash, password):
    """True when ``password`` is the one ``stored_hash`` was made from; ``stored_hash`` may be None.

    With no stored hash (no such account) a dummy hash of the same cost is
    checked, so the answer takes as long as for a wrong password and timing
    does not tell which e-mail addresses have an account.
    """
    checked = stored_hash or _dummy_hash(current_app.config["BCRYPT_LOG_ROUNDS"])
    try:
        matches = bcrypt.check_password_hash(checked, password)
    except ValueError:  # longer than bcrypt accepts, or a malformed stored hash
        return False
    return matches and stored_hash is not None
