"""Delta sync: what changed in a user's tasks since a cursor, and the tombstones of deleted tasks.

Every write to a user's tasks takes the next number of that user's change
counter (``users.change_seq``), by an UPDATE that locks the user's row until
the write commits (``SignedInUser.write``). Why a per-user counter under a
row lock, and not a global sequence: a sequence hands out numbers when
transactions start, not when they commit, so a transaction holding 41 can
commit after one holding 42; a client that synced in between would move its
cursor past 41 and never see it. Under the lock, the user's next change
cannot even take its number before the previous one has committed, so
changes become visible in number order and a cursor never skips one. Writers
of different users do not wait on each other; one user's own devices write
one at a time, which a to-do list never notices.

A deleted task leaves a tombstone with its change number; tombstones older
than SYNC_TOMBSTONE_DAYS are purged, and a cursor from before the newest
purged one gets 410: the client must sync from scratch.

Cursors are signed (app/tasks/cursors.py) with the user's id inside: a forged cursor,
or another user's, is a 422.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, literal, select, union_all, update

from ..errors import APIError
from ..extensions import db
from ..models import task_tombstones, tasks, users, utcnow
from ..signed_in import OWNER, owned
from .cursors import sign, unsign

FULL_SYNC = 0  # every change number is above it
# The change number the request's write took (SignedInUser.write binds it).
CHANGE = bindparam("change")
SEQ = bindparam("seq")


def _numbered(deletions):
    """The user's changes after ``seq``, as (id, seq, deleted), oldest first; one statement, one snapshot.

    Each part reads its (owner_id, change_seq) index from ``seq`` on and stops
    at ``limit``: a page costs the same however many changes follow it.
    """
    limit = bindparam("limit")
    changed = (
        select(tasks.c.id, tasks.c.change_seq.label("seq"), literal(False).label("deleted"))
        .where(owned(tasks), tasks.c.change_seq > SEQ)
        .order_by(tasks.c.change_seq)
        .limit(limit)
    )
    if not deletions:
        return changed
    deleted = (
        select(task_tombstones.c.task_id, task_tombstones.c.change_seq, literal(True))
        .where(owned(task_tombstones), task_tombstones.c.change_seq > SEQ)
        .order_by(task_tombstones.c.change_seq)
        .limit(limit)
    )
    both = union_all(select(changed.subquery()), select(deleted.subquery())).subquery()
    return select(both).order_by(both.c.seq).limit(limit)


TASK_CHANGES = _numbered(deletions=False)
ALL_CHANGES = _numbered(deletions=True)
CURRENT = select(tasks).where(owned(tasks), tasks.c.id.in_(bindparam("ids", expanding=True)))
TOMBSTONE = insert(task_tombstones).values(owner_id=OWNER, change_seq=CHANGE)


def changes(user, since, limit):
    """One page of the user's changes after the cursor ``since`` (None: a full sync), for ChangesSchema.

    A full sync (a first one, or one that answered 410) pages through what
    exists; its last page hands over a cursor for incremental syncs. Its
    first page skips deletions (the client holds nothing yet); later pages
    report those after their cursor, as a task delivered on page one may be
    deleted before page two.
    """
    account = user.account()
    seq, full = _decode_cursor(since, account) if since is not None else (FULL_SYNC, True)
    numbered = TASK_CHANGES if full and seq == FULL_SYNC else ALL_CHANGES
    rows = user.rows(numbered, seq=seq, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    last = page[-1].seq if page else seq
    if full and not more:
        # Every task is delivered: no task has a number above `last`, so the
        # deletions purged so far concern nothing this client holds.
        last, full = max(last, account.purged_seq), False
    # The tasks' current state: one changed again since is sent again next time;
    # one deleted since is left out here, and its tombstone comes next time.
    changed_ids = [row.id for row in page if not row.deleted]
    current = {task.id: task for task in user.rows(CURRENT, ids=changed_ids)} if changed_ids else {}
    return {
        "changes": [current[task_id] for task_id in changed_ids if task_id in current],
        "deleted": [row.id for row in page if row.deleted],
        "next_cursor": _encode_cursor(user.id, last, full),
        "has_more": more,
    }


def leave_tombstone(user, task_id):
    """Remember the user's deleted task, with this write's change number, for syncing devices."""
    user.write(TOMBSTONE, task_id=task_id)


def purge_tombstones():
    """Forget tombstones older than SYNC_TOMBSTONE_DAYS; cursors from before them get 410."""
    cutoff = utcnow() - timedelta(days=current_app.config["SYNC_TOMBSTONE_DAYS"])
    newest_purged = (
        select(func.max(task_tombstones.c.change_seq))
        .where(task_tombstones.c.owner_id == users.c.id, task_tombstones.c.deleted_at < cutoff)
        .scalar_subquery()
    )
    db.session.execute(update(users).where(newest_purged.is_not(None)).values(purged_seq=newest_purged))
    return db.session.execute(delete(task_tombstones).where(task_tombstones.c.deleted_at < cutoff)).rowcount


def _encode_cursor(user_id, seq, full):
    return sign("sync", [user_id, seq, full])


def _decode_cursor(cursor, account):
    """(change number, full sync?) in ``cursor``: 422 if forged or someone else's, 410 if too old."""
    try:
        user_id, seq, full = unsign("sync", cursor)
    except (TypeError, ValueError):  # not a cursor of ours, or not of three values
        user_id = seq = full = None
    if user_id != account.id or not isinstance(seq, int) or not isinstance(full, bool):
        raise APIError(422, "Invalid sync cursor")
    if not full and seq < account.purged_seq:
        raise APIError(410, "Sync cursor too old: deleted tasks were forgotten since; sync again without since")
    return seq, full
