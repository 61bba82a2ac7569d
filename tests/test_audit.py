"""Who changed the setting: the emulator's audit log against Microsoft's documentation, and the product's reading of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE, policy_update
from emulator.state import WRITE_ROLE
from providers.common.errors import UnexpectedResponseError
from providers.graph.audit import AUDIT_PATH, PAGE, _value, last_change
from providers.graph.authorization_policy import BITLOCKER_KEYS
from providers.graph.client import GraphClient, _same_origin

pytestmark = pytest.mark.usefixtures("trust_emulator")


def graph_for(emulator: Emulator, tenant: Tenant, http: httpx.Client, roles: tuple[str, ...]) -> tuple[GraphClient, str]:
    """The product's Graph client for `tenant`, as an app with `roles`; and the app's client id."""
    app = tenant.add_app(roles=roles)
    token = emulator.access_token(tenant, roles, app_id=app.client_id)
    return GraphClient(http, emulator.url, lambda: token), app.client_id


def audit_gets(emulator: Emulator, tenant: Tenant) -> list[str]:
    return [r.path for r in emulator.graph_requests("GET", tenant) if r.path.lower().endswith("/directoryaudits")]


def test_a_portal_change_is_found_with_the_admin_who_made_it(emulator: Emulator, tenant: Tenant, http: httpx.Client) -> None:
    graph, _ = graph_for(emulator, tenant, http, (WRITE_ROLE, AUDIT_ROLE))
    emulator.set_bitlocker(tenant, False, by="bob@contoso.com")
    found = last_change(graph, False)
    assert found.change is not None
    assert (found.change.by, found.change.ours, found.change.old, found.change.new) == ("bob@contoso.com", False, True, False)
    assert found.describe().startswith("changed by bob@contoso.com at 20")
    assert len(audit_gets(emulator, tenant)) == 1


def test_our_own_apps_change_is_recognised_as_ours(emulator: Emulator, tenant: Tenant, http: httpx.Client) -> None:
    graph, client_id = graph_for(emulator, tenant, http, (WRITE_ROLE, AUDIT_ROLE))
    graph.write(BITLOCKER_KEYS, False)
    found = last_change(graph, False)
    assert found.change is not None
    assert found.change.ours
    assert found.describe().startswith(f"changed by this product's app (bitlocker-policy (app {client_id})) at ")


def test_our_change_is_ours_when_the_event_names_only_our_service_principal(
    emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    graph, _ = graph_for(emulator, tenant, http, (WRITE_ROLE, AUDIT_ROLE))
    tenant.audit.app_id_null = True  # as an exported real event has it
    graph.write(BITLOCKER_KEYS, False)
    assert tenant.audit.events[-1].document["initiatedBy"]["app"]["appId"] is None
    found = last_change(graph, False).change
    assert found is not None
    assert found.ours


def test_a_drift_is_not_blamed_on_an_older_change_while_its_own_event_is_still_minutes_away(
    emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    graph, _ = graph_for(emulator, tenant, http, (WRITE_ROLE, AUDIT_ROLE))
    graph.write(BITLOCKER_KEYS, False)  # ours, in the log
    tenant.audit.delay = timedelta(minutes=3)
    emulator.set_bitlocker(tenant, True, by="mallory@contoso.com")  # the drift, not in the log yet
    assert last_change(graph, True).describe() == (
        "the change to true is not in Entra's audit log (events take minutes; it keeps 7 days, 30 with P1/P2)"
    )


def test_without_auditlog_read_all_one_line_says_what_to_grant_and_nothing_fails(
    emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    graph, _ = graph_for(emulator, tenant, http, (WRITE_ROLE,))
    emulator.set_bitlocker(tenant, False)
    found = last_change(graph, False)
    assert found.change is None
    assert found.describe().startswith(
        "who changed it is unknown: grant the app the Graph permissions AuditLog.Read.All and Directory.Read.All (request-id "
    )


def test_other_policy_changes_are_paged_past_by_next_link(emulator: Emulator, tenant: Tenant, http: httpx.Client) -> None:
    graph, _ = graph_for(emulator, tenant, http, (WRITE_ROLE, AUDIT_ROLE))
    emulator.set_bitlocker(tenant, False, by="carol@contoso.com")
    now = datetime.now(UTC)
    for minute in range(PAGE + 5):  # newer changes of other fields of the policy
        other = policy_update(tenant.policy_object_id, None, None, now + timedelta(seconds=minute + 1), user=None, app=None)
        other["targetResources"][0]["modifiedProperties"] = [  # as the published event names a field of the policy
            {"displayName": "AllowUserConsentForRiskyApps", "oldValue": "[false]", "newValue": "[true]"},
            {"displayName": "Included Updated Properties", "oldValue": None, "newValue": '"AllowUserConsentForRiskyApps"'},
        ]
        tenant.audit.record(other, now)
    found = last_change(graph, False)
    assert found.change is not None
    assert found.change.by == "carol@contoso.com"
    assert len(audit_gets(emulator, tenant)) == 2  # the first page, then its @odata.nextLink


def test_a_change_older_than_the_retention_or_not_yet_shown_is_not_found(
    emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    graph, _ = graph_for(emulator, tenant, http, (WRITE_ROLE, AUDIT_ROLE))
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)
    tenant.audit.record(
        policy_update(tenant.policy_object_id, True, False, eight_days_ago, user={"userPrincipalName": "x"}, app=None),
        eight_days_ago,
    )
    assert last_change(graph, False).change is None  # Entra ID Free keeps 7 days
    tenant.audit.premium = True
    assert last_change(graph, False).change is not None  # P1/P2 keep 30
    tenant.audit.delay = timedelta(minutes=2)
    emulator.set_bitlocker(tenant, True, by="dave@contoso.com")
    found = last_change(graph, False).change
    assert found is not None
    assert found.by == "x"  # dave's event is minutes away yet
    tenant.audit.premium = False
    assert last_change(graph, False).describe() == (
        "the change to false is not in Entra's audit log (events take minutes; it keeps 7 days, 30 with P1/P2)"
    )


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"$filter": "activityDisplayName eq 'Update authorization policy'", "$orderby": "activityDateTime desc"}, 200),
        ({"$filter": "activityDateTime ge 2026-01-01T00:00:00Z and activityDisplayName eq 'x'"}, 200),
        ({"$filter": "category eq 'AuthorizationPolicy'"}, 400),  # not among the documented filters
        ({"$orderby": "category"}, 400),
        ({"$top": "0"}, 400),
    ],
)
def test_the_emulator_answers_the_documented_query_forms_and_refuses_others(
    emulator: Emulator, tenant: Tenant, http: httpx.Client, query: dict[str, str], status: int
) -> None:
    token = emulator.access_token(tenant, (AUDIT_ROLE,))
    answer = http.get(f"{emulator.url}{AUDIT_PATH}", params=query, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == status, answer.text
    if status == 400:
        assert answer.json()["error"]["code"] == "BadRequest"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("[false]", False), ('"true"', True), ("null", None), ("[1]", None), (None, None), ("x", None)],
)
def test_modified_property_values_in_every_encoding_seen(raw: str | None, value: bool | None) -> None:
    assert _value(raw) is value


@pytest.mark.parametrize(
    ("url", "followed"),
    [
        ("https://GRAPH.microsoft.com:443/v1.0/auditLogs/directoryAudits?$skiptoken=x", True),
        ("https://graph.microsoft.com.evil.example/v1.0/auditLogs/directoryAudits", False),
        ("https://evil.example/v1.0/auditLogs/directoryAudits", False),
        ("http://graph.microsoft.com/v1.0/auditLogs/directoryAudits", False),
        ("https://graph.microsoft.com:8443/v1.0/auditLogs/directoryAudits", False),
        ("https://graph.microsoft.com:x/v1.0", False),
    ],
)
def test_a_next_page_link_is_followed_only_on_graphs_own_origin(url: str, followed: bool) -> None:
    assert _same_origin(url, "https://graph.microsoft.com") is followed


def test_a_next_page_link_elsewhere_gets_no_request_and_no_token(emulator: Emulator, tenant: Tenant, http: httpx.Client) -> None:
    sent: list[str] = []
    graph = GraphClient(http, emulator.url, lambda: sent.append("token") or "t")  # type: ignore[func-returns-value]
    with pytest.raises(UnexpectedResponseError, match="next-page link leaves"):
        graph.get_json("https://evil.example/v1.0/auditLogs/directoryAudits", None, "AuditLog.Read.All")
    assert sent == []
