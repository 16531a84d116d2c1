"""The signed-in user's own account: each endpoint's line of the contract, and one store call."""

from ..blueprint import ApiBlueprint, body_fields
from ..schemas import AccountUpdateSchema, CurrentPasswordSchema, PasswordChangeSchema, UserSchema
from . import store

bp = ApiBlueprint("users", __name__, url_prefix="/users", description="The signed-in user's account.")


def checks_no_password():
    """A PATCH that neither moves the e-mail address nor gives ``current_password`` checks no password."""
    return not body_fields().keys() & {"email", "current_password"}


def password_checks(**options):
    """The limit on checks of current_password: one budget per user, whichever route they come by (guesses spread
    over three routes count together), counted before the check (concurrent guesses cannot slip past)."""
    return bp.per_user_limit("RATELIMIT_ACCOUNT_PASSWORD", scope="account-password", **options)


@bp.get("/me")
@bp.doc(operationId="getCurrentUser")
@bp.login_required()
@bp.response(200, UserSchema)
def me(user):
    return user.account()


@bp.patch("/me")
@bp.doc(operationId="updateCurrentUser")
@bp.login_required()
@bp.per_user_limit("RATELIMIT_ACCOUNT_CHANGES")
@password_checks(exempt_when=checks_no_password)
@bp.arguments(AccountUpdateSchema)
@bp.response(200, UserSchema)
@bp.alt_response(
    400, response="BAD_REQUEST", description="Username or email already exists, or current password is incorrect"
)
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def update_me(user, changes):
    """Change the username, the e-mail address, or both; a new e-mail address needs `current_password`."""
    return store.change_account(user, changes)


@bp.put("/me/password")
@bp.doc(operationId="changePassword")
@bp.login_required()
@password_checks()
@bp.arguments(PasswordChangeSchema)
@bp.response(204)
@bp.alt_response(400, response="BAD_REQUEST", description="Current password is incorrect")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def change_password(user, passwords):
    """Set a new password; every token issued before, on every device, stops working."""
    store.change_password(user, passwords["current_password"], passwords["new_password"])


@bp.delete("/me")
@bp.doc(operationId="deleteAccount")
@bp.login_required()
@password_checks()
@bp.arguments(CurrentPasswordSchema)
@bp.response(204)
@bp.alt_response(400, response="BAD_REQUEST", description="Current password is incorrect")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def delete_me(user, confirmation):
    """Delete the account, all its tasks and the lists it owns, given `current_password`; its tokens stop working."""
    store.delete_account(user, confirmation["current_password"])
