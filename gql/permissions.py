"""Which roles may use which entry points; data scope is decided in Cypher, this only turns roles away (403)."""

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from kgcrm.graph.queries.api_scope import ACCOUNT_MANAGER, ADMIN, INGEST, MANAGER

READ_ROLES = (ADMIN, MANAGER, ACCOUNT_MANAGER)


def _forbid(info: Info) -> None:
    response = getattr(info.context, "response", None)
    if response is not None:
        response.status_code = 403


class _RolePermission(BasePermission):
    roles: tuple[str, ...] = ()
    message = "forbidden"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is not None and principal.role in self.roles:
            return True
        _forbid(info)
        return False


class CanRead(_RolePermission):
    """Reading and editing the CRM needs an admin, manager or account_manager role."""

    roles = READ_ROLES
    message = "forbidden: this field needs the role admin, manager or account_manager"


class CanIngest(_RolePermission):
    """Recording events is open to every role (scoped in Cypher), the ingest role included."""

    roles = (*READ_ROLES, INGEST)
    message = "forbidden: this field needs an authenticated role"


class IsAdmin(_RolePermission):
    """Model governance is for admins only."""

    roles = (ADMIN,)
    message = "forbidden: this field needs the role admin"
