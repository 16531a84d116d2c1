"""Delta sync: what changed in a user's tasks since a cursor.

Every write to a user's tasks takes the next number of that user's change
counter (``users.change_seq``), by an UPDATE that locks the user's row until
the write commits. Why a per-user counter under a row lock, and not a global
sequence: a sequence hands out numbers when transactions start, not when they
commit, so a transaction holding 41 can commit after one holding 42; a client
that synced in between would move its cursor past 41 and never see it. Under
the lock, the user's next change cannot even take its number before the
previous one has committed, so changes become visible in number order and a
cursor never skips one. Writers of different users do not wait on each other;
one user's own devices write one at a time, which a to-do list never notices.

A deleted task leaves a tombstone with its change number; tombstones older
than SYNC_TOMBSTONE_DAYS are purged, and a cursor from before the newest
purged one gets 410: the client must sync from scratch.

Cursors are signed (itsdangerous) with the user's id inside: a forged cursor,
or another user's, is a 422.
"""

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, literal, select, union_all, update

from .errors import APIError
from .extensions import db
from .models import Task, TaskTombstone, User, users, utcnow
from .security import TOKEN_USER, found_signed_in, token_checked, token_params

FULL_SYNC = 0  # every change number is above it


# Built once, on the table: an ORM UPDATE would also look for the user in the
# session to update it there, which every write would pay for. Only while the
# token's user is signed in (TOKEN_USER, app/security.py): a task write checks
# its token and takes its number in one statement.
TAKE_NEXT_CHANGE = (update(users).where(TOKEN_USER)
                    .values(change_seq=users.c.change_seq + 1).returning(users.c.change_seq))


def next_change():
    """Take the signed-in user's next change number; holds the user's row until commit.

    401 when the token's user is not signed in: deleted (even while this
    request ran), at another token version, or logged out.
    """
    seq = db.session.scalar(token_checked(TAKE_NEXT_CHANGE), token_params())
    if seq is None:
        raise APIError(401, "Not authenticated")
    found_signed_in()
    return seq


def _serializer():
    return URLSafeSerializer(current_app.config["JWT_SECRET_KEY"], salt="task-sync-cursor")


def encode_cursor(user_id, seq, full):
    return _serializer().dumps([user_id, seq, full])


def decode_cursor(cursor, user):
    """(change number, full sync?) in ``cursor``: 422 if forged or someone else's, 410 if too old."""
    try:
        user_id, seq, full = _serializer().loads(cursor)
    except (BadSignature, TypeError, ValueError):
        user_id = seq = full = None
    if user_id != user.id or not isinstance(seq, int) or not isinstance(full, bool):
        raise APIError(422, "Invalid sync cursor")
    if not full and seq < user.purged_seq:
        raise APIError(410, "Sync cursor too old: deleted tasks were forgotten since; sync again without since")
    return seq, full


def changes_since(user, seq, full, limit):
    """One page of changes after ``seq``, oldest first: (tasks, deleted ids, next cursor, more?).

    A full sync (a first one, or one that answered 410) pages through what
    exists; its last page hands over a cursor for incremental syncs. Its
    first page skips deletions (the client holds nothing yet); later pages
    report those after their cursor, as a task delivered on page one may be
    deleted before page two.
    """
    in_tasks = select(Task.id.label("id"), Task.change_seq.label("seq"), literal(False).label("deleted")).where(
        Task.owner_id == user.id, Task.change_seq > seq)
    if full and seq == FULL_SYNC:
        numbered = in_tasks
    else:
        numbered = union_all(in_tasks, select(
            TaskTombstone.task_id, TaskTombstone.change_seq, literal(True)).where(
            TaskTombstone.owner_id == user.id, TaskTombstone.change_seq > seq))
    # One statement picks the page, so tasks and tombstones are read in the
    # same snapshot: a change cannot fall between two reads.
    rows = db.session.execute(select(numbered.subquery()).order_by("seq").limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    last = page[-1].seq if page else seq
    if full and not more:
        # Every task is delivered: no task has a number above `last`, so the
        # deletions purged so far concern nothing this client holds.
        last, full = max(last, user.purged_seq), False
    # The tasks' current state: one changed again since is sent again next time;
    # one deleted since is left out here, and its tombstone comes next time.
    current = {task.id: task for task in db.session.scalars(
        select(Task).where(Task.id.in_([row.id for row in page if not row.deleted]), Task.owner_id == user.id))}
    changed = [current[row.id] for row in page if not row.deleted and row.id in current]
    deleted = [row.id for row in page if row.deleted]
    return changed, deleted, encode_cursor(user.id, last, full), more


def leave_tombstone(task_id, owner_id, seq):
    db.session.add(TaskTombstone(task_id=task_id, owner_id=owner_id, change_seq=seq))


def purge_tombstones():
    """Forget tombstones older than SYNC_TOMBSTONE_DAYS; cursors from before them get 410."""
    cutoff = utcnow() - timedelta(days=current_app.config["SYNC_TOMBSTONE_DAYS"])
    newest_purged = (select(func.max(TaskTombstone.change_seq))
                     .where(TaskTombstone.owner_id == User.id, TaskTombstone.deleted_at < cutoff)
                     .scalar_subquery())
    db.session.execute(update(User).where(newest_purged.is_not(None)).values(purged_seq=newest_purged))
    return db.session.execute(delete(TaskTombstone).where(TaskTombstone.deleted_at < cutoff)).rowcount


