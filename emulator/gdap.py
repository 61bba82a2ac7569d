"""A partner tenant's GDAP customers as Microsoft Graph v1.0 lists them: `GET /v1.0/tenantRelationships/delegatedAdminCustomers`.

Modelled from Microsoft's documentation:
- the resource (learn.microsoft.com/graph/api/resources/delegatedadmincustomer): `id` (the
  customer's Entra-assigned id), `tenantId`, `displayName`, all read-only; the object exists while
  at least one delegated admin relationship with the partner does;
- the list (learn.microsoft.com/graph/api/tenantrelationship-list-delegatedadmincustomers):
  application permission `DelegatedAdminRelationship.Read.All` (least privileged) or
  `DelegatedAdminRelationship.ReadWrite.All`; a collection in `value`, further pages by
  `@odata.nextLink` (learn.microsoft.com/graph/paging) with `$skipToken`; "`$top` supports up to 300 objects";
- without the permission: 403 `Authorization_RequestDenied` (learn.microsoft.com/graph/errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

__all__ = ["GDAP_ROLES", "GdapCustomers", "TopError"]

GDAP_ROLES = frozenset({"DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"})
DEFAULT_PAGE = 100  # not documented: any page size the product must page through
MOST_PER_PAGE = 300


class TopError(ValueError):
    """A `$top` Graph would refuse with 400."""


@dataclass
class GdapCustomers:
    """One partner tenant's customers with an active GDAP relationship."""

    page_size: int = DEFAULT_PAGE
    customers: list[dict[str, Any]] = field(default_factory=list)

    def add(self, tenant_id: str, display_name: str) -> None:
        """A customer whose GDAP relationship with this partner became active."""
        self.customers.append({"id": tenant_id, "tenantId": tenant_id, "displayName": display_name})

    def page(self, params: dict[str, str], url: str) -> dict[str, Any]:
        """One page of the list: `value` and, when more remain, `@odata.nextLink`."""
        start = int(params.get("$skiptoken", "0") or 0)
        top = params.get("$top", str(self.page_size))
        if not top.isdigit() or not 1 <= int(top) <= MOST_PER_PAGE:
            raise TopError(f"Invalid page size specified: '{top}'. Must be between 1 and {MOST_PER_PAGE} inclusive.")
        size = min(int(top), self.page_size)  # the server may serve fewer than asked for (learn.microsoft.com/graph/paging)
        answer: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#tenantRelationships/delegatedAdminCustomers",
            "value": self.customers[start : start + size],
        }
        if start + size < len(self.customers):
            answer["@odata.nextLink"] = f"{url}?{urlencode({**params, '$skiptoken': str(start + size)})}"
        return answer
