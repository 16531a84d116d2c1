"""Sign up and log in."""

from flask import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import APIError
from ..extensions import db
from ..inputs import load_json
from ..models import User
from ..schemas import LoginSchema, SignupSchema, TokenSchema
from ..security import hash_password, issue_access_token, verify_password

bp = Blueprint("auth", __name__, url_prefix="/auth")

signup_schema = SignupSchema()
login_schema = LoginSchema()
token_schema = TokenSchema()


@bp.post("/signup")
def signup():
    data = load_json(signup_schema)
    db.session.add(User(username=data["username"], email=data["email"],
                        hashed_password=hash_password(data["password"])))
    try:
        db.session.commit()
    except IntegrityError:
        # The unique indexes decide, so two signups racing for one name or
        # address end in one 201 and one 400, never a 500.
        db.session.rollback()
        raise APIError(400, "Username or email already exists") from None
    return {"message": "User created successfully"}, 201


@bp.post("/login")
def login():
    data = load_json(login_schema)
    user = db.session.scalar(select(User).where(User.email == data["email"].lower()))
    if not verify_password(user, data["password"]):
        raise APIError(401, "Incorrect email or password")
    return token_schema.dump({"access_token": issue_access_token(user)})
