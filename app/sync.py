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
from sqlalchemy import delete, func, select, update

from .errors import APIError
from .extensions import db
from .models import Task, TaskTombstone, User, utcnow

FULL_SYNC = 0  # every change number is above it


def next_change(user_id):
    """Take the user's next change number; holds the user's row until commit."""
    seq = db.session.scalar(update(User).where(User.id == user_id)
                            .values(change_seq=User.change_seq + 1).returning(User.change_seq))
    if seq is None:  # the account was deleted while this request ran
        raise APIError(401, "Not authenticated")
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

    A full sync (a first one, or one that answered 410) pages through the
    tasks that exist and learns of no deletions; its last page hands over a
    cursor for incremental syncs, which also report deletions.
    """
    tasks = db.session.scalars(select(Task).where(Task.owner_id == user.id, Task.change_seq > seq)
                               .order_by(Task.change_seq).limit(limit + 1)).all()
    tombstones = []
    if not full:
        tombstones = db.session.execute(
            select(TaskTombstone.task_id, TaskTombstone.change_seq)
            .where(TaskTombstone.owner_id == user.id, TaskTombstone.change_seq > seq)
            .order_by(TaskTombstone.change_seq).limit(limit + 1)).all()
    # The `limit` oldest of both lists lie within the `limit + 1` oldest of each.
    merged = sorted([(t.change_seq, t) for t in tasks] + [(row.change_seq, row.task_id) for row in tombstones],
                    key=lambda pair: pair[0])
    page, more = merged[:limit], len(merged) > limit
    last = page[-1][0] if page else seq
    if full and not more:
        # Every task is delivered: no task has a number above `last`, so the
        # deletions purged so far concern nothing this client holds.
        last, full = max(last, user.purged_seq), False
    changed = [item for _, item in page if isinstance(item, Task)]
    deleted = [item for _, item in page if not isinstance(item, Task)]
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


