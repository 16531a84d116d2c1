"""The user's shared lists and their members: every statement on ``lists`` and ``list_members``.

Each is run through the SignedInUser (app/signed_in.py): a read sees only the
lists the user is a member of now, and a write changes only a list the request
holds, taken with the role it needs (``SignedInUser.hold``). A list or member
the user cannot see is a 404, exactly like a missing one. Three plain
statements are the exceptions, each named in tests/test_layout.py with why: the
user to add, found by username; how many lists a user is in; and, for an
account's deletion, the lists holding its tasks.

A list ends as a husk, and a membership as an ended one, rather than going at
once: the devices of its former members must still learn which tasks to
forget (app/tasks/sync.py), and the maintenance purge removes both after
SYNC_TOMBSTONE_DAYS.
"""

from collections import namedtuple

from flask import current_app
from sqlalchemy import bindparam, case, delete, func, insert, literal, select, union, update
from sqlalchemy.exc import IntegrityError

from ..connections import run
from ..errors import APIError
from ..extensions import db
from ..guards import CHANGE, CURRENT_LISTS, LIST, OWNER, owned
from ..models import (
    UTCDateTime,
    can_name_a_row,
    list_departures,
    list_members,
    lists,
    tasks,
    username_key,
    users,
    utcnow,
)
from ..signed_in import NotHeld

OWNER_ONLY, MEMBERS = ("owner",), ("editor", "viewer")
# What goes out (as ListSchema and MemberSchema pick it) for a list or member just written.
ListWithRole = namedtuple("ListWithRole", "id name owner_id role created_at updated_at")
Member = namedtuple("Member", "user_id username role")
THE_LIST = bindparam("list")
NOW = bindparam("now", type_=UTCDateTime())

# The user's current lists, each with their role in it.
MINE = (
    select(lists.c.id, lists.c.name, lists.c.owner_id, list_members.c.role, lists.c.created_at, lists.c.updated_at)
    .select_from(list_members.join(lists))
    .where(owned(list_members), list_members.c.left_seq.is_(None))
    .order_by(lists.c.id)
)
ONE = MINE.where(lists.c.id == THE_LIST)
# A list's current members: the owner first, then the others in the order they joined.
MEMBERS_OF = (
    select(list_members.c.user_id, users.c.username, list_members.c.role)
    .select_from(list_members.join(users))
    .where(
        list_members.c.list_id.in_(CURRENT_LISTS),
        list_members.c.list_id == THE_LIST,
        list_members.c.left_seq.is_(None),
    )
    .order_by(case((list_members.c.role == "owner", 0), else_=1), list_members.c.id)
)
MEMBER = bindparam("member")
ONE_MEMBER = MEMBERS_OF.where(list_members.c.user_id == MEMBER)
CURRENT_MEMBERSHIP = select(list_members.c.id, list_members.c.role).where(
    list_members.c.list_id.in_(CURRENT_LISTS),
    list_members.c.list_id == THE_LIST,
    list_members.c.user_id == MEMBER,
    list_members.c.left_seq.is_(None),
)

CREATE = insert(lists).values(owner_id=OWNER, change_seq=0, purged_seq=0, task_count=0).returning(*lists.c)
JOIN = insert(list_members).values(list_id=LIST, user_id=MEMBER, role=bindparam("role"))
RENAME = update(lists).where(lists.c.id == LIST).values(name=bindparam("new_name"), updated_at=NOW).returning(*lists.c)
CHANGE_ROLE = (
    update(list_members)
    .where(
        list_members.c.list_id == LIST,
        list_members.c.user_id == MEMBER,
        list_members.c.left_seq.is_(None),
        list_members.c.role != "owner",
    )
    .values(role=bindparam("new_role"))
    .returning(list_members.c.id)
)
# Departures numbered after the number the request took, one per task the list holds, oldest task first;
# for every member (member_id NULL), or for one former member alone.
NUMBERED = CHANGE + func.row_number().over(order_by=tasks.c.id)


def _departures(member_id, *conditions):
    return (
        insert(list_departures)
        .from_select(
            ["list_id", "change_seq", "task_id", "member_id", "departed_at"],
            select(LIST, NUMBERED, tasks.c.id, member_id, NOW).where(tasks.c.list_id == LIST, *conditions),
        )
        .returning(list_departures.c.change_seq)
    )


ALL_DEPART = _departures(literal(None))
ONE_MEMBER_DEPARTS = _departures(MEMBER)
LAST_NUMBER = update(lists).where(lists.c.id == LIST).values(change_seq=bindparam("last"))
# The tasks the user created in a list, when their account goes.
THEIRS_DEPART = _departures(literal(None), tasks.c.owner_id == OWNER)
DELETE_THEIRS = delete(tasks).where(tasks.c.list_id == LIST, tasks.c.owner_id == OWNER)
THEIRS_GONE = (
    update(lists)
    .where(lists.c.id == LIST)
    .values(change_seq=bindparam("last"), task_count=lists.c.task_count - bindparam("gone"))
)
END_MEMBERSHIPS = (
    update(list_members)
    .where(list_members.c.list_id == LIST, list_members.c.left_seq.is_(None))
    .values(left_seq=bindparam("last"), left_at=NOW)
)
END_MEMBERSHIP = END_MEMBERSHIPS.where(list_members.c.user_id == MEMBER)
DELETE_TASKS = delete(tasks).where(tasks.c.list_id == LIST)
BURY = (
    update(lists)
    .where(lists.c.id == LIST)
    .values(change_seq=bindparam("last"), task_count=0, deleted_at=NOW, updated_at=NOW)
)
# The lists an account about to go must leave: those it owns, and those holding tasks it created (of
# which it may no longer be a member: a plain statement, for the account's deletion alone).
TO_FORGET = union(
    select(list_members.c.list_id, literal(True).label("owned")).where(
        list_members.c.user_id == OWNER, list_members.c.left_seq.is_(None), list_members.c.role == "owner"
    ),
    select(tasks.c.list_id, literal(False)).where(tasks.c.owner_id == OWNER, tasks.c.list_id.is_not(None)),
)

USER_BY_NAME = select(users.c.id, users.c.username).where(users.c.username_key == bindparam("key"))
LISTS_OF = select(func.count()).where(list_members.c.user_id == MEMBER, list_members.c.left_seq.is_(None))


def create(user, name):
    """A new list, owned by the user (a member with role owner); 409 past MAX_LISTS_PER_USER."""
    user.hold()  # the user's row, held until commit: their lists are counted one request at a time
    if _lists_of(user.id) >= current_app.config["MAX_LISTS_PER_USER"]:
        raise APIError(409, "List limit reached")
    now = utcnow()
    created = user.write(CREATE, name=name, created_at=now, updated_at=now)[0]
    user.write(JOIN, space=created.id, member=user.id, role="owner")
    return _with_role(created, "owner")


def mine(user):
    return user.rows(MINE)


def one(user, list_id):
    """The user's list ``list_id``, with their role; 404 if they are not a member of it."""
    found = user.row(ONE, list=_list_id(list_id))
    if found is None:
        raise not_found()
    return found


def rename(user, list_id, name):
    hold(user, list_id, roles=OWNER_ONLY)
    renamed = user.write(RENAME, space=list_id, new_name=name, now=utcnow())[0]
    return _with_role(renamed, "owner")


def remove(user, list_id):
    """Delete the list and its tasks. Every task leaves it (a departure each, for the members' devices), every
    membership ends, and the list stays as a husk until the purge."""
    held = hold(user, list_id, roles=OWNER_ONLY)
    now = utcnow()
    last = _last(held, user.write(ALL_DEPART, space=list_id, now=now))
    user.write(END_MEMBERSHIPS, space=list_id, last=last, now=now)
    user.write(DELETE_TASKS, space=list_id)
    user.write(BURY, space=list_id, last=last, now=now)


def forget_account(user):
    """Before the user's account is deleted: the lists they own are deleted, and the tasks they created in
    other lists go (a departure each), so that every member's devices forget them.

    The lists are read, then held in ascending order; another member may move one of the user's tasks
    into a list not read, in between. Once every list read is held, the lists are read again: nothing
    can move out of a held list any more, and the user (their row held) can create nothing. A list found
    then above those held is held in turn; one below cannot be (the order that keeps writes from
    deadlocking), and the deletion is refused with a 409, to be tried again.
    """
    user.hold()  # the user's row first, as every write: from then on they create nothing
    done, held = set(), [0]
    while True:
        found = {}  # list id -> whether the user owns it (a list may come twice: owned, and with their tasks)
        for row in run(TO_FORGET, {"me": user.id}):
            if row.list_id not in done:
                found[row.list_id] = found.get(row.list_id, False) or row.owned
        if not found:
            return
        if min(found) < max(held):
            raise APIError(409, "Your tasks were moved meanwhile; try again")
        for list_id, owned_by_user in sorted(found.items()):
            done.add(list_id)
            held.append(list_id)
            if owned_by_user:
                remove(user, list_id)
                continue
            try:
                taken = user.hold(list_id, roles=None)
            except NotHeld:  # the user's tasks there were moved out since: where to is read again
                held.pop()
                continue
            departed = user.write(THEIRS_DEPART, space=list_id, now=utcnow())
            user.write(DELETE_THEIRS, space=list_id)
            user.write(THEIRS_GONE, space=list_id, last=_last(taken, departed), gone=len(departed))


def members(user, list_id):
    found = user.rows(MEMBERS_OF, list=_list_id(list_id))
    if not found:  # a list always has its owner: the user is not a member
        raise not_found()
    return found


def add_member(user, list_id, username, role):
    """Add the user named ``username`` with ``role``; 404 if there is none, 400 if they are a member already."""
    hold(user, list_id, roles=OWNER_ONLY)
    found = run(USER_BY_NAME, {"key": username_key(username)})
    if not found:
        raise APIError(404, "User not found")
    member = found[0].id
    if _lists_of(member) >= current_app.config["MAX_LISTS_PER_USER"]:
        raise APIError(409, "That user is in too many lists")
    already = APIError(400, "User is already a member of this list")
    if user.row(CURRENT_MEMBERSHIP, list=list_id, member=member) is not None:
        raise already
    try:
        user.write(JOIN, space=list_id, member=member, role=role)
    except IntegrityError:  # added by a concurrent request: the unique index on current memberships decides
        db.session.rollback()
        raise already from None
    return Member(member, found[0].username, role)


def change_role(user, list_id, member_id, role):
    hold(user, list_id, roles=OWNER_ONLY)
    if not user.write(CHANGE_ROLE, space=list_id, member=_user_id(member_id), new_role=role):
        if member_id == user.id:
            raise APIError(400, "The owner's role cannot change")
        raise _member_not_found()
    return user.row(ONE_MEMBER, list=list_id, member=member_id)


def remove_member(user, list_id, member_id):
    """End ``member_id``'s membership: the owner removes anyone else, and a member removes themself (leaving).

    The tasks the list holds then leave the former member's view: a departure
    each, for their devices alone.
    """
    leaving = member_id == user.id
    try:
        held = user.hold(_list_id(list_id), roles=MEMBERS if leaving else OWNER_ONLY)
    except NotHeld as refused:
        if leaving and refused.role == "owner":
            raise APIError(400, "The owner cannot leave the list; delete it instead") from None
        raise _refusal(refused) from None
    membership = user.row(CURRENT_MEMBERSHIP, list=list_id, member=_user_id(member_id))
    if membership is None or membership.role == "owner":  # (the owner, by the owner: leaving, refused above)
        raise _member_not_found()
    now = utcnow()
    last = _last(held, user.write(ONE_MEMBER_DEPARTS, space=list_id, member=membership.id, now=now))
    user.write(END_MEMBERSHIP, space=list_id, member=member_id, last=last, now=now)
    user.write(LAST_NUMBER, space=list_id, last=last)


def not_found():
    return APIError(404, "List not found")


def hold(user, *list_ids, roles, instead=None, **options):
    """Take the lists for a write that needs one of ``roles`` (SignedInUser.hold): 404 for a list the user
    is not in, 403 for a role that may not do it. ``instead``: {list id: the refusal for a list the user is
    not in}, for a list the user did not name (a task's, which they may have left since they read it)."""
    try:
        return user.hold(*(_list_id(list_id) for list_id in list_ids), roles=roles, **options)
    except NotHeld as refused:
        if refused.role is None and refused.list_id in (instead or {}):
            raise instead[refused.list_id] from None
        raise _refusal(refused, read_only=roles != OWNER_ONLY) from None


def _refusal(refused, read_only=False):
    if refused.role is None:
        return not_found()
    if read_only:
        return APIError(403, "Read-only access to this list")
    return APIError(403, "Only the list's owner can do this")


def _with_role(row, role):
    return ListWithRole(row.id, row.name, row.owner_id, role, row.created_at, row.updated_at)


def _last(held, departed):
    """The last change number taken once ``departed`` rows were numbered after the request's own."""
    return max([held.change, *(row.change_seq for row in departed)])


def _lists_of(user_id):
    return run(LISTS_OF, {"member": user_id})[0][0]


def checked_id(list_id):
    """``list_id``, if it could name a list at all (404 otherwise); whether the user sees it is the statement's."""
    return _list_id(list_id)


def _list_id(list_id):
    if not can_name_a_row(list_id):  # (PostgreSQL would refuse to compare an integer column with it)
        raise not_found()
    return list_id


def _user_id(user_id):
    if not can_name_a_row(user_id):
        raise _member_not_found()
    return user_id


def _member_not_found():
    return APIError(404, "Member not found")
