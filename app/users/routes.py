"""The signed-in user's own account."""

from flask_jwt_extended import current_user

from ..blueprint import ApiBlueprint
from ..schemas import UserSchema

bp = ApiBlueprint("users", __name__, url_prefix="/users", description="The signed-in user's account.")


@bp.get("/me")
@bp.login_required()
@bp.response(200, UserSchema)
def me():
    return current_user
