"""The signed-in user's own account."""

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from ..schemas import UserSchema

bp = Blueprint("users", __name__, url_prefix="/users")

user_schema = UserSchema()


@bp.get("/me")
@jwt_required()
def me():
    return user_schema.dump(current_user)
