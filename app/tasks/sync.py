"""Delta sync: what changed, since a cursor, in every task the user can see, and which tasks left their view.

Spaces. A task lives in one space: its creator's own tasks, or a shared list.
Each space has a change counter (``users.change_seq``, ``lists.change_seq``).
Every write takes the next number of each space it changes, by an UPDATE that
holds the space's row until the write commits (``SignedInUser.hold``). Why a
counter under a row lock, and not a global sequence: a sequence hands out
numbers when transactions start, not when they commit, so a transaction
holding 41 can commit after one holding 42; a client that synced in between
would move its cursor past 41 and never see it. Under the lock, a space's
next change cannot even take its number before the previous one has
committed, so a space's changes become visible in number order and a cursor
never skips one. Writers of different spaces do not wait on each other; the
writers of one list (its members' devices) write one at a time, which a to-do
list never notices.

A user syncs the spaces they can see: their own, and each list they are a
member of. The cursor holds a position (a change number) in each, by
membership: a member removed and added again has a new membership, whose
devices receive the list anew. A page reads each space after its position, in
turn: one statement, a UNION ALL of one part per space (its changed tasks, and
what left it), each reading its (space, change_seq) index from the position
on and stopping at the page's limit.

What leaves a space leaves a trace numbered in it: a tombstone in the user's
own (a task deleted, or moved to a list), a departure in a list's (a task
deleted, moved out, or gone with the list). When a membership ends, the list
numbers one departure per task it then holds, for that membership alone: the
former member's devices read the list up to the membership's end
(``left_seq``), forget those tasks, and drop the list. A trace is not sent for
a task the user still sees and that their device has through another space
(the task entered it at or before the page's position there): a task moved
from the user's own tasks into their list is a change, not a deletion.

Costs. Per write: one UPDATE per space it changes (the number, row held) and
one trace per task leaving a space; ending a membership or deleting a list,
one departure per task of the list, in one INSERT ... SELECT. Per sync page:
three statements, however many lists: the user's spaces (their row and their
memberships), the page (one part per space, each an index range that stops
at the limit), and the current rows of the page's tasks.

Traces older than SYNC_TOMBSTONE_DAYS are purged (the newest purged number
kept per space); a cursor from before it gets 410, and the client syncs from
scratch. Cursors are signed (app/tasks/cursors.py) with the user's id inside:
a forged cursor, or another user's, is a 422.
"""

from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import BigInteger, bindparam, cast, delete, exists, func, literal, null, or_, select, union_all, update

from ..errors import APIError
from ..extensions import db
from ..guards import EVER_LISTS, PRIVATE, VISIBLE, owned
from ..models import list_departures, list_members, lists, task_tombstones, tasks, users, utcnow
from .cursors import sign, unsign

OWN = 0  # the user's own space, first in every page; a membership's space is named by its id
FULL = (0, True)  # a space not synced yet: every change number is above 0, and the client holds none of it
LIMIT = bindparam("limit")

# The user's spaces: their own, their current memberships, and the ended ones their cursor still follows.
_NO_LIST = cast(null(), BigInteger)
_SPACES = union_all(
    select(
        literal(OWN).label("member_id"),
        _NO_LIST.label("list_id"),
        users.c.purged_seq,
        _NO_LIST.label("left_seq"),
    ).where(owned(users)),
    select(list_members.c.id, list_members.c.list_id, lists.c.purged_seq, list_members.c.left_seq)
    .select_from(list_members.join(lists))
    .where(
        owned(list_members),
        or_(list_members.c.left_seq.is_(None), list_members.c.id.in_(bindparam("followed", expanding=True))),
    ),
).subquery()
SPACES = select(_SPACES)
CURRENT = select(tasks).where(VISIBLE, tasks.c.id.in_(bindparam("ids", expanding=True)))


class Space:
    """One space of a page: what it is, and where the client's position in it is."""

    __slots__ = ("member_id", "list_id", "seq", "full", "ended", "purged")

    def __init__(self, member_id, list_id, position, ended, purged):
        self.member_id, self.list_id, (self.seq, self.full) = member_id, list_id, position
        self.ended = ended  # None, or the change number at which the membership ended
        self.purged = purged  # the space's newest change number whose traces were purged

    @property
    def shape(self):
        kind = "own" if self.member_id == OWN else ("ended" if self.ended is not None else "list")
        return kind, not (self.full and self.seq == 0)  # (a full sync's first page: no traces yet)


def changes(user, since, limit):
    """One page of changes after the cursor ``since`` (None: a full sync), for ChangesSchema.

    A full sync (a first one, or one that answered 410) pages through what
    exists; its last page hands over a cursor for incremental syncs. A space
    added since (a list joined) is synced from scratch within an incremental
    sync.
    """
    own, followed = _decode_cursor(since, user.id) if since is not None else (FULL, {})
    spaces = _spaces(user, own, followed)
    params = {"limit": limit + 1}
    for n, space in enumerate(spaces):
        params.update({f"seq_{n}": space.seq, f"list_{n}": space.list_id, f"member_{n}": space.member_id})
        params[f"end_{n}"] = space.ended
    rows = user.rows(_page_statement(tuple(space.shape for space in spaces)), **params)
    page, more = rows[:limit], len(rows) > limit
    cut = rows[limit].space if more else len(spaces)  # the first space not delivered whole
    for row in page:
        spaces[row.space].seq = max(spaces[row.space].seq, row.seq)
    ids = list(dict.fromkeys(row.id for row in page))
    current = {task.id: task for task in user.rows(CURRENT, ids=ids)} if ids else {}
    for space in spaces[:cut]:  # every change of these is delivered
        if space.full:
            space.seq, space.full = max(space.seq, space.purged), False
    changed = list(dict.fromkeys(row.id for row in page if not row.deleted and row.id in current))
    positions = {space.list_id: space.seq for space in spaces if space.ended is None}
    gone = [
        row.id
        for row in page
        if row.deleted and row.id not in changed and not _held_elsewhere(current.get(row.id), positions)
    ]
    kept = [space for n, space in enumerate(spaces) if not (space.ended is not None and n < cut)]
    return {
        "changes": [current[task_id] for task_id in changed],
        "deleted": list(dict.fromkeys(gone)),
        "next_cursor": _encode_cursor(user.id, kept),
        "has_more": more,
    }


def _held_elsewhere(task, positions):
    """Whether a device at ``positions`` (list id, or None for the user's own, to change number) has ``task``,
    which the user can see now: it entered its space at or before the device's position there."""
    return task is not None and task.list_id in positions and task.entered_seq <= positions[task.list_id]


def _spaces(user, own, followed):
    """The spaces of this page, in order: the user's own, then each membership by id; 410 for a position
    older than the traces kept, or in a membership forgotten since."""
    found = {row.member_id: row for row in user.rows(SPACES, followed=list(followed))}
    if set(followed) - set(found):
        raise _too_old()
    spaces = []
    for member_id, row in sorted(found.items()):
        position = own if member_id == OWN else followed.get(member_id, FULL)
        space = Space(member_id, row.list_id, position, row.left_seq, row.purged_seq)
        if not space.full and space.seq < row.purged_seq:
            raise _too_old()
        if space.ended is None or space.seq < space.ended:
            spaces.append(space)
    return spaces


@lru_cache(maxsize=256)
def _page_statement(shapes):
    """One part per space (``shapes``: (kind, with traces) each), numbered by its place; one statement."""
    parts = []
    for n, (kind, traces) in enumerate(shapes):
        seq, list_id, member_id = (bindparam(f"{name}_{n}") for name in ("seq", "list", "member"))
        if kind == "own":
            changed = select(tasks.c.id, tasks.c.change_seq).where(*PRIVATE, tasks.c.change_seq > seq)
            left = select(task_tombstones.c.task_id, task_tombstones.c.change_seq).where(
                owned(task_tombstones), task_tombstones.c.change_seq > seq
            )
        else:
            departed = select(list_departures.c.task_id, list_departures.c.change_seq).where(
                list_departures.c.list_id.in_(EVER_LISTS),
                list_departures.c.list_id == list_id,
                list_departures.c.change_seq > seq,
            )
            if kind == "ended":
                changed = None
                left = departed.where(
                    or_(list_departures.c.member_id.is_(None), list_departures.c.member_id == member_id),
                    list_departures.c.change_seq <= bindparam(f"end_{n}"),
                )
            else:
                # Only while the membership lasts: ended since the spaces were read, it is read as ended next time.
                current = exists().where(list_members.c.id == member_id, list_members.c.left_seq.is_(None))
                changed = select(tasks.c.id, tasks.c.change_seq).where(
                    VISIBLE, tasks.c.list_id == list_id, tasks.c.change_seq > seq, current
                )
                left = departed.where(list_departures.c.member_id.is_(None), current)
        for select_, deleted in ((changed, False), (left if traces else None, True)):
            if select_ is not None:
                numbered = select_.add_columns(literal(deleted).label("deleted"), literal(n).label("space"))
                ordered = numbered.order_by(numbered.selected_columns[1]).limit(LIMIT).subquery()
                parts.append(select(ordered))
    both = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return (
        select(both.c[0].label("id"), both.c[1].label("seq"), both.c.deleted, both.c.space)
        .order_by(both.c.space, both.c[1])
        .limit(LIMIT)
    )


def purge_tombstones():
    """Forget traces older than SYNC_TOMBSTONE_DAYS, ended memberships and deleted lists as old; cursors from
    before them get 410. How many traces were forgotten."""
    cutoff = utcnow() - timedelta(days=current_app.config["SYNC_TOMBSTONE_DAYS"])
    forgotten = 0
    for space, traces, at in (
        (users, task_tombstones, task_tombstones.c.deleted_at),
        (lists, list_departures, list_departures.c.departed_at),
    ):
        owner = traces.c.owner_id if traces is task_tombstones else traces.c.list_id
        purged = select(owner).where(at < cutoff)
        # The spaces' rows first, in id order, as writes take them (app/signed_in.py): no deadlock with one.
        db.session.execute(select(space.c.id).where(space.c.id.in_(purged)).order_by(space.c.id).with_for_update())
        newest_purged = select(func.max(traces.c.change_seq)).where(owner == space.c.id, at < cutoff).scalar_subquery()
        db.session.execute(update(space).where(newest_purged.is_not(None)).values(purged_seq=newest_purged))
        forgotten += db.session.execute(delete(traces).where(at < cutoff)).rowcount
    db.session.execute(delete(list_members).where(list_members.c.left_at < cutoff))
    db.session.execute(delete(lists).where(lists.c.deleted_at < cutoff))
    return forgotten


def _encode_cursor(user_id, spaces):
    own = next((space for space in spaces if space.member_id == OWN), None)
    followed = {str(space.member_id): [space.seq, space.full] for space in spaces if space.member_id != OWN}
    return sign("sync", [user_id, own.seq, own.full, followed])


def _decode_cursor(cursor, user_id):
    """(the own space's position, {membership id: position}) in ``cursor``: 422 if forged or someone else's.

    A cursor of the release before lists has three values: the own space's position alone.
    """
    payload = unsign("sync", cursor)
    if isinstance(payload, list) and len(payload) == 3:
        payload = [*payload, {}]
    try:
        owner, seq, full, followed = payload
        positions = {int(member): _position(*position) for member, position in followed.items()}
        if owner != user_id or any(member < 1 for member in positions):
            raise ValueError
        return _position(seq, full), positions
    except (TypeError, ValueError, AttributeError):
        raise APIError(422, "Invalid sync cursor") from None


def _position(seq, full):
    if type(seq) is not int or seq < 0 or not isinstance(full, bool):
        raise ValueError
    return seq, full


def _too_old():
    return APIError(410, "Sync cursor too old: deleted tasks were forgotten since; sync again without since")
