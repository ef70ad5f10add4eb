"""Expected failures as schema types: each names the field it is about and never holds another owner's data."""

import strawberry


@strawberry.interface(description="A failure the caller can act on; `field` names the input at fault.")
class UserError:
    message: str
    field: str | None = None


@strawberry.type(description="Nothing the caller may see has this id (it may not exist, or belong to another book).")
class NotFound(UserError):
    id: str | None = None


@strawberry.type(description="The caller's role or book does not allow this change.")
class NotAllowed(UserError):
    pass


@strawberry.type(description="An input value is malformed or out of range.")
class InvalidInput(UserError):
    pass


@strawberry.type(description="The action is not waiting for approval (already decided, or never needed it).")
class ActionNotPending(UserError):
    status: str | None = None


@strawberry.type(description="Scoring is not available in this deployment yet (the ML issue adds it).")
class ScoringUnavailable(UserError):
    pass


def not_found(field: str, raw_id: str, what: str) -> NotFound:
    return NotFound(message=f"{field}: no {what} with this id is visible to you", field=field, id=raw_id)


def invalid(field: str, why: str) -> InvalidInput:
    return InvalidInput(message=f"{field}: {why}", field=field)


def not_allowed(field: str, why: str) -> NotAllowed:
    return NotAllowed(message=f"{field}: {why}", field=field)
