"""What every statement on a user's data must require: its table's guard.

A guard is the condition that keeps a statement to rows the signed-in user may
reach: their own rows (``owned``), their private tasks (``PRIVATE``), the tasks
they can see (``VISIBLE``: their own, and those of the lists they are a member of
now), and, for a write, the list the request holds (``LIST``, bound by
SignedInUser.write alone, from what ``hold`` took with the user's role checked).
``refuse_unless_guarded`` finds the guard among the conditions a statement's
WHERE clause requires, and refuses the statement (ValueError) before it runs
without one: app/signed_in.py calls it on every statement it runs.
"""

from functools import lru_cache

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql import CompoundSelect, Delete, Insert, Join, Subquery, Update, operators
from sqlalchemy.sql.elements import BooleanClauseList, Grouping
from sqlalchemy.sql.util import join_condition

from .models import (
    list_departures,
    list_members,
    lists,
    password_resets,
    task_tombstones,
    tasks,
    token_families,
    users,
)

# The signed-in user's id, bound by every statement run through a SignedInUser;
# a new row's owner (``insert(table).values(owner_id=OWNER)``).
OWNER = bindparam("me")
# The names of these parameters are no column's (an UPDATE would SET a column a parameter is named
# after: app/connections.py refuses it). Bound by ``write`` alone, from what the request holds: a list it holds (the
# space a write changes), a move's destination list, and the change numbers taken
# in the space changed (``change``; a move's, in the space it enters).
LIST = bindparam("held_list")
TO_LIST = bindparam("to_list")
CHANGE = bindparam("change")
# Tables whose rows are written only by ``write``, in the spaces the request holds.
WRITTEN_BY_WRITE = frozenset({tasks, lists, list_members, list_departures, task_tombstones})
BOUND_BY_WRITE = frozenset(parameter.key for parameter in (OWNER, LIST, TO_LIST, CHANGE))


def owned(table):
    """The rows of ``table`` that are the signed-in user's own."""
    if table is users:
        return table.c.id == OWNER
    return (table.c.user_id if table is list_members else table.c.owner_id) == OWNER


# The lists the user is a member of now (the owner is one too), and ever was.
CURRENT_LISTS = select(list_members.c.list_id).where(owned(list_members), list_members.c.left_seq.is_(None))
EVER_LISTS = select(list_members.c.list_id).where(owned(list_members))
# The user's private tasks: both terms, always.
PRIVATE = (owned(tasks), tasks.c.list_id.is_(None))
# Every task the user can see: their private ones, and every task of their current lists.
VISIBLE = or_(and_(*PRIVATE), tasks.c.list_id.in_(CURRENT_LISTS))

# What each statement must require of its table: one of these (each a tuple of terms, all required).
# A read (``rows``) may use the first set; a write (``write``) the second, whose lists are held.
READ_GUARDS = {
    users: [(owned(users),)],
    tasks: [PRIVATE, (VISIBLE,)],
    lists: [(lists.c.id.in_(CURRENT_LISTS),)],
    # The user's memberships (ended ones too), and the members of their current lists.
    list_members: [(owned(list_members),), (list_members.c.list_id.in_(CURRENT_LISTS),)],
    # Ids of tasks gone from lists the user is or was in (their former member's devices forget them).
    list_departures: [(list_departures.c.list_id.in_(EVER_LISTS),)],
    task_tombstones: [(owned(task_tombstones),)],
    token_families: [(owned(token_families),)],
    password_resets: [(owned(password_resets),)],
}
WRITE_GUARDS = {
    **READ_GUARDS,
    tasks: [PRIVATE, (tasks.c.list_id == LIST,)],
    lists: [(lists.c.id == LIST,)],
    list_members: [(list_members.c.list_id == LIST,)],
    list_departures: [(list_departures.c.list_id == LIST,)],
}
# What an INSERT must give a new row (beyond what a guard of its table's would ask).
INSERT_GUARDS = {
    tasks: {"owner_id": OWNER},  # the creator; a list, if given, is one held
    lists: {"owner_id": OWNER},
    list_members: {"list_id": LIST},
    list_departures: {"list_id": LIST},
    task_tombstones: {"owner_id": OWNER},
}


@lru_cache(maxsize=512)
def refuse_unless_guarded(statement, writing=False):
    """The table ``statement`` works on, once it is known to keep to rows the user may reach.

    That is: all the terms of one of its table's guards (WRITE_GUARDS when
    ``writing``, READ_GUARDS otherwise) are among the
    conditions its WHERE clause requires (in each part of a UNION it reads
    from); a table joined to it is the one its foreign key names (``_leftmost``);
    an INSERT gives what INSERT_GUARDS asks.
    """
    guards = WRITE_GUARDS if writing else READ_GUARDS
    if isinstance(statement, Insert):
        # (SQLAlchemy keeps an INSERT's values() there; its version is pinned.)
        table = statement.table
        required = INSERT_GUARDS.get(table)
        if statement.select is not None:  # INSERT ... SELECT: the rows it reads are guarded, and it gives each row
            refuse_unless_guarded(statement.select, writing)
            selected = dict(zip(statement._select_names, statement.select.selected_columns, strict=True))
            given = {name: getattr(selected.get(name), "element", selected.get(name)) for name in required or ()}
        else:
            given = statement._values
        if not required or any(given.get(name) is not value for name, value in required.items()):
            raise _unguarded(statement)
        if table is tasks and not (given.get("list_id") is None or given.get("list_id") is LIST):
            raise _unguarded(statement)
        return table
    if isinstance(statement, (Update, Delete)):
        table = statement.table
    else:
        (table,) = statement.get_final_froms()
        if isinstance(table, Subquery):  # each part must keep to the user's rows itself
            element = table.element
            for part in element.selects if isinstance(element, CompoundSelect) else [element]:
                refuse_unless_guarded(part, writing)
            return table
        table = _leftmost(table)
    required = _required(statement.whereclause)
    if not any(
        all(any(term.compare(given) for given in required) for term in guard) for guard in guards.get(table, ())
    ):
        raise _unguarded(statement)
    return table


def _leftmost(table):
    """The table a FROM starts at, whose guard the statement must require (ValueError for another join).

    A table may be joined to it only by a foreign key of the guarded rows', to the row it names (a
    membership's list, a member's user): each guarded row then brings one row, the one it names,
    never the rows that name it (a user's tasks, say, which their guard keeps to the visible ones).
    """
    while isinstance(table, Join):
        try:
            by_foreign_key = table.onclause.compare(join_condition(table.left, table.right))
        except ArgumentError:  # (no foreign key between them, or more than one)
            by_foreign_key = False
        named = any(key.column.table is table.right for key in _table(table.left).foreign_keys)
        if not (by_foreign_key and named) or table.full:
            raise ValueError(f"a join that is not to the row a foreign key names: {table}")
        table = table.left
    return table


def _table(from_):
    return from_ if not isinstance(from_, Join) else _table(from_.right)


def _required(clause):
    """The conditions that a WHERE clause requires, each of them (the terms of its top-level AND)."""
    if clause is None:
        return []
    if isinstance(clause, Grouping):  # (an OR within an AND is wrapped in parentheses)
        return _required(clause.element)
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        return [term for part in clause.clauses for term in _required(part)]
    return [clause]


def _unguarded(statement):
    return ValueError(f"a statement on a user's data must require a guard of its own table (GUARDS): {statement}")
