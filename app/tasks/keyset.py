"""Keyset pagination of a user's tasks: each page starts where the last one ended, whatever the list's size.

A page reached by ``offset`` makes the database read and throw away every row
before it; a page reached by a cursor starts at its row: the cursor holds the
sort keys (and the id) of the last task sent, and the next page is the tasks
that come after it in the list's order, found through the index that order
reads (``ix_tasks_owner_id_id``, ``ix_tasks_owner_id_due_date_id``, and the
same two for open tasks only). The page's ids are read from the index alone,
then their rows by key. A page then costs the same at 100 tasks and at
100,000 (bench/README.md).

The order is the ``sort`` keys, ties broken by id ascending, tasks without a
due date last either way. "After the cursor" is, for keys k1..kn and the
cursor's values v1..vn: k1 after v1, or k1 = v1 and k2 after v2, and so on;
the first key also bounds the index scan (k1 >= v1). When the list is sorted
by due date first, tasks without one make a second part of the statement
(a UNION ALL), so that each part still reads its index in order.

Statements are built once per sort, set of filters and kind of cursor; a
request binds its values. Cursors are signed (app/tasks/cursors.py) and name
their user and sort: another's, or one given with another sort, is a 422.
"""

from datetime import datetime
from functools import lru_cache

from sqlalchemy import Boolean, and_, any_, bindparam, func, or_, select, true, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ..errors import APIError
from ..guards import OWNER, PRIVATE, VISIBLE
from ..models import MAX_ID, UTCDateTime, list_members, tasks
from .cursors import sign, unsign

NULLABLE = frozenset({"due_date"})  # of the sortable columns; missing values sort last
DATETIMES = frozenset({"due_date", "created_at", "updated_at"})
LIMIT, OFFSET = bindparam("limit"), bindparam("offset")
# How many ids each part must bring (offset + limit) so that the page can be cut from them.
WINDOW = bindparam("window")

# The filters of GET /tasks, each bound by the name of its query parameter.
FILTERS = {
    "completed": tasks.c.completed == bindparam("completed"),
    "due_after": tasks.c.due_date >= bindparam("due_after", type_=UTCDateTime()),
    "due_before": tasks.c.due_date < bindparam("due_before", type_=UTCDateTime()),
    "q": or_(
        tasks.c.title.icontains(bindparam("q"), escape="/"), tasks.c.description.icontains(bindparam("q"), escape="/")
    ),
}


# The space a page reads (``list_id`` in the query): every task the user can see, their own only
# (``list_id=none``), or one list's.
EVERY = "every"
IN_LIST = bindparam("in_list")


def space_of(query):
    """EVERY, None (the user's own tasks) or a list's id."""
    return query.get("list_id", EVERY)


def order(sort):
    """The full order of a list sorted by ``sort`` ((name, descending), ...): ties broken by id."""
    sort = tuple(sort)
    return sort if "id" in (name for name, _ in sort) else sort + (("id", False),)


def filter_values(query):
    """The bound values of the filters the list's query asks for (``q`` as a LIKE pattern, escaped)."""
    values = {name: query[name] for name in FILTERS if name in query}
    if "q" in values:
        values["q"] = values["q"].replace("/", "//").replace("%", "/%").replace("_", "/_")
    return values


@lru_cache(maxsize=256)
def page_statement(keys, filters, after, space=EVERY, dialect="postgresql"):
    """One page of the tasks the user can see in ``space``, in the order ``keys``, narrowed by ``filters`` (names).

    ``after``: None for a page from the start, or the names of the keys whose
    value is missing in the cursor (a frozenset, often empty). Binds
    ``limit``, ``offset``, ``window`` (offset + limit), ``after_<key>``, and
    ``in_list`` for one list's page.
    """
    conditions = [FILTERS[name] for name in sorted(filters)]
    first = keys[0][0]
    if first not in NULLABLE:
        parts = [_part(keys, conditions, NULLABLE, after)]
    else:
        # Sorted by due date first: the tasks with one, then those without
        # (ordered by the other keys), each part read in its index's order.
        rest = None if after is None or first not in after else after - {first}
        parts = (
            []
            if rest is not None
            else [_part(keys, [*conditions, tasks.c[first].is_not(None)], NULLABLE - {first}, after)]
        )
        # (Ordered by the missing due date too: all alike, but then PostgreSQL
        # sees that the index's order is the order asked for, and reads no more.)
        parts.append(
            _part(keys[1:], [*conditions, tasks.c[first].is_(None)], NULLABLE, rest, leading=[tasks.c[first].asc()])
        )
    # The page's ids come first, each part stopping at the window, then their
    # rows by primary key. Ids alone are read from the index itself (an
    # index-only scan): PostgreSQL then never prefers to walk the primary key
    # in id order and filter out other users' tasks, which it did for a user
    # owning much of a table (228 ms for a first page, bench/README.md).
    ids = [select(windowed.subquery()) for part in parts for windowed in _in_space(part, space, dialect)]
    among = ids[0] if len(ids) == 1 else union_all(*ids)
    # Whatever the parts bring, only a task the user can see comes out.
    return (
        select(tasks)
        .where(VISIBLE, *_space_condition(space), AmongIds(tasks.c.id, among.scalar_subquery()))
        .order_by(*_order(keys, NULLABLE))
        .limit(LIMIT)
        .offset(OFFSET)
    )


def _space_condition(space):
    """What a task of ``space`` (EVERY, None or "list") is: any the user can see, their own, or one in the list
    bound as ``in_list``."""
    if space == EVERY:
        return []
    return list(PRIVATE) if space is None else [tasks.c.list_id == IN_LIST]


def _in_space(part, space, dialect):
    """The ids ``part`` selects in ``space``, each source read in its own index's order up to the window.

    The user's own tasks and one list's are each one index range. Every task
    the user can see is their own, then each of their lists' in turn: on
    PostgreSQL one LATERAL subquery per list (a page of a list of 100,000
    tasks reads a window of it, not all of it); SQLite, for development, reads
    them as one.
    """
    if space != EVERY:
        return [part.where(*_space_condition(space)).limit(WINDOW)]
    if dialect != "postgresql":
        return [part.where(VISIBLE).limit(WINDOW)]
    member = list_members.alias("member")
    in_each_list = part.where(tasks.c.list_id == member.c.list_id).limit(WINDOW).lateral()
    shared = (
        select(in_each_list.c.id)
        .select_from(member.join(in_each_list, true()))
        .where(member.c.user_id == OWNER, member.c.left_seq.is_(None))
    )
    return [part.where(*PRIVATE).limit(WINDOW), shared]


class AmongIds(FunctionElement):
    """``column`` is one of the ids that a subquery brings: ``column IN (subquery)``.

    On PostgreSQL, ``column = ANY(ARRAY(subquery))``: the ids are read first,
    once, and the rows are then found by key. PostgreSQL plans an ``IN`` as a
    join, and a page took a third longer (bench/README.md). SQLite has no arrays.
    """

    type = Boolean()
    inherit_cache = True


@compiles(AmongIds)
def _in(element, compiler, **kw):
    column, ids = element.clauses
    return compiler.process(column.in_(ids.element), **kw)


@compiles(AmongIds, "postgresql")
def _any_array(element, compiler, **kw):
    column, ids = element.clauses
    return compiler.process(column == any_(func.array(ids)), **kw)


def _part(keys, conditions, nullable, after, leading=()):
    """The ids of the tasks that match ``conditions``, after the cursor if there is one, in the order of ``keys``."""
    if after is not None:
        conditions = [*conditions, *_after(keys, nullable, after)]
    return select(tasks.c.id).where(*conditions).order_by(*leading, *_order(keys, nullable))


def _order(keys, nullable):
    order = []
    for name, descending in keys:
        column = tasks.c[name].desc() if descending else tasks.c[name].asc()
        # Only where values can be missing: a NULLS LAST on a DESC scan would
        # not match the index's order (it puts them first), and PostgreSQL
        # would sort every row instead of reading the index.
        order.append(column.nulls_last() if name in nullable else column)
    return order


def _after(keys, nullable, missing):
    """The conditions for "after the cursor" in the order ``keys``: the index's bound, and the exact test."""
    alternatives, ties = [], []
    for name, descending in keys:
        column = tasks.c[name]
        if name in missing:  # the cursor's task has no value here: later ones have none either
            ties.append(column.is_(None))
            continue
        value = bindparam(f"after_{name}", type_=column.type)
        beyond = column < value if descending else column > value
        if name in nullable:
            beyond = or_(beyond, column.is_(None))  # missing values come after every value
        alternatives.append(and_(*ties, beyond))
        ties.append(column == value)
    first, descending = keys[0]
    bound = []
    if first not in missing and first not in nullable:  # where the index scan may start
        value = bindparam(f"after_{first}", type_=tasks.c[first].type)
        bound.append(tasks.c[first] <= value if descending else tasks.c[first] >= value)
    return [*bound, or_(*alternatives)]


def cursor_after(user_id, keys, task):
    """The cursor for the page after ``task``, in the order ``keys``."""
    values = [_plain(getattr(task, name)) for name, _ in keys]
    return sign("list", [user_id, _sort_name(keys), values])


def start(user_id, keys, cursor):
    """Where a page starts, for page_statement: (``after``, the ``after_<key>`` values to bind).

    No cursor: (None, {}). A cursor: the keys its task had no value for, and
    the values it had; 422 unless it is one of ours, for this user and sort.
    """
    if cursor is None:
        return None, {}
    try:
        owner, sort_name, values = unsign("list", cursor)
        if owner != user_id or sort_name != _sort_name(keys) or len(values) != len(keys):
            raise ValueError
        at = {name: _value(name, value) for (name, _), value in zip(keys, values, strict=True)}
    except (TypeError, ValueError):
        raise APIError(422, "Invalid cursor: follow the Link header's next with the same sort") from None
    missing = frozenset(name for name, value in at.items() if value is None)
    return missing, {f"after_{name}": value for name, value in at.items() if value is not None}


def _sort_name(keys):
    return ",".join(("-" if descending else "") + name for name, descending in keys)


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _value(name, value):
    """A cursor's value for key ``name``, type-checked (ValueError if it is not of the column's type)."""
    if value is None and name in NULLABLE:
        return None
    if name == "id" and type(value) is int and 1 <= value <= MAX_ID:
        return value
    if name == "title" and isinstance(value, str):
        return value
    if name in DATETIMES and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            return parsed
    raise ValueError(name)


@lru_cache(maxsize=32)
def count_statement(filters, space=EVERY):
    """How many tasks the user can see in ``space`` match ``filters`` (names); no row at all when none
    (nor when the token's check fails: a row found must mean it held)."""
    return (
        select(func.count())
        .select_from(tasks)
        .where(VISIBLE, *_space_condition(space), *(FILTERS[name] for name in sorted(filters)))
        .having(func.count() > 0)
    )
