"""Shared lists and their members: each endpoint's line of the contract, and one store call.

Who may do what: any member reads the list and its members; the owner renames
and deletes it and manages members; a member may leave. A list the user is not
a member of is a 404 on every verb. Writes share the task write budget.
"""

from ..blueprint import ApiBlueprint
from ..idempotency import idempotent, user_scope
from ..schemas import IdempotencyHeaders, ListNameSchema, ListSchema, MemberCreateSchema, MemberRoleSchema, MemberSchema
from . import store

bp = ApiBlueprint("lists", __name__, url_prefix="/lists", description="Lists of tasks shared with other users.")

ONE_LIST = "/<int(signed=True):list_id>"
ONE_MEMBER = ONE_LIST + "/members/<int(signed=True):user_id>"


def list_endings():
    """Ending a membership or deleting a list writes a departure per task of the list, for the members'
    devices (app/tasks/sync.py): a budget of their own per user (RATELIMIT_LIST_ENDINGS), so that
    adding and removing a member over and over cannot fill the database."""
    return bp.per_user_limit("RATELIMIT_LIST_ENDINGS", scope="list-endings")


def owner_only(view):
    return bp.alt_response(403, response="FORBIDDEN", description="Only the list's owner can do this")(view)


def not_found(view):
    return bp.alt_response(404, response="NOT_FOUND", description="Not a list you are a member of")(view)


@bp.post("")
@bp.doc(operationId="createList")
@bp.login_required()
@bp.write_budget()
@bp.arguments(ListNameSchema)
@bp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@idempotent(user_scope)
@bp.response(201, ListSchema)
@bp.alt_response(409, response="CONFLICT", description="List limit reached (MAX_LISTS_PER_USER)")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def create_list(user, fields, **_headers):
    """Create a list; you are its owner. With an Idempotency-Key, a retry answers the first result."""
    return store.create(user, fields["name"])


@bp.get("")
@bp.doc(operationId="listLists")
@bp.login_required()
@bp.response(200, ListSchema(many=True))
def list_lists(user):
    """The lists you own or are a member of, each with your role."""
    return store.mine(user)


@bp.get(ONE_LIST)
@bp.doc(operationId="getList")
@bp.login_required()
@bp.response(200, ListSchema)
@not_found
def get_list(user, list_id):
    return store.one(user, list_id)


@bp.patch(ONE_LIST)
@bp.doc(operationId="renameList")
@bp.login_required()
@bp.write_budget()
@bp.arguments(ListNameSchema)
@bp.response(200, ListSchema)
@owner_only
@not_found
def rename_list(user, fields, list_id):
    return store.rename(user, list_id, fields["name"])


@bp.delete(ONE_LIST)
@bp.doc(operationId="deleteList")
@bp.login_required()
@bp.write_budget()
@list_endings()
@bp.response(204)
@owner_only
@not_found
@bp.alt_response(429, response="TOO_MANY_REQUESTS", description="Over RATELIMIT_TASK_WRITES or RATELIMIT_LIST_ENDINGS")
def delete_list(user, list_id):
    """Delete the list and every task in it."""
    store.remove(user, list_id)


@bp.get(ONE_LIST + "/members")
@bp.doc(operationId="listMembers")
@bp.login_required()
@bp.response(200, MemberSchema(many=True))
@not_found
def list_members(user, list_id):
    """The list's members: the owner first, then the others in the order they joined."""
    return store.members(user, list_id)


@bp.post(ONE_LIST + "/members")
@bp.doc(operationId="addMember")
@bp.login_required()
@bp.write_budget()
@bp.arguments(MemberCreateSchema)
@bp.response(201, MemberSchema)
@bp.alt_response(400, response="BAD_REQUEST", description="User is already a member of this list")
@owner_only
@bp.alt_response(404, response="NOT_FOUND", description="List not found, or User not found")
@bp.alt_response(409, response="CONFLICT", description="That user is in too many lists (MAX_LISTS_PER_USER)")
def add_member(user, member, list_id):
    """Share the list with a user, by username, as an editor (reads and writes tasks) or a viewer (reads)."""
    return store.add_member(user, list_id, member["username"], member["role"])


@bp.patch(ONE_MEMBER)
@bp.doc(operationId="changeMemberRole")
@bp.login_required()
@bp.write_budget()
@bp.arguments(MemberRoleSchema)
@bp.response(200, MemberSchema)
@bp.alt_response(400, response="BAD_REQUEST", description="The owner's role cannot change")
@owner_only
@bp.alt_response(404, response="NOT_FOUND", description="List not found, or Member not found")
def change_member_role(user, change, list_id, user_id):
    return store.change_role(user, list_id, user_id, change["role"])


@bp.delete(ONE_MEMBER)
@bp.doc(operationId="removeMember")
@bp.login_required()
@bp.write_budget()
@list_endings()
@bp.response(204)
@bp.alt_response(400, response="BAD_REQUEST", description="The owner cannot leave the list; delete it instead")
@owner_only
@bp.alt_response(404, response="NOT_FOUND", description="List not found, or Member not found")
@bp.alt_response(429, response="TOO_MANY_REQUESTS", description="Over RATELIMIT_TASK_WRITES or RATELIMIT_LIST_ENDINGS")
def remove_member(user, list_id, user_id):
    """Remove a member (the owner), or leave the list (a member, with their own user id)."""
    store.remove_member(user, list_id, user_id)
