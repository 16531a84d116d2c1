"""The signed-in user's own account."""

from flask import jsonify
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from ..blueprint import ApiBlueprint
from ..errors import APIError
from ..extensions import db
from ..models import User, username_key
from ..schemas import AccountUpdateSchema, PasswordChangeSchema, UserSchema
from ..security import current_user, hash_password, signed_in_user, verify_password

bp = ApiBlueprint("users", __name__, url_prefix="/users", description="The signed-in user's account.")


# GET /users/me sends the signed-in user's row, picked to UserSchema's fields
# (never the password's hash): marshmallow's dump through current_user's proxy
# was a tenth of the request (in a profile). tests/test_users.py compares the two.
USER_FIELDS = tuple(UserSchema().dump_fields)


@bp.get("/me")
@bp.login_required()
@bp.response(200, UserSchema)
def me():
    user = signed_in_user()
    return jsonify({name: getattr(user, name) for name in USER_FIELDS})


@bp.patch("/me")
@bp.login_required()
@bp.arguments(AccountUpdateSchema)
@bp.response(200, UserSchema)
@bp.alt_response(400, response="BAD_REQUEST", description="Username or email already exists")
def update_me(changes):
    """Change the username, the e-mail address, or both."""
    if not changes:  # nothing to change (an UPDATE needs at least one column)
        return current_user
    if "username" in changes:  # a core UPDATE: the model's own hook does not run
        changes["username_key"] = username_key(changes["username"])
    try:
        # One UPDATE ... RETURNING: nothing if the account was deleted meanwhile.
        user = db.session.scalar(update(User).where(User.id == current_user.id).values(**changes)
                                 .returning(User).execution_options(populate_existing=True))
        db.session.commit()
    except IntegrityError:  # the unique indexes decide, as at signup
        db.session.rollback()
        raise APIError(400, "Username or email already exists") from None
    if user is None:
        raise APIError(401, "Not authenticated")
    return user


@bp.put("/me/password")
@bp.login_required()
@bp.doc(operationId="change_password")
@bp.arguments(PasswordChangeSchema)
@bp.response(204)
@bp.alt_response(400, response="BAD_REQUEST", description="Current password is incorrect")
def change_password(data):
    """Set a new password; every token issued before, on every device, stops working."""
    verified_hash = current_user.hashed_password
    if not verify_password(current_user, data["current_password"]):
        raise APIError(400, "Current password is incorrect")
    # Only if the password is still the one just verified: of two concurrent
    # changes one wins, the other is told its current password is wrong. The
    # version moves in SQL, so no change is lost.
    changed = db.session.execute(
        update(User).where(User.id == current_user.id, User.hashed_password == verified_hash)
        .values(hashed_password=hash_password(data["new_password"]), token_version=User.token_version + 1)
    ).rowcount
    if not changed:
        raise APIError(400, "Current password is incorrect")
    db.session.commit()


@bp.delete("/me")
@bp.login_required()
@bp.doc(operationId="delete_account")
@bp.response(204)
def delete_me():
    """Delete the account and all its tasks; its tokens stop working."""
    # The user's row first, as every task write locks it first (no deadlock);
    # its tasks and tombstones go with it (ON DELETE CASCADE).
    db.session.execute(delete(User).where(User.id == current_user.id))
    db.session.commit()
