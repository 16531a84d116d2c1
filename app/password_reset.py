"""Password resets: a one-time link for a forgotten password, by e-mail or from the operator.

The tokens' rules are the store's (app/users/store.py): random, kept only as a
hash, used once, valid ``PASSWORD_RESET_TTL_SECONDS``, and a new one voids the
older ones. Here: the link, and the mail that carries it.
"""

from flask import current_app

from .mail import send_after_commit
from .users import store as accounts

RESET_SENT = "If the address has an account, a reset link was sent"


def request_reset(email):
    """Mail a reset link to ``email`` if it has an account; the answer says the same either way.

    The request does the same work whether or not the address has an account:
    the store's two statements (which then change nothing) and, at most,
    putting the message on the mail thread's queue. No SMTP work is done here.
    """
    token = accounts.issue_reset(email)
    if token is not None:
        minutes = max(1, current_app.config["PASSWORD_RESET_TTL_SECONDS"] // 60)
        send_after_commit(
            email, "Reset your Task API password", "password_reset", link=reset_link(token), minutes=minutes
        )
    return {"detail": RESET_SENT}


def operator_reset_link(email):
    """A reset link for the account with this e-mail address (None if there is none), for support without mail."""
    token = accounts.issue_reset(email)
    return reset_link(token) if token is not None else None


def reset_link(token):
    # replace, not format: the operator's URL may hold other braces.
    return current_app.config["PASSWORD_RESET_URL"].replace("{token}", token)
