"""What may come in (load) and what goes out (dump), with marshmallow.

Error messages never repeat the submitted value: a 422 must not echo a
password or anything else the client sent.
"""

import re
import unicodedata
from datetime import datetime, timezone
from operator import itemgetter

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates, validates_schema
from werkzeug.http import parse_etags

from .models import MAX_ID, USERNAME_KEY_LENGTH, username_key
from .passwords import PASSWORD_MAX_BYTES, PASSWORD_MIN_LENGTH


class Text(fields.String):
    """A string PostgreSQL can store: no NUL characters, valid UTF-8."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise ValidationError("Must not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
            raise ValidationError("Not a valid UTF-8 string.") from None
        return value


class Password(Text):
    """At least 8 characters, and at most the 72 bytes bcrypt reads.

    Longer passwords are refused rather than silently cut (see
    docs/security.md).
    """

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=PASSWORD_MIN_LENGTH), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
            raise ValidationError(f"Must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8.")
        return value


class QueryInteger(fields.Integer):
    """A whole number written with ASCII digits only (no sign, spaces or other scripts' digits)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not (isinstance(value, str) and value.isascii() and value.isdigit()):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """Only JSON ``true`` and ``false``; not 1, "yes" or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class UTCDateTime(fields.DateTime):
    """ISO 8601 in, UTC out: a naive value means UTC, an offset is honoured.

    Limited to 0001-01-02 .. 9999-12-30 UTC, so that the value is still a valid
    datetime when PostgreSQL renders it in any session time zone (9999-12-31
    23:00 UTC is year 10000 in Tokyo, which Python cannot read back).
    """

    EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
    LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=timezone.utc)

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            parsed = parsed.astimezone(timezone.utc)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 falls before year 1
            parsed = None
        if parsed is None or not self.EARLIEST <= parsed <= self.LATEST:
            raise ValidationError("Must be between 0001-01-02 and 9999-12-30 (UTC).")
        return parsed


NOT_BLANK = r"\S"  # documented as the title's pattern, so the OpenAPI document says it too


def not_blank(value):
    """Some character that is not white space."""
    if not re.search(NOT_BLANK, value):
        raise ValidationError("Must not be blank.")


def one_line(value):
    """No control characters (a newline, a tab, an escape): a name is shown on one line, as it is."""
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise ValidationError("Must not contain control characters.")


class StrictSchema(Schema):
    # Unknown fields are rejected (marshmallow's default, stated here on
    # purpose): a client can never set id, owner_id or timestamps.
    class Meta:
        unknown = "raise"


class RowSchema(Schema):
    """What goes out for a resource the stores send as rows: its fields, picked by name, in order.

    The one way a task (or a user) is written, whether it came from a read, a
    write or the sync: ``@bp.response`` and ``fields.Nested`` call this dump.
    The values stay as the row holds them (the JSON provider writes datetimes
    in ISO 8601, as a DateTime field would), which spares marshmallow's
    field-by-field dump (bench/README.md). tests/test_task_lists.py and
    tests/test_users.py check that what is sent equals marshmallow's own dump.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._names = tuple(self.dump_fields)
        self._pickers = {}  # a row's column names: what picks this schema's fields from such a row

    def dump(self, obj, *, many=None):
        many = self.many if many is None else many
        rows = obj if many else (obj,)
        if not rows:
            return []
        pick = self._picker(rows[0]._fields)  # one result's rows share their columns
        bodies = [dict(zip(self._names, pick(row), strict=True)) for row in rows]
        return bodies if many else bodies[0]

    def _picker(self, columns):
        if columns not in self._pickers:
            # By position: a row's attributes are looked up by name one at a time, five times slower.
            positions = [columns.index(name) for name in self._names]
            self._pickers[columns] = (
                itemgetter(*positions) if len(positions) > 1 else (lambda row, position=positions[0]: (row[position],))
            )
        return self._pickers[columns]


class ErrorSchema(Schema):
    """Every error: a message, and for a 422 the messages of each field."""

    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


# --- auth -------------------------------------------------------------------


class AccountSchema(StrictSchema):
    username = Text(
        required=True,
        validate=[
            validate.Length(min=3, max=50),
            validate.Regexp(
                r"^[\w.@+-]+\Z",
                error="May contain only letters, digits and @ . + - _ characters.",
            ),
        ],
        metadata={"pattern": "^[\\w.@+-]+$"},  # as OpenAPI's (ECMAScript) regular expressions write it
    )
    email = Text(required=True, validate=[validate.Length(max=254), validate.Email()])

    @validates("username")
    def folded_username_fits(self, value, data_key):
        # Some characters unfold into many ("ﷺ" is 18 once normalised).
        if len(username_key(value)) > USERNAME_KEY_LENGTH:
            raise ValidationError("Too long once normalised.")

    @post_load
    def lower_case_email(self, data, **kwargs):
        if "email" in data:
            # One account per address, however the client capitalises it.
            data["email"] = data["email"].lower()
            # Lower-casing can lengthen it ("İ" becomes two characters).
            if len(data["email"]) > 254:
                raise ValidationError("Longer than maximum length 254.", field_name="email")
        return data


class SignupSchema(AccountSchema):
    password = Password(required=True)


class AccountUpdateSchema(AccountSchema):
    """Either field or both: PATCH changes only what it names.

    A new e-mail address needs the current password: the address is the login
    name, and a reset link goes to it, so a token alone must not move it.
    """

    current_password = Text(load_only=True, metadata={"description": "Required with email."})

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)

    @validates_schema
    def _current_password_with_an_email(self, data, **_kwargs):
        if "email" in data and "current_password" not in data:
            raise ValidationError("Required to change the e-mail address.", "current_password")


class CurrentPasswordSchema(StrictSchema):
    current_password = Text(required=True)


class PasswordChangeSchema(CurrentPasswordSchema):
    new_password = Password(required=True)


class PasswordResetRequestSchema(StrictSchema):
    # No format rules beyond the length: any address gets the same 202, and one without an account no mail.
    email = Text(required=True, validate=validate.Length(max=254))

    @post_load
    def lower_case_email(self, data, **kwargs):
        return {**data, "email": data["email"].lower()}  # as signup stored it


class PasswordResetSchema(StrictSchema):
    token = Text(required=True, metadata={"description": "The token of the reset link."})
    new_password = Password(required=True)


class LoginSchema(StrictSchema):
    # No format rules here: whatever does not match an account is a plain 401.
    email = Text(required=True)
    password = Text(required=True)


class StatusSchema(Schema):
    status = fields.String(required=True)


class MessageSchema(Schema):
    message = fields.String(required=True)


class DetailSchema(Schema):
    detail = fields.String(required=True)


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)  # at login, and a new one at each refresh
    token_type = fields.String(required=True, dump_default="bearer", metadata={"enum": ["bearer"]})


# --- users ------------------------------------------------------------------


class UserSchema(RowSchema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)


# --- tasks ------------------------------------------------------------------


class TaskCreateSchema(StrictSchema):
    title = Text(
        required=True,
        validate=[validate.Length(min=1, max=255), not_blank],
        metadata={"pattern": NOT_BLANK},
    )
    description = Text(allow_none=True, validate=validate.Length(max=10_000))
    due_date = UTCDateTime(allow_none=True)
    completed = StrictBoolean()
    list_id = fields.Integer(
        strict=True,
        allow_none=True,
        metadata={
            "description": "A list where you are owner or editor; null: your private task. Moving a shared task "
            "to null is for its creator only."
        },
    )


class TaskUpdateSchema(TaskCreateSchema):
    """Every field optional: PUT changes only the fields it names."""

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)


class TaskSchema(RowSchema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True, allow_none=True)
    due_date = fields.DateTime(format="iso", required=True, allow_none=True)
    completed = fields.Boolean(required=True)
    completed_at = fields.DateTime(format="iso", required=True, allow_none=True)
    created_at = fields.DateTime(format="iso", required=True)
    updated_at = fields.DateTime(format="iso", required=True)
    owner_id = fields.Integer(required=True, metadata={"description": "The task's creator."})
    list_id = fields.Integer(
        required=True, allow_none=True, metadata={"description": "The shared list it is in; null: private."}
    )


SORTABLE = ("id", "title", "due_date", "created_at", "updated_at")


class SortKeys(fields.String):
    """``sort=-due_date,title``: a list of (column name, descending)."""

    def _deserialize(self, value, attr, data, **kwargs):
        keys = []
        for key in super()._deserialize(value, attr, data, **kwargs).split(","):
            name = key.removeprefix("-")
            if name not in SORTABLE:
                raise ValidationError(
                    f"Must be a comma-separated list of {', '.join(SORTABLE)}, each may start with -."
                )
            if name in (k for k, _ in keys):
                raise ValidationError("Names a field more than once.")
            keys.append((name, key.startswith("-")))
        return keys


class ListFilter(fields.String):
    """``list_id=N``: that list's tasks; ``list_id=none``: the private ones only (loaded as None)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value == "none":
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 12):
            raise ValidationError("Must be a list's id, or none.")
        return int(value)


class TaskListQuerySchema(Schema):
    list_id = ListFilter(
        metadata={
            "pattern": "^([0-9]+|none)$",
            "description": "A list's id: only its tasks (404 for a list you are not a member of); none: only your "
            "private tasks. Without it: your private tasks and those of every list you are a member of.",
        }
    )
    limit = QueryInteger(load_default=100, validate=validate.Range(1, 1000))
    cursor = Text(
        validate=[validate.Length(min=1, max=2000), validate.Regexp(r"^[A-Za-z0-9_.\-]+\Z")],
        metadata={
            "pattern": "^[A-Za-z0-9_.-]+$",
            "description": "Where the page starts: from the Link header's next (with the same sort; not with a "
            "non-zero offset). A page by cursor costs the same however many tasks come before it.",
        },
    )
    offset = QueryInteger(
        load_default=0,
        validate=validate.Range(0, MAX_ID),
        metadata={
            "description": "Tasks to skip (kept for older clients; not with cursor): the database reads every one "
            "it skips; prefer the cursor in Link."
        },
    )
    count = fields.Boolean(
        load_default=False,
        truthy={"true"},
        falsy={"false"},
        metadata={
            "description": "true: send X-Total-Count and Link's last, at the price of reading every task that matches."
        },
    )
    completed = fields.Boolean(truthy={"true"}, falsy={"false"}, metadata={"description": "true or false"})
    due_after = UTCDateTime(metadata={"description": "Due at or after this time (ISO 8601; URL-encode '+')."})
    due_before = UTCDateTime(metadata={"description": "Due before this time (ISO 8601; URL-encode '+')."})
    q = Text(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Text in the title or description, any case."},
    )
    sort = SortKeys(
        metadata={
            "default": "id",
            "pattern": rf"^-?({'|'.join(SORTABLE)})(,-?({'|'.join(SORTABLE)}))*$",
            "description": f"Comma-separated, '-' for descending, of: {', '.join(SORTABLE)}. Ties are ordered by id.",
        }
    )

    @validates_schema
    def _one_way_to_start(self, data, **_kwargs):
        # offset=0 is the default, which documentation tools send along.
        if "cursor" in data and data["offset"]:
            raise ValidationError("Give cursor or offset, not both.", "cursor")


class ETags(fields.String):
    """An If-Match or If-None-Match header, as werkzeug reads it: a set of ETags, or ``*``."""

    def _deserialize(self, value, attr, data, **kwargs):
        return parse_etags(super()._deserialize(value, attr, data, **kwargs))


class WriteConditionHeaders(Schema):
    """If-Match and If-None-Match on a task write (app/tasks/store.py makes them the write's conditions)."""

    if_match = ETags(
        data_key="If-Match",
        metadata={"description": "Write only if the task is still at this version (ETag); 412 otherwise."},
    )
    if_none_match = ETags(
        data_key="If-None-Match",
        metadata={
            "description": "Write only if the task is at none of these versions ('*': not at all); 412 otherwise."
        },
    )


class ListConditionHeaders(Schema):
    """Documents If-None-Match on the list (app/tasks/versions.py evaluates it)."""

    if_none_match = fields.String(
        data_key="If-None-Match",
        metadata={"description": "The list's ETag received before: 304 if the page is unchanged."},
    )


class IdempotencyHeaders(Schema):
    """Documents Idempotency-Key (app/idempotency.py evaluates it)."""

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=[validate.Length(min=1, max=255), validate.Regexp(r"^[\x21-\x7e]+\Z")],
        metadata={
            "pattern": "^[\\x21-\\x7e]+$",
            "description": "1 to 255 printable ASCII characters: a retry with the same key and body answers the "
            "first result (with Idempotent-Replayed: true) and writes nothing.",
        },
    )


class SyncQuerySchema(Schema):
    since = Text(
        # (It names a position in each list the user is in: up to MAX_LISTS_PER_USER of them.)
        validate=[validate.Length(min=1, max=8000), validate.Regexp(r"^[A-Za-z0-9_.\-]+\Z")],
        metadata={
            "pattern": "^[A-Za-z0-9_.-]+$",  # the same, as OpenAPI's (ECMAScript) regular expressions write it
            "description": "next_cursor from the previous page; omit it for a full sync.",
        },
    )
    limit = QueryInteger(load_default=500, validate=validate.Range(1, 1000))


class ChangesSchema(Schema):
    changes = fields.List(
        fields.Nested(TaskSchema),
        required=True,
        metadata={"description": "Tasks created or updated after the cursor, oldest change first."},
    )
    deleted = fields.List(
        fields.Integer(),
        required=True,
        metadata={
            "description": "Ids of tasks that left your view after the cursor: deleted, moved to a list you are "
            "not in, or in a list deleted or that you left. Never an id of this page's changes."
        },
    )
    next_cursor = fields.String(required=True, metadata={"description": "Pass as since to get what follows."})
    has_more = fields.Boolean(required=True, metadata={"description": "More changes wait: ask again at once."})


# --- lists ------------------------------------------------------------------


class ListNameSchema(StrictSchema):
    name = Text(
        required=True,
        validate=[validate.Length(min=1, max=100), not_blank, one_line],
        metadata={"pattern": NOT_BLANK},
    )


class ListSchema(RowSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    owner_id = fields.Integer(required=True)
    role = fields.String(
        required=True, metadata={"enum": ["owner", "editor", "viewer"], "description": "Your role in the list."}
    )
    created_at = fields.DateTime(format="iso", required=True)
    updated_at = fields.DateTime(format="iso", required=True)


class MemberRoleSchema(StrictSchema):
    role = fields.String(required=True, validate=validate.OneOf(["editor", "viewer"]))


class MemberCreateSchema(MemberRoleSchema):
    username = Text(required=True, validate=validate.Length(min=1, max=50))


class MemberSchema(RowSchema):
    user_id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ["owner", "editor", "viewer"]})
