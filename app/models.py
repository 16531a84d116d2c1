"""Tables: columns, constraints and indexes. Nothing here knows about HTTP."""

import unicodedata
from datetime import datetime, timezone

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, validates
from sqlalchemy.types import TypeDecorator

from .extensions import db

# Ids are PostgreSQL ``integer`` columns; a larger number cannot name a row
# (and PostgreSQL would refuse to compare with it), so it is simply not found.
MAX_ID = 2**31 - 1


def can_name_a_row(row_id):
    """Whether ``row_id`` is within an id column's range (1..MAX_ID): an id beyond it is simply not found."""
    return 1 <= row_id <= MAX_ID


USERNAME_KEY_LENGTH = 255


def utcnow():
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A ``timestamptz`` that always comes back timezone-aware, in UTC.

    PostgreSQL keeps the offset; SQLite keeps none and returns naive values,
    so values are stored as UTC and read back as UTC on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:  # pragma: no cover - a programming error, not input
                raise ValueError("naive datetime given to a UTCDateTime column")
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is None or value.tzinfo is timezone.utc:  # PostgreSQL's, in a UTC session: as it comes
            return value
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def username_key(username):
    """The form in which two usernames that look alike are equal.

    NFKC folds look-alike code points (full-width letters, ligatures) and
    casefold() folds case in every script; computed here rather than with SQL
    ``lower()``, which SQLite applies to ASCII letters only.
    """
    return unicodedata.normalize("NFKC", username).casefold()


class User(db.Model):
    __tablename__ = "users"
    # SQLite would otherwise hand a deleted row's id to the next new row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50))  # as the user wrote it
    # "Alice" and "alice" are one name: unique on the folded form.
    username_key: Mapped[str] = mapped_column(String(USERNAME_KEY_LENGTH), unique=True)
    # Stored lower-case (the schema normalises it), so a plain unique index
    # makes e-mail addresses unique case-insensitively.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(60))
    # Every token carries the version it was issued under; changing the
    # password moves it on, so every token issued before is refused.
    token_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The number of this user's last change to their tasks (see app/tasks/sync.py),
    # and the newest change whose tombstone was purged (older cursors: 410).
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    purged_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # How many tasks the user has: moved with the change number by every write that adds or
    # removes one (SignedInUser.write), so MAX_TASKS_PER_USER is checked without counting.
    task_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @validates("username")
    def _keep_username_key(self, _key, username):
        self.username_key = username_key(username)
        return username


def new_account_values(username, email, hashed_password):
    """A new account's column values (for the INSERTs of app/users/store.py)."""
    return {
        "username": username,
        "username_key": username_key(username),
        "email": email,
        "hashed_password": hashed_password,
        "token_version": 1,
        "change_seq": 0,
        "purged_seq": 0,
        "task_count": 0,
        "created_at": utcnow(),
    }


def _where(condition):
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


PRIVATE_ONLY, IN_A_LIST = "list_id IS NULL", "list_id IS NOT NULL"


def space_indexes(kind, leader, space):
    """The indexes of one kind of space (partial: each holds only its kind's tasks), by name, columns and condition.

    For the migration too: (kind_leader_id), (..._due_date_id), the same two for open tasks only
    (completed=false, which a user of years finds among tens of thousands of done ones), and the
    change numbers.
    """
    open_only = f"{space} AND NOT completed"
    return [
        Index(f"ix_tasks_{kind}_{leader}_id", leader, "id", **_where(space)),
        Index(f"ix_tasks_{kind}_{leader}_due_date_id", leader, "due_date", "id", **_where(space)),
        Index(f"ix_tasks_{kind}_open_{leader}_id", leader, "id", **_where(open_only)),
        Index(f"ix_tasks_{kind}_open_{leader}_due_date_id", leader, "due_date", "id", **_where(open_only)),
        Index(f"ix_tasks_{kind}_{leader}_change_seq", leader, "change_seq", **_where(space)),
    ]


class Task(db.Model):
    __tablename__ = "tasks"
    # (sqlite_autoincrement, below: never reuse a deleted task's id, so a client
    # retrying a DELETE cannot remove a newer task; SQLite would reuse the highest.)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed: Mapped[bool] = mapped_column(default=False, server_default=false())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))  # its creator
    # The shared list it is in; None: its creator's private task.
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    # Its last change's number, and the number of the change that brought it into its space (its
    # creation, or its move there), both in its space's counter: the owner's, or the list's.
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    entered_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        # The creator's tasks, whatever their list: account deletion, and the creator's own lookups.
        Index("ix_tasks_owner_id_id", "owner_id", "id"),
        # One per way a page of tasks is read in order, for each kind of space a task lives in: a
        # user's private tasks (led by the owner) and a list's (led by the list). A page starts where
        # its cursor points and reads only its own space's rows (app/tasks/keyset.py); the sync reads
        # a space's changes in number order (app/tasks/sync.py).
        *space_indexes("private", "owner_id", PRIVATE_ONLY),
        *space_indexes("list", "list_id", IN_A_LIST),
        {"sqlite_autoincrement": True},
    )

    def __init__(self, **fields):
        super().__init__(**new_task_values(fields))


def new_task_values(fields):
    """A new task's column values: ``fields`` with its timestamps.

    One clock reading, so a new task's created_at equals its updated_at.
    (For ``Task(...)`` and for the INSERT of app/tasks/store.py.)
    """
    now = utcnow()
    values = {"created_at": now, "updated_at": now, **fields}
    if values.get("completed"):
        values.setdefault("completed_at", now)
    return values


class TaskList(db.Model):
    """A list of tasks that its owner shares with its members (ListMember), each with a role.

    A deleted list stays as a husk (``deleted_at``), without tasks or members, until the
    maintenance purge: its former members' devices still learn which tasks to forget
    (app/tasks/sync.py).
    """

    __tablename__ = "lists"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # None once the owner's account is deleted (its lists are deleted first: a husk outlives it).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # The list's change counter (its tasks' change numbers), the newest number whose departures
    # were purged, and how many tasks it holds (MAX_TASKS_PER_LIST).
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    purged_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    task_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


ROLES = ("owner", "editor", "viewer")
WRITERS = ("owner", "editor")


class ListMember(db.Model):
    """A user's membership of a list, from when they were added until they left or were removed.

    An ended membership stays (``left_seq``: the list's change number when it ended) until the
    maintenance purge, so that the former member's devices are told which tasks to forget; a
    member added again gets a new membership, and their devices the list's tasks again.
    """

    __tablename__ = "list_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))
    left_seq: Mapped[int | None] = mapped_column(BigInteger)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        CheckConstraint("role IN ('owner', 'editor', 'viewer')", name="role"),
        # One current membership per user and list; the members of a list, in the order they joined.
        Index("ux_list_members_current", "list_id", "user_id", unique=True, **_where("left_seq IS NULL")),
        # A user's current lists: what every statement on shared tasks checks.
        Index("ix_list_members_current_user_id_list_id", "user_id", "list_id", **_where("left_seq IS NULL")),
        Index("ix_list_members_list_id_id", "list_id", "id"),
        {"sqlite_autoincrement": True},
    )


class ListDeparture(db.Model):
    """A task that left a list (deleted, moved out, or with the list), for its members' syncing devices.

    Numbered in the list's counter. ``member_id``: None for every member; a membership's id for the
    rows written when that membership ended, one per task the list then held, for that former
    member's devices alone.
    """

    __tablename__ = "list_departures"

    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)
    change_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    task_id: Mapped[int]
    member_id: Mapped[int | None]
    departed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# The tables, for the stores' statements: built on the tables rather than the
# models' attributes, a statement skips the ORM's compile and loading steps,
# which a store that sends rows needs none of (bench/README.md).
users = User.__table__
tasks = Task.__table__
lists = TaskList.__table__
list_members = ListMember.__table__
list_departures = ListDeparture.__table__


class RevokedSession(db.Model):
    """A logged-out session (or one whose refresh token was used twice): its tokens are refused
    until the session's refresh token expires (app/revocation.py)."""

    __tablename__ = "revoked_sessions"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


revoked_sessions = RevokedSession.__table__


class TokenFamily(db.Model):
    """A session that has refreshed, and the one refresh token of it that may be used next (RFC 9700, 4.14).

    A session that never refreshed has no row: its login's refresh token is
    its only one (app/users/store.py rotates it).
    """

    __tablename__ = "token_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the session's id, the tokens' sid
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    jti: Mapped[str] = mapped_column(String(36))  # the current refresh token's id
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # when the session's tokens expire


token_families = TokenFamily.__table__


class IdempotencyRecord(db.Model):
    """A request made with an Idempotency-Key: reserved, then completed with its answer.

    Completed in the same transaction as the write it answers, so a crash can
    never leave a write without its record (a retry would then repeat it).
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)  # "user:7", or "signup:" + a hashed address
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # HMAC-SHA256 (keyed: a signup body holds a password) of the method, path and body.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # None while the first request runs
    response_body: Mapped[str | None] = mapped_column(Text)  # the exact bytes answered
    response_headers: Mapped[str | None] = mapped_column(Text)  # JSON: the ETag, for instance
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)  # a reservation older than this was abandoned
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TaskTombstone(db.Model):
    """A deleted task, so that clients syncing changes learn of the deletion."""

    __tablename__ = "task_tombstones"

    task_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    change_seq: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (Index("ix_task_tombstones_owner_id_change_seq", "owner_id", "change_seq"),)


task_tombstones = TaskTombstone.__table__


class PasswordReset(db.Model):
    """A password reset link not used yet: the SHA-256 of its token, never the token itself.

    A database leak then gives no link that works. The account's older links
    go when a new one is issued, and all of them once one is used
    (app/users/store.py).
    """

    __tablename__ = "password_resets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


password_resets = PasswordReset.__table__
