"""The signed-in user's own account: each endpoint's line of the contract, and one store call."""

from ..blueprint import ApiBlueprint
from ..schemas import AccountUpdateSchema, CurrentPasswordSchema, PasswordChangeSchema, UserSchema
from . import store

bp = ApiBlueprint("users", __name__, url_prefix="/users", description="The signed-in user's account.")


@bp.get("/me")
@bp.login_required()
@bp.response(200, UserSchema)
def me(user):
    return user.account()


@bp.patch("/me")
@bp.login_required()
@bp.arguments(AccountUpdateSchema)
@bp.response(200, UserSchema)
@bp.alt_response(400, response="BAD_REQUEST", description="Username or email already exists, or current password "
                                                          "is incorrect")
def update_me(user, changes):
    """Change the username, the e-mail address, or both; a new e-mail address needs `current_password`."""
    return store.change_account(user, changes)


@bp.put("/me/password")
@bp.login_required()
@bp.doc(operationId="change_password")
@bp.arguments(PasswordChangeSchema)
@bp.response(204)
@bp.alt_response(400, response="BAD_REQUEST", description="Current password is incorrect")
def change_password(user, passwords):
    """Set a new password; every token issued before, on every device, stops working."""
    store.change_password(user, passwords["current_password"], passwords["new_password"])


@bp.delete("/me")
@bp.login_required()
@bp.doc(operationId="delete_account")
@bp.arguments(CurrentPasswordSchema)
@bp.response(204)
@bp.alt_response(400, response="BAD_REQUEST", description="Current password is incorrect")
def delete_me(user, confirmation):
    """Delete the account and all its tasks, given `current_password`; its tokens stop working."""
    store.delete_account(user, confirmation["current_password"])
